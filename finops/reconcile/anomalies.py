"""Week-over-week anomalies per team, with where to look, and budget status.

Two adjacent 7-day windows of UTC days are compared per team:

- trailing (the nightly run): ``current`` = the 7 days ending on ``as_of`` inclusive
  (default: yesterday UTC), ``prior`` = the 7 days before;
- calendar (reports): ``--week 2026-W44`` = that ISO week, Monday to Sunday, against the one before.

Per team and window: output tokens (reasoning included) from ``usage_daily`` and cost
*estimated* from usage (tokens × contracted price in force that day, the same SQL as
reconciliation). Billing is not used here: it lags a day or two and has no team.

``ratio`` = the larger of the cost ratio and the output-token ratio (current / prior; a
ratio whose prior is 0 is left out). A team is flagged

- ``up``   when ratio ≥ threshold and the current window is at or above the floor,
- ``new``  when it had no usage in the prior window and the current window is at or above the floor,
- ``drop`` when ratio ≤ 1 / threshold (both metrics fell that far, a vanished team has ratio 0)
  and the prior window was at or above the floor.

The threshold is ``[anomalies] ratio`` (2.0) or ``teams.<name>.anomaly_ratio``; the floor is
``min_output_tokens`` *or* ``min_cost_usd`` per window (below both, a team is too small to page).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import duckdb

from finops.config import Config
from finops.errors import ConfigError, ExitCode
from finops.money import CENT
from finops.money import fmt_money as _money
from finops.money import json_money as _m
from finops.reconcile.budgets import BudgetStatus, budget_status
from finops.reconcile.stored import ensure_reconciled
from finops.warehouse.sql import run_query, run_sql
from finops.windows import Window, days_label, month_window

TOP_SHARE = Decimal("0.8")  # contributors listed until they explain this share of the change
TOP_MAX = 5
SCHEMA_VERSION = 1


@dataclass
class Contributor:
    """One team · project · feature · model row of the change, before and after."""

    team: str
    project: str
    feature: str
    model: str
    prior_requests: int
    current_requests: int
    prior_output_tokens: int
    current_output_tokens: int
    prior_cost: Decimal
    current_cost: Decimal
    driver: str = ""  # volume | size | input | new | gone

    @property
    def delta_cost(self) -> Decimal:
        """Current − prior estimated cost."""
        return self.current_cost - self.prior_cost

    @property
    def delta_output_tokens(self) -> int:
        """Current − prior output tokens."""
        return self.current_output_tokens - self.prior_output_tokens



@dataclass
class Flag:
    """A flagged team: the two windows' numbers, the ratio, the threshold, where to look."""

    team: str
    kind: str  # "up" | "new" | "drop"
    ratio: Decimal | None
    threshold: Decimal
    current_cost: Decimal
    prior_cost: Decimal
    current_output_tokens: int
    prior_output_tokens: int
    contributors: list[Contributor]
    message: str  # one explainable sentence
    metric: str = "cost"  # which ratio decided: "cost" | "output_tokens" (None for new)
    driver: str = ""  # volume | size | input | new | gone, for the team as a whole


@dataclass
class TeamWeek:
    """A team's two windows, flagged or not (the full table)."""

    team: str
    prior_cost: Decimal
    current_cost: Decimal
    prior_output_tokens: int
    current_output_tokens: int
    prior_requests: int
    current_requests: int
    ratio: Decimal | None
    metric: str | None
    threshold: Decimal
    kind: str | None  # up | new | drop | None (not flagged)
    below_floor: bool
    unpriced_tokens: int = 0


@dataclass
class AnomalyReport:
    """What ``finops anomalies`` found for two windows, and the budgets as of the current window's end."""

    current: Window
    prior: Window
    flags: list[Flag]
    budgets: list[BudgetStatus]
    mode: str = "trailing"  # trailing | week
    label: str = ""
    teams: list[TeamWeek] = field(default_factory=list)
    currency: str = "USD"
    min_output_tokens: int = 0
    min_cost_usd: Decimal = Decimal(0)
    notes: list[str] = field(default_factory=list)
    fail_on_anomaly: bool = False  # exit 1 when flagged (``--fail-on-anomaly``)

    @property
    def exit_code(self) -> ExitCode:
        """1 when asked to fail on a flag and a team or a budget is flagged, else 0."""
        return ExitCode.GATE_FAILED if self.fail_on_anomaly and self.flagged else ExitCode.OK

    @property
    def budget_flags(self) -> list[BudgetStatus]:
        """Budgets that page: early burn or projected over budget."""
        return [b for b in self.budgets if b.flagged]

    @property
    def flagged(self) -> bool:
        """Anything to page about (``--fail-on-anomaly`` exits 1)."""
        return bool(self.flags or self.budget_flags)

    def as_dict(self) -> dict[str, Any]:
        """The plain data of ``finops anomalies --format json`` (README "Anomalies and budgets")."""
        return report_dict(self)

    def for_team(self, team: str) -> tuple[list[Flag], list[BudgetStatus]]:
        """The flags and budget status of one team."""
        return ([f for f in self.flags if f.team == team], [b for b in self.budgets if b.team == team])


# ----------------------------------------------------------------------------- windows

def trailing_windows(as_of: date) -> tuple[Window, Window]:
    """Current = the 7 days ending on ``as_of`` inclusive; prior = the 7 before."""
    end = as_of + timedelta(days=1)
    return Window(end - timedelta(days=7), end), Window(end - timedelta(days=14), end - timedelta(days=7))


def parse_week(week: str) -> date:
    """``YYYY-Www`` → the Monday of that ISO week; anything else is a usage error."""
    m = re.fullmatch(r"(\d{4})-W(\d{2})", week.strip())
    try:
        if not m:
            raise ValueError
        return date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)
    except ValueError:
        raise ConfigError(f"--week {week!r}: expected an ISO week YYYY-Www, e.g. 2026-W44") from None


def week_windows(week: str) -> tuple[Window, Window]:
    """The ISO week (Monday..Sunday) and the week before."""
    monday = parse_week(week)
    return (Window(monday, monday + timedelta(days=7)),
            Window(monday - timedelta(days=7), monday))


def last_complete_week(on_or_before: date) -> str:
    """The ISO week (``YYYY-Www``) of the last Sunday on or before ``on_or_before``."""
    sunday = on_or_before - timedelta(days=(on_or_before.isoweekday() % 7))
    y, w, _ = sunday.isocalendar()
    return f"{y}-W{w:02d}"


def windows_for(config: Config, *, as_of: date | None = None, week: str | None = None
                ) -> tuple[Window, Window, str]:
    """The (current, prior, mode) windows for the options given."""
    if as_of is not None and week is not None:
        raise ConfigError("--as-of and --week: give one or the other")
    if week is not None:
        cur, prior = week_windows(week)
        return cur, prior, "week"
    cur, prior = trailing_windows(as_of or config.run_date() - timedelta(days=1))
    return cur, prior, "trailing"


# ----------------------------------------------------------------------------- detection

def _ratio(current: Decimal, prior: Decimal) -> Decimal | None:
    if not prior:
        return None
    return (current / prior).quantize(CENT, rounding=ROUND_HALF_UP)


def _driver(prior_req: int, cur_req: int, prior_out: int, cur_out: int) -> str:
    """Volume (more requests) vs size (more output tokens per request).

    Output tokens = requests × tokens per request, so the change splits in logs:
    ln(out ratio) = ln(requests ratio) + ln(size ratio); the larger part names the driver.
    Neither moving by 10 % means the change is in input/cache tokens or in price.
    """
    if not prior_req and not prior_out:
        return "new"
    if not cur_req and not cur_out:
        return "gone"
    if not prior_req or not cur_req:
        return "volume"
    vol = math.log(cur_req / prior_req)
    if not prior_out or not cur_out:
        return "size" if abs(vol) < math.log(1.1) else "volume"
    size = math.log((cur_out / cur_req) / (prior_out / prior_req))
    if max(abs(vol), abs(size)) < math.log(1.1):
        return "input"
    return "volume" if abs(vol) >= abs(size) else "size"


DRIVER_WORDS = {
    "volume": "volume (more requests)", "size": "size (more output tokens per request)",
    "input": "input/cache tokens or price (requests and output size steady)",
    "new": "new usage", "gone": "usage stopped",
}


def _at_floor(tokens: int, cost: Decimal, config: Config) -> bool:
    a = config.anomalies
    return tokens >= a.min_output_tokens or cost >= a.min_cost_usd


def _span(w: Window) -> str:
    return days_label(w.window_start, w.window_end)


def _contributors(lines: list[Contributor], kind: str, metric: str) -> list[Contributor]:
    """The rows that explain most (80 %, at most 5 rows) of the team's change."""
    def delta(c: Contributor) -> Decimal:
        return c.delta_cost if metric == "cost" else Decimal(c.delta_output_tokens)

    sign = -1 if kind == "drop" else 1
    moving = sorted((c for c in lines if sign * delta(c) > 0),
                    key=lambda c: (-sign * delta(c), c.project, c.feature, c.model))
    total = sum((sign * delta(c) for c in moving), Decimal(0))
    out, acc = [], Decimal(0)
    for c in moving:
        if len(out) >= TOP_MAX or (out and acc >= total * TOP_SHARE):
            break
        out.append(c)
        acc += sign * delta(c)
    return out


def _message(config: Config, f: Flag, cur: Window, prior: Window) -> str:
    cc = config.currency
    head = {"up": "up", "new": "new spend", "drop": "dropped"}[f.kind]
    nums = (f"output tokens {f.prior_output_tokens:,} → {f.current_output_tokens:,}, "
            f"estimated cost {_money(f.prior_cost)} → {_money(f.current_cost)} {cc} "
            f"(prior {_span(prior)} vs current {_span(cur)}, UTC)")
    if f.kind == "new":
        a = config.anomalies
        rule = (f"no usage in the prior window; current window at or above the floor "
                f"({a.min_output_tokens:,} output tokens or {_money(a.min_cost_usd)} {cc})")
    elif f.kind == "up":
        metric = "cost" if f.metric == "cost" else "output tokens"
        rule = f"ratio {f.ratio} ({metric}) ≥ threshold {f.threshold}"
    else:
        inv = (1 / f.threshold).quantize(CENT, rounding=ROUND_HALF_UP)
        rule = f"ratio {f.ratio} ≤ 1/threshold {f.threshold} = {inv}"
        if not f.current_output_tokens and not f.current_cost:
            rule += "; no usage at all now: lost instrumentation?"
    where = ""
    if f.contributors:
        c = f.contributors[0]
        where = (f" Look at {c.feature} × {c.model} × {c.project}: output tokens "
                 f"{c.prior_output_tokens:,} → {c.current_output_tokens:,}, cost "
                 f"{_money(c.prior_cost)} → {_money(c.current_cost)}, "
                 f"{DRIVER_WORDS.get(c.driver, c.driver)}.")
    return f"{f.team} {head}: {nums}; {rule}; mostly {DRIVER_WORDS.get(f.driver, f.driver)}.{where}"


def find_flags(config: Config, rows: list[dict[str, Any]], cur: Window, prior: Window
               ) -> tuple[list[Flag], list[TeamWeek]]:
    """Flags and per-team numbers from ``sql/anomalies/week_lines`` rows (pure, no I/O)."""
    by_team: dict[str, list[Contributor]] = {}
    unpriced: dict[str, int] = {}
    for r in rows:
        c = Contributor(r["team"], r["project"], r["feature"], r["model"],
                        int(r["prior_requests"]), int(r["current_requests"]),
                        int(r["prior_output_tokens"]), int(r["current_output_tokens"]),
                        Decimal(r["prior_cost"]), Decimal(r["current_cost"]))
        c.driver = _driver(c.prior_requests, c.current_requests, c.prior_output_tokens,
                           c.current_output_tokens)
        by_team.setdefault(c.team, []).append(c)
        unpriced[c.team] = unpriced.get(c.team, 0) + int(r.get("current_unpriced_tokens") or 0)
    flags: list[Flag] = []
    weeks: list[TeamWeek] = []
    for team in sorted(by_team):
        lines = by_team[team]
        pc = sum((c.prior_cost for c in lines), Decimal(0))
        cc = sum((c.current_cost for c in lines), Decimal(0))
        pt = sum(c.prior_output_tokens for c in lines)
        ct = sum(c.current_output_tokens for c in lines)
        preq = sum(c.prior_requests for c in lines)
        creq = sum(c.current_requests for c in lines)
        t = config.teams.get(team)
        threshold = (t.anomaly_ratio if t and t.anomaly_ratio else None) or config.anomalies.ratio
        pairs = (("cost", _ratio(cc, pc)), ("output_tokens", _ratio(Decimal(ct), Decimal(pt))))
        ratios = {m: r for m, r in pairs if r is not None}
        metric = max(ratios, key=lambda m: ratios[m]) if ratios else None
        ratio = ratios[metric] if metric else None
        kind: str | None = None
        below = False
        if ratio is None and (ct or cc):
            below = not _at_floor(ct, cc, config)
            kind = None if below else "new"
        elif ratio is not None and ratio >= threshold:
            below = not _at_floor(ct, cc, config)
            kind = None if below else "up"
        elif ratio is not None and ratio <= 1 / threshold:
            below = not _at_floor(pt, pc, config)
            kind = None if below else "drop"
        weeks.append(TeamWeek(team, pc, cc, pt, ct, preq, creq, ratio, metric, threshold, kind, below,
                              unpriced.get(team, 0)))
        if kind is None:
            continue
        contrib_metric = metric or ("cost" if cc else "output_tokens")
        f = Flag(team, kind, ratio, threshold, cc, pc, ct, pt,
                 _contributors(lines, kind, contrib_metric), "", metric or "cost",
                 _driver(preq, creq, pt, ct))
        f.message = _message(config, f, cur, prior)
        flags.append(f)
    order = {"up": 0, "new": 1, "drop": 2}
    flags.sort(key=lambda f: (order[f.kind], -(f.current_cost - f.prior_cost).copy_abs(), f.team))
    return flags, weeks


def detect_on(con: duckdb.DuckDBPyConnection, config: Config, current: Window, prior: Window, *,
              mode: str = "trailing", budget_as_of: date | None = None,
              reconciled: bool = False, stored: tuple[date, date] | None = None) -> AnomalyReport:
    """Detect on an open warehouse.

    Budgets are as of ``budget_as_of`` (default: the current window's last day); their month
    is reconciled first (unless its stored results are current) unless ``reconciled``.
    ``stored`` (the first days of the months whose current stored results hold every loaded
    day of the two windows) reads the cost from those results instead of re-pricing the spans.
    """
    today = config.run_date()
    if stored is None:
        from finops.warehouse.prices import load_overrides, load_prices, refresh_prices  # polars: only here

        refresh_prices(con, load_prices(config.pricing_dir), load_overrides(config.overrides))
    budgets: list[BudgetStatus] = []
    b_as_of = budget_as_of or current.window_end - timedelta(days=1)
    if any(t.budget_usd for t in config.teams.values()):
        if not reconciled:
            ensure_reconciled(con, config, month_window(b_as_of.strftime("%Y-%m")), today)
        budgets = budget_status(con, config, b_as_of)
    params = {"window_start": prior.window_start, "window_end": current.window_end,
              "prior_start": prior.window_start, "prior_end": prior.window_end,
              "current_start": current.window_start, "current_end": current.window_end}
    if stored is None:
        run_sql(con, "reconcile/10_price_keys", params)
        run_sql(con, "reconcile/20_usage_lines", params)
        rows = run_query(con, "anomalies/week_lines", params)
    else:
        rows = run_query(con, "anomalies/week_lines_stored",
                         {**params, "month_start": stored[0], "previous_start": stored[1]})
    flags, weeks = find_flags(config, rows, current, prior)
    label = (f"{current.window_start.isocalendar()[0]}-W{current.window_start.isocalendar()[1]:02d}"
             if mode == "week" else f"7 days to {days_label(current.window_end - timedelta(days=1), current.window_end)}")
    rep = AnomalyReport(current, prior, flags, budgets, mode, label, weeks, config.currency,
                        config.anomalies.min_output_tokens, config.anomalies.min_cost_usd)
    if current.window_end > today:
        rep.notes.append(f"the current window runs past today ({today}): it is incomplete, "
                         "so drops are expected")
    unpriced = sum(w.unpriced_tokens for w in weeks)
    if unpriced:
        rep.notes.append(f"{unpriced:,} tokens in the current window are on unpriced models: "
                         "counted in output tokens, not in cost ('finops pricing check')")
    return rep


def for_month_report(con: duckdb.DuckDBPyConnection, config: Config, month: Window,
                     current_months: list[Window] | None = None) -> AnomalyReport | None:
    """Anomalies and budgets for a month's report, on its reconciled warehouse.

    As of the month's last day, or yesterday for the running month: budgets as of that day,
    anomalies for the last complete ISO week ending on or before it. None for a future month.
    ``current_months`` are the calendar months whose stored results the caller made current:
    when they hold every loaded day of the two weeks, the weeks' cost is read from them.
    """
    as_of = min(month.window_end, config.run_date()) - timedelta(days=1)
    if as_of < month.window_start:
        return None
    current, prior = week_windows(last_complete_week(as_of))
    stored = _stored_months(con, current_months or [], prior.window_start, current.window_end)
    return detect_on(con, config, current, prior, mode="week", budget_as_of=as_of, reconciled=True,
                     stored=stored)


def _stored_months(con: duckdb.DuckDBPyConnection, months: list[Window], start: date,
                   end: date) -> tuple[date, date] | None:
    """The first days of ``months`` (at most two calendar months), or None.

    None unless every month that [start, end) touches is one of them or had nothing loaded.
    """
    starts = [m.window_start for m in months if m == month_window(m.window_start.strftime("%Y-%m"))]
    if not starts or len(starts) != len(months) or len(starts) > 2:
        return None
    day = start.replace(day=1)
    while day < end:
        w = month_window(day.strftime("%Y-%m"))
        if w.window_start not in starts:
            row = con.execute("SELECT count(*) FROM load_windows WHERE window_start < ? AND window_end > ?",
                              [min(w.window_end, end), max(w.window_start, start)]).fetchone()
            if row and row[0]:
                return None
        day = w.window_end
    return starts[0], starts[-1]


# ----------------------------------------------------------------------------- plain data (JSON)

def _w(w: Window) -> dict[str, str]:
    return {"window_start": w.window_start.isoformat(), "window_end": w.window_end.isoformat()}


def contributor_dict(c: Contributor) -> dict[str, Any]:
    """A contributor row for JSON."""
    return {"project": c.project, "feature": c.feature, "model": c.model,
            "prior_requests": c.prior_requests, "current_requests": c.current_requests,
            "prior_output_tokens": c.prior_output_tokens, "current_output_tokens": c.current_output_tokens,
            "prior_cost": _m(c.prior_cost), "current_cost": _m(c.current_cost),
            "delta_cost": _m(c.delta_cost), "driver": c.driver}


def flag_dict(f: Flag) -> dict[str, Any]:
    """A flag for JSON."""
    return {"team": f.team, "kind": f.kind, "ratio": None if f.ratio is None else str(f.ratio),
            "metric": f.metric if f.kind != "new" else None, "threshold": str(f.threshold),
            "prior_cost": _m(f.prior_cost), "current_cost": _m(f.current_cost),
            "prior_output_tokens": f.prior_output_tokens, "current_output_tokens": f.current_output_tokens,
            "driver": f.driver, "message": f.message,
            "contributors": [contributor_dict(c) for c in f.contributors]}


def budget_dict(b: BudgetStatus) -> dict[str, Any]:
    """A budget status for JSON."""
    return {"team": b.team, "month": b.month.label(), "as_of": b.as_of.isoformat(),
            "budget": _m(b.budget), "spent": _m(b.spent), "billed": _m(b.billed),
            "estimated": _m(b.estimated), "pct_used": str(b.pct_used),
            "projected": _m(b.projected), "projected_pct": str(b.projected_pct),
            "days_elapsed": b.days_elapsed, "days_in_month": b.days_in_month,
            "thresholds_reached": [f"{t:g}" for t in b.thresholds_reached],
            "early": b.early, "over_projection": b.over_projection, "flagged": b.flagged,
            "settled_through": b.settled_through.isoformat() if b.settled_through else None,
            "provisional_from": b.provisional_from.isoformat() if b.provisional_from else None,
            "message": b.message}


def anomalies_dict(rep: AnomalyReport, team: str | None = None) -> dict[str, Any]:
    """The ``anomalies`` object of the JSON contract (``team``: only that team's flags)."""
    return {"mode": rep.mode, "label": rep.label, "current": _w(rep.current), "prior": _w(rep.prior),
            "cost_basis": "estimated from usage (tokens × contracted price in force)",
            "min_output_tokens": rep.min_output_tokens, "min_cost_usd": _m(rep.min_cost_usd),
            "flags": [flag_dict(f) for f in rep.flags if team is None or f.team == team],
            "notes": rep.notes}


def budgets_list(rep: AnomalyReport, team: str | None = None) -> list[dict[str, Any]]:
    """The ``budgets`` list of the JSON contract."""
    return [budget_dict(b) for b in rep.budgets if team is None or b.team == team]


def report_dict(rep: AnomalyReport) -> dict[str, Any]:
    """``finops anomalies --format json``."""
    return {"schema_version": SCHEMA_VERSION, "currency": rep.currency, "flagged": rep.flagged,
            "anomalies": anomalies_dict(rep), "budgets": budgets_list(rep)}
