"""A flag or a gate failure as one short message: a title, a few numbers, the "where to look" line.

An :class:`Event` is plain text (no markup): each format (``formats.py``) escapes it for its
service. ``data`` is the machine-readable object a generic webhook receives: the same object as
the JSON contract (``flags[]``, ``budgets[]``, ``finops gate --format json``), money as
decimal strings.

Ledger topics (what "already posted" means): ``anomaly:<kind>`` for a team and day (quiet for
7 days, as the emails), ``budget`` for a team and day (likewise), ``gate:<status>`` for a month.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from finops.money import cents, fmt_money
from finops.reconcile.anomalies import DRIVER_WORDS, Flag, budget_dict, flag_dict
from finops.reconcile.budgets import BudgetStatus
from finops.report.model import Report, TeamSection
from finops.windows import Window

__all__ = ["Event", "anomaly_event", "budget_event", "gate_event"]

# What each part of the drift explanation points at (README "How the numbers are made").
DRIFT_HINTS = {
    "coverage": "fewer (or more) spans than the requests billed: sampling or services without instrumentation",
    "volume": "span tokens differ from billed tokens: token attributes mapped wrong, or (without billed request "
              "counts) missing or sampled spans",
    "premium": "surcharges the bill names above the table rate: long context, region, priority, 1-hour cache writes",
    "non_token": "charges that are not tokens (web search, code execution): no span estimates them",
    "credit": "credits and refunds lower the bill",
    "rate": "billed price differs from the price table: a stale price file, a discount or cache/batch rates "
            "('finops pricing show')",
    "unpriced": "models with no price ('finops pricing check')",
    "unmatched": "billed cells with no spans, or spans with no bill (account rules under [teams.<name>] accounts)",
    "unexplained": "billed token counts unknown for some lines",
}


@dataclass(frozen=True)
class Event:
    """One message: what happened (``title``), its numbers (``facts``), where to look, how to see more."""

    event: str  # anomaly | budget | gate
    topic: str  # ledger topic: anomaly:up | budget | gate:fail ...
    period: str  # the day (YYYY-MM-DD) of a flag, the month (YYYY-MM) of a gate
    team: str  # "*" for the organisation (gate)
    title: str
    facts: tuple[tuple[str, str], ...]  # (label, value), plain text
    where: str  # the "where to look" line, plain text
    footer: str  # the command that shows more
    currency: str = "USD"
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        """Stable across re-runs: the same flag is the same id (a receiver may deduplicate on it)."""
        return f"{self.topic}:{self.period}:{self.team}"

    def label(self) -> str:
        """Short words for output lines: ``anomaly up search 2026-10-21``."""
        what = self.topic.replace(":", " ")
        return f"{what} {self.period}" if self.team == "*" else f"{what} {self.team} {self.period}"

    def text(self) -> str:
        """The message as plain text (title, facts, where to look)."""
        lines = [self.title] + [f"{k}: {v}" for k, v in self.facts] + [f"Where to look: {self.where}"]
        return "\n".join(lines)


def _span(w: Window) -> str:
    return f"{w.window_start}..{w.window_end - timedelta(days=1)}"


def _tokens(a: int, b: int) -> str:
    return f"{a:,} → {b:,}"


def anomaly_event(f: Flag, *, as_of: date, prior: Window, current: Window, currency: str = "USD") -> Event:
    """A team's week-over-week flag; ``prior`` and ``current`` are the windows compared."""
    head = {"up": "up", "new": "new spend", "drop": "dropped"}[f.kind]
    ratio = "" if f.ratio is None else f" ×{f.ratio}"
    title = f"LLM spend {head}: {f.team}{ratio} (7 days to {as_of})"
    if f.kind == "new":
        rule = "no usage in the prior window; current window at or above the floor"
    elif f.kind == "up":
        rule = f"{f.ratio} ({'cost' if f.metric == 'cost' else 'output tokens'}) ≥ threshold {f.threshold}"
    else:
        rule = f"{f.ratio} ≤ 1/threshold {f.threshold}"
    facts = (
        ("Estimated cost", f"{fmt_money(f.prior_cost)} → {fmt_money(f.current_cost)} {currency}"),
        ("Output tokens", _tokens(f.prior_output_tokens, f.current_output_tokens)),
        ("Ratio", rule),
        ("Windows (UTC)", f"{_span(prior)} → {_span(current)}"),
        ("Mostly", DRIVER_WORDS.get(f.driver, f.driver)),
    )
    if f.contributors:
        c = f.contributors[0]
        where = (f"{c.project} · {c.feature} · {c.model}: output tokens "
                 f"{_tokens(c.prior_output_tokens, c.current_output_tokens)}, cost {fmt_money(c.prior_cost)} → "
                 f"{fmt_money(c.current_cost)} {currency}, {DRIVER_WORDS.get(c.driver, c.driver)}")
    else:
        where = f"no single project · feature · model moved; see finops anomalies --as-of {as_of}"
    return Event("anomaly", f"anomaly:{f.kind}", as_of.isoformat(), f.team, title, facts, where,
                 f"finops anomalies --as-of {as_of} lists every contributor", currency,
                 {"anomaly": flag_dict(f)})


def budget_event(b: BudgetStatus, section: TeamSection | None = None) -> Event:
    """A team's flagged budget (early burn or projected over budget).

    ``section`` is the team's part of the month's report: where to look names its largest
    project, feature and model by billed (allocated) money so far.
    """
    title = (f"LLM budget: {b.team} at {b.pct_used} % of {fmt_money(b.budget)} {b.currency}, "
             f"projected {b.projected_pct} % ({b.as_of})")
    why = []
    if b.early:
        why.append(f"{b.early_pct:g} % reached on or before mid-month")
    if b.over_projection:
        why.append("projected over budget")
    month = b.month.label()
    facts = (
        ("Spent", f"{fmt_money(b.spent)} of {fmt_money(b.budget)} {b.currency} ({b.pct_used} %), "
                  f"{b.month.window_start}..{b.as_of}, day {b.days_elapsed} of {b.days_in_month}"),
        ("Projected month end", f"{fmt_money(b.projected)} {b.currency} ({b.projected_pct} %) "
                                f"= spent × {b.days_in_month} / {b.days_elapsed}"),
        ("Flagged", "; ".join(why)),
        ("Spend is", b.basis),
    )
    where = f"finops report --month {month} --team {b.team}: the team's spend by project, feature and model"
    tops = [(what, max(lines, key=lambda x: (x.billed, x.name))) for what, lines in (
        ("project", section.by_project), ("feature", section.by_feature), ("model", section.by_model))
        if lines] if section is not None else []
    if tops:
        where = ("largest billed this month: " + ", ".join(f"{what} {x.name} {fmt_money(x.billed)}" for what, x in tops)
                 + f" {b.currency}; " + where)
    return Event("budget", "budget", b.as_of.isoformat(), b.team, title, facts, where,
                 f"finops anomalies --as-of {b.as_of} shows every budget", b.currency, {"budget": budget_dict(b)})


def gate_event(rep: Report, *, status: str, max_drift_pct: Decimal, providers: list[dict[str, Any]],
               billing_missing: dict[str, list[date]], data: dict[str, Any]) -> Event:
    """A failed gate (``status`` ``fail`` or ``billing_missing``); ``data`` is ``finops gate --format json``."""
    month = rep.window.label()
    drift = "n/a" if rep.drift_pct is None else f"{rep.drift_pct:+.2f} %"
    word = "BILLING MISSING" if status == "billing_missing" else "FAIL"
    title = f"finops gate {month}: {word}, drift {drift} (threshold ±{max_drift_pct} %)"
    cc = rep.currency
    facts: list[tuple[str, str]] = [
        ("Billed / estimated", f"{fmt_money(rep.billed_total)} / {fmt_money(rep.estimated_total)} {cc}")]
    over = [p for p in providers if not p["passed"]]
    if over:
        facts.append((f"Providers over ±{max_drift_pct} %", ", ".join(
            f"{p['provider']} {'n/a' if p['drift_pct'] is None else format(p['drift_pct'], '+.2f') + ' %'}"
            for p in over)))
    if billing_missing:
        facts.append(("Billing missing (fail closed)", "; ".join(
            f"{p}: {', '.join(d.isoformat() for d in days)}" if p != "*" else f"nothing billed for {month}"
            for p, days in billing_missing.items())))
    parts = sorted(((k, cents(v)) for k, v in rep.explanation.items() if cents(v)), key=lambda kv: (-abs(kv[1]), kv[0]))
    if parts:
        facts.append(("Drift parts (E − B)", ", ".join(f"{k} {fmt_money(v)}" for k, v in parts) + f" {cc}"))
        facts.append(("Drift explained", rep.drift_summary))
    if rep.provisional_days:
        facts.append(("Provisional days", f"{len(rep.provisional_days)} (may still be restated)"))
    if billing_missing:
        where = f"load the missing billing (finops pull --month {month}), then run the gate again"
    elif parts:
        part, amount = parts[0]
        where = (f"the largest part of the drift is {part} ({fmt_money(amount)} of "
                 f"{fmt_money(rep.estimated_total - rep.billed_total)} {cc}): {DRIFT_HINTS.get(part, part)}")
    else:
        where = f"nothing was billed or estimated for {month}: check that every source loaded (finops pull)"
    return Event("gate", f"gate:{status}", month, "*", title, tuple(facts), where,
                 f"finops report --month {month} explains the drift", cc, {"gate": data})
