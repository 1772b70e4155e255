"""The month's chargeback as plain data: what every output format renders.

Built from the reconciliation tables by the queries in ``sql/report``. Money stays
``Decimal``; rounding to cents happens here once for display (half away from zero, as the
providers round their invoices), except team chargeback, already in cents by largest remainder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import duckdb

from finops.billing.exclusions import report_notes as exclusion_notes
from finops.canonical import UNATTRIBUTED
from finops.money import cents, drift_pct, fmt_money
from finops.report.anchors import anchors
from finops.report.drift import PARTS, DriftPart, drift_parts, drift_sentence, named_share
from finops.report.keys import KeyLine, key_lines
from finops.report.trends import (
    CacheCheck,
    CacheReturn,
    MonthChange,
    UnitCosts,
    cache_checks,
    cache_returns,
    month_changes,
    total_change,
    unit_costs,
)
from finops.warehouse.sql import run_query
from finops.windows import Window

EXPLANATION_PARTS = PARTS


def account_rule_toml(provider: str, account: str, team: str = "<team>") -> str:
    """The ``finops.toml`` rule that charges ``account``'s spend with no spans to ``team``."""
    return f'[teams.{team}] accounts = [{{provider = "{provider}", account = "{account}"}}]'


_CLOUD_BASES = {
    "tag": "with no spans charged by the bill's tags ([teams.X] tags) to {teams}",
    "resource": "with no spans charged by the bill's resource ids ([teams.X] resources) to {teams}",
    "capacity": "of provisioned capacity split over {teams} by their token share of the model "
                "it serves that day",
    "capacity_day": "of provisioned capacity split over {teams} by their share of the day's tokens "
                    "(the bill names no model it serves, or no span used that model that day)",
}


def cloud_notes(rows: list[dict[str, Any]], currency: str) -> list[str]:
    """One note per provider · basis of money split by what a FOCUS bill says of its charges."""
    out = []
    for r in rows:
        n = int(r["teams"])
        teams = f"{n} team{'s' if n != 1 else ''}"
        out.append(f"{r['provider']}: {fmt_money(r['billed'])} {currency} "
                   + _CLOUD_BASES[r["basis"]].format(teams=teams))
    return out


@dataclass
class Line:
    """One row of a breakdown (a provider, a team, a project...)."""

    name: str
    billed: Decimal
    estimated: Decimal
    tokens: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def drift_pct(self) -> Decimal | None:
        """Drift of this line's estimate against its billed amount."""
        return drift_pct(self.estimated, self.billed)


@dataclass
class TeamSection:
    """Everything the team's chargeback page shows."""

    team: str
    billed: Decimal
    estimated: Decimal
    by_provider: list[Line]
    by_project: list[Line]
    by_feature: list[Line]
    by_model: list[Line]
    daily: list[tuple[date, Decimal, Decimal]]  # day, billed, estimated
    unpriced_tokens: int = 0  # span tokens with no price: left out of ``estimated``
    anchor: str = ""  # stable page anchor (finops.report.anchors): #team-<anchor>
    change: MonthChange | None = None  # against the month before (None: no month before loaded)
    unit_costs: UnitCosts | None = None
    cache: CacheReturn | None = None

    @property
    def drift_pct(self) -> Decimal | None:
        """Drift of the team's estimate against its allocated billed money."""
        return drift_pct(self.estimated, self.billed)


@dataclass
class Report:
    """The month's reconciliation and chargeback."""

    window: Window
    currency: str
    generated_at: datetime
    max_drift_pct: Decimal
    providers: list[Line]
    teams: list[TeamSection]
    explanation: dict[str, Decimal]
    coverage: dict[str, Decimal]
    unpriced: list[dict[str, Any]]
    other_line_items: list[dict[str, Any]]
    billing_gaps: dict[str, list[date]]
    provisional_days: list[date]
    daily: list[tuple[date, Decimal, Decimal]]
    restatements: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Where 'unattributed' came from (reason · provider · account · model, sql/report/unattributed_sources).
    unattributed_sources: list[dict[str, Any]] = field(default_factory=list)
    # Billed accounts no span names, matched with the spans that carry no account.
    pooled_accounts: list[dict[str, Any]] = field(default_factory=list)
    credits: list[dict[str, Any]] = field(default_factory=list)
    # E − B in named parts, biggest first (finops.report.drift).
    drift_parts: list[DriftPart] = field(default_factory=list)
    # finops.reconcile.anomalies.AnomalyReport: week-over-week flags and budget status as of the month's
    # end (or yesterday for the running month); None for a month still in the future.
    anomalies: Any = None
    # Spend per API key and workspace, billed (finops.report.keys, sql/report/key_spend.sql).
    api_keys: list[KeyLine] = field(default_factory=list)
    # The month before (None: not a calendar month, or nothing loaded for it) and, while this month
    # is still open, its last day counted (yesterday); month over month compares up to that day.
    previous: Window | None = None
    through: date | None = None
    change: MonthChange | None = None  # the organisation's: the sum of every team's
    teams_gone: list[tuple[str, Decimal]] = field(default_factory=list)  # charged last month, not this
    unit_costs: UnitCosts | None = None  # the organisation's
    cache: CacheReturn | None = None  # the organisation's
    cache_check: list[CacheCheck] = field(default_factory=list)
    # How the results were got (finops.reconcile.stored.Outcome.message): reconciled, and why, or stored.
    results_note: str = ""

    @property
    def billed_total(self) -> Decimal:
        """Σ over providers of each provider's billed total rounded to the cent."""
        return sum((p.billed for p in self.providers), Decimal("0.00"))

    @property
    def estimated_total(self) -> Decimal:
        """Σ of the span estimates, to the cent."""
        return cents(sum((p.estimated for p in self.providers), Decimal(0)))

    @property
    def drift_pct(self) -> Decimal | None:
        """Org drift: (E − B) / B in percent."""
        return drift_pct(self.estimated_total, self.billed_total)

    @property
    def unattributed(self) -> Decimal:
        """The 'unattributed' chargeback, in cents.

        Billed money no span and no account rule placed, plus money split onto spans without
        team.id (see :attr:`unattributed_parts`).
        """
        return sum((t.billed for t in self.teams if t.team == UNATTRIBUTED), Decimal("0.00"))

    @property
    def unattributed_parts(self) -> dict[str, Decimal]:
        """:attr:`unattributed` by reason, in cents, adding up to it exactly.

        ``no_spans`` (billed with no spans and no rule: the coverage section's 'unattributed')
        and ``credit`` are their exact sums rounded; ``no_team`` (spans without team.id) is the
        rest, so it also holds the chargeback's rounding (under a cent per provider).
        """
        parts = {"no_spans": Decimal(0), "credit": Decimal(0)}
        for r in self.unattributed_sources:
            if r["reason"] in parts:
                parts[r["reason"]] += r["amount"]
        out = {k: cents(v) for k, v in parts.items()}
        return {"no_spans": out["no_spans"], "no_team": self.unattributed - out["no_spans"] - out["credit"],
                "credit": out["credit"]}

    @property
    def drift_summary(self) -> str:
        """The drift and its biggest named parts in one sentence."""
        return drift_sentence(self.drift_pct, self.drift_parts)

    @property
    def named_pct(self) -> Decimal | None:
        """Percent of |E − B| in named parts (every part but 'unexplained')."""
        return named_share(sum((p.estimated for p in self.providers), Decimal(0)),
                           sum((p.billed for p in self.providers), Decimal(0)), self.explanation)

    @property
    def gate_passed(self) -> bool:
        """True when billing is complete and |drift| ≤ the threshold."""
        d = self.drift_pct
        return not self.billing_gaps and d is not None and abs(d) <= self.max_drift_pct

    def team(self, name: str) -> TeamSection | None:
        """The section of team ``name``, if it has any spend."""
        return next((t for t in self.teams if t.team == name), None)

    @property
    def is_open(self) -> bool:
        """The month is still running (its last day is not over yet)."""
        return self.through is not None


def previous_month(window: Window) -> Window | None:
    """The calendar month before ``window`` (None when ``window`` is not a calendar month)."""
    if window.label() == str(window):
        return None
    start = (window.window_start - timedelta(days=1)).replace(day=1)
    return Window(start, window.window_start)


def sampling_notes(rows: list[dict[str, Any]]) -> list[str]:
    """The month's sampling, per usage source: weighted estimates, or sampling not seen."""
    out = []
    for r in rows:
        kind, _, text = r["sampling"].partition(": ")
        if kind == "weighted":
            out.append(f"{r['source']}: spans weighted for sampling ({text}): requests and tokens "
                       "are estimates of the unsampled totals")
        else:
            out.append(f"{r['source']}: sampling not seen, spans counted once "
                       f"({r['windows']} loaded window(s)): {text}")
    return out


def _unattributed(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**r, "rule": account_rule_toml(r["provider"], r["account"]) if r["reason"] == "no_spans" else None}
            for r in rows]


def _gaps(rows: list[dict[str, Any]]) -> dict[str, list[date]]:
    gaps: dict[str, list[date]] = {}
    for r in rows:
        gaps.setdefault(r["provider"], []).append(r["day"])
    return gaps


def build_report(con: duckdb.DuckDBPyConnection, window: Window, *, currency: str,
                 max_drift_pct: float, generated_at: datetime, previous: Window | None = None,
                 today: date | None = None, summary: bool = False, team_totals: bool = False) -> Report:
    """Read the month's reconciliation tables into a :class:`Report`.

    ``summary`` reads only what the gate uses (providers, the drift and its parts, billing gaps,
    provisional days): no team sections, so it costs the same at 20 teams and at 2,000. With
    ``team_totals`` it also reads each team's totals (billed, estimated, per provider) and the
    unattributed money's sources, without the teams' breakdowns, daily series and trends.

    ``previous`` is the month before, reconciled on ``con`` (None: no month over month).
    ``today`` (the run date) tells whether the month is still open: then month over month
    compares with the month before up to the same day of the month.
    """
    through = None
    if today is not None and today < window.window_end:
        through = max(window.window_start, today - timedelta(days=1))
    prev_cut = None
    if previous is not None:
        prev_cut = previous.window_end if through is None else min(
            previous.window_end, previous.window_start + timedelta(days=through.day))
    params = {"window_start": window.window_start, "window_end": window.window_end,
              "current_cut": window.window_end,
              "previous_start": previous.window_start if previous else window.window_start,
              "previous_end": previous.window_end if previous else window.window_start,
              "previous_cut": prev_cut or window.window_start}

    def q(name: str) -> list[dict[str, Any]]:
        return run_query(con, f"report/{name}", params)

    providers, explanation = [], dict.fromkeys(EXPLANATION_PARTS, Decimal(0))
    exact_billed = Decimal(0)
    for r in q("providers"):
        exact_billed += r["billed"]
        providers.append(Line(r["provider"], cents(r["billed"]), r["estimated"],
                              extra={k: r[k] for k in EXPLANATION_PARTS}))
        for k in EXPLANATION_PARTS:
            explanation[k] += r[k]

    if summary:
        totals = [TeamSection(team=r["team"], billed=r["billed"], estimated=r["estimated"],
                              by_provider=[Line(p["provider"], p["billed"], p["estimated"]) for p in r["by_provider"]],
                              by_project=[], by_feature=[], by_model=[], daily=[],
                              unpriced_tokens=int(r["unpriced_tokens"])) for r in q("teams")] if team_totals else []
        names = anchors(t.team for t in totals)
        for t in totals:
            t.anchor = names[t.team]
        return Report(
            window=window, currency=currency, generated_at=generated_at,
            max_drift_pct=Decimal(str(max_drift_pct)), providers=providers, teams=totals,
            explanation=explanation, coverage={}, unpriced=[], other_line_items=[], daily=[],
            unattributed_sources=_unattributed(q("unattributed_sources")) if team_totals else [],
            billing_gaps=_gaps(q("billing_gaps")),
            provisional_days=[r["day"] for r in q("provisional_days")],
            drift_parts=drift_parts(explanation, q("drift_sources"), q("request_coverage"), exact_billed),
            previous=None, through=through)

    breakdown: dict[tuple[str, str], list[Line]] = {}
    for r in q("team_breakdown"):
        breakdown.setdefault((r["team"], r["dimension"]), []).append(
            Line(r["value"], r["billed"], r["estimated"], r["tokens"]))
    team_daily: dict[str, list[tuple[date, Decimal, Decimal]]] = {}
    org_daily: dict[date, list[Decimal]] = {}
    for r in q("daily"):
        team_daily.setdefault(r["team"], []).append((r["day"], r["billed"], r["estimated"]))
        acc = org_daily.setdefault(r["day"], [Decimal(0), Decimal(0)])
        acc[0] += r["billed"]
        acc[1] += r["estimated"]

    teams = []
    for r in q("teams"):
        name = r["team"]
        teams.append(TeamSection(
            team=name, billed=r["billed"], estimated=r["estimated"],
            by_provider=[Line(p["provider"], p["billed"], p["estimated"]) for p in r["by_provider"]],
            by_project=breakdown.get((name, "project"), []),
            by_feature=breakdown.get((name, "feature"), []),
            by_model=breakdown.get((name, "model"), []),
            daily=team_daily.get(name, []),
            unpriced_tokens=int(r["unpriced_tokens"]),
        ))

    gaps = _gaps(q("billing_gaps"))

    names = anchors(t.team for t in teams)
    costs, org_costs = unit_costs(q("unit_costs"), window.window_start, window.window_end,
                                  has_previous=previous is not None)
    caches, org_cache, provider_cache = cache_returns(q("cache_return"))
    for t in teams:
        t.anchor = names[t.team]
        t.unit_costs = costs.get(t.team)
        t.cache = caches.get(t.team)
    change, gone = None, []
    if previous is not None:
        changes = month_changes(q("month_items"), {t.team: t.billed for t in teams}, q("month_teams"),
                                open_month=through is not None)
        for t in teams:
            t.change = changes.get(t.team)
        change = total_change(list(changes.values()), open_month=through is not None)
        now = {t.team for t in teams}
        gone = sorted(((k, c.previous) for k, c in changes.items() if k not in now and c.previous),
                      key=lambda kv: (-kv[1], kv[0]))

    return Report(
        window=window, currency=currency, generated_at=generated_at,
        max_drift_pct=Decimal(str(max_drift_pct)),
        providers=providers, teams=teams, explanation=explanation,
        coverage={r["basis"]: r["billed"] for r in q("coverage")},
        unpriced=q("unpriced"), other_line_items=q("other_line_items"),
        billing_gaps=gaps, provisional_days=[r["day"] for r in q("provisional_days")],
        daily=[(d, v[0], v[1]) for d, v in sorted(org_daily.items())],
        restatements=q("restatements"),
        notes=exclusion_notes(q("excluded")) + cloud_notes(q("cloud_allocation"), currency)
        + sampling_notes(q("sampling")),
        unattributed_sources=_unattributed(q("unattributed_sources")),
        pooled_accounts=q("pooled_accounts"),
        credits=q("credits"),
        drift_parts=drift_parts(explanation, q("drift_sources"), q("request_coverage"), exact_billed),
        api_keys=key_lines(q("key_spend")),
        previous=previous, through=through, change=change, teams_gone=gone, unit_costs=org_costs,
        cache=org_cache, cache_check=cache_checks(q("cache_spans"), q("cache_bill"), provider_cache),
    )
