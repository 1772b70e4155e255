"""Per-team monthly budgets: spend to date, thresholds reached, early burn, run-rate projection.

Spend to date of a team in the month of ``as_of`` (days 1..as_of, UTC) is

    spent = billed (allocated invoice money) on settled days
          + estimated (span tokens × contracted price) on provisional days,

billed rounded to the cent as the chargeback is (per provider, by largest remainder), so on a
settled month a team's spend equals its chargeback to the cent,

settled and provisional as in reconciliation (``[reconcile] provisional_days``). A settled day
whose billing was never loaded for a provider also counts at the estimate (and is named), so
missing billing never reads as zero spend. The month-end
projection is the month-to-date run rate carried to the end of the month:

    projected = spent × days_in_month / days_elapsed        (days_elapsed = as_of.day)

A budget is *flagged* when spend reaches ``early_pct`` (70 %) on or before mid-month
(``2 × as_of.day ≤ days_in_month``: day 15 of a 30- or 31-day month, day 14 of February) or
when the projection passes 100 %. Thresholds reached (50/70/90/100 % by default) are reported.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

import duckdb

from finops.config import BudgetSettings, Config
from finops.money import fmt_money as _m
from finops.warehouse.sql import run_query
from finops.windows import Window, days_label, next_month

CENT = Decimal("0.01")
TENTH = Decimal("0.1")


def days_in_month(d: date) -> int:
    """28..31."""
    return calendar.monthrange(d.year, d.month)[1]


def project_month_end(spent: Decimal, as_of: date) -> Decimal:
    """Month-to-date run rate carried to month end: ``spent × days_in_month / as_of.day``."""
    return spent * days_in_month(as_of) / as_of.day


def before_mid_month(as_of: date) -> bool:
    """True on or before the middle day: ``2 × day ≤ days in month``."""
    return 2 * as_of.day <= days_in_month(as_of)


def _pct(part: Decimal, whole: Decimal) -> Decimal:
    return (part / whole * 100).quantize(TENTH, rounding=ROUND_HALF_UP)


@dataclass
class BudgetStatus:
    """One team's budget for the month of ``as_of``, with how the numbers were made."""

    team: str
    month: Window
    as_of: date
    budget: Decimal
    billed: Decimal  # allocated invoice money, settled days, in cents (largest remainder)
    estimated: Decimal  # span estimate, provisional days
    days_elapsed: int
    days_in_month: int
    thresholds_reached: list[Decimal]
    early: bool  # early_pct reached on or before mid-month
    early_pct: Decimal
    currency: str = "USD"
    settled_through: date | None = None
    provisional_from: date | None = None
    unbilled_days: int = 0  # settled days with no billing loaded: estimated instead
    message: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def spent(self) -> Decimal:
        """Billed on settled days plus the estimate on provisional days."""
        return self.billed + self.estimated

    @property
    def pct_used(self) -> Decimal:
        """Spent as a percent of the budget, one decimal."""
        return _pct(self.spent, self.budget)

    @property
    def projected(self) -> Decimal:
        """Month-end projection: spent × days_in_month / days_elapsed."""
        return project_month_end(self.spent, self.as_of)

    @property
    def projected_pct(self) -> Decimal:
        """Projection as a percent of the budget, one decimal."""
        return _pct(self.projected, self.budget)

    @property
    def over_projection(self) -> bool:
        """The run-rate projection passes 100 % of the budget."""
        return self.projected > self.budget

    @property
    def flagged(self) -> bool:
        """Early burn (70 % before mid-month) or projected over budget."""
        return self.early or self.over_projection

    @property
    def basis(self) -> str:
        """Which money the spend is made of, in words."""
        parts = []
        if self.settled_through:
            parts.append(f"billed (allocated) money through {self.settled_through}")
        if self.provisional_from:
            parts.append(f"estimate from spans for {days_label(self.provisional_from, self.as_of + timedelta(days=1))} "
                         "(provisional)")
        if self.unbilled_days:
            parts.append(f"estimate from spans for {self.unbilled_days} settled day(s) "
                         "with no billing loaded")
        return "; ".join(parts) or "no spend recorded"


def evaluate(team: str, budget: Decimal, billed: Decimal, estimated: Decimal, as_of: date,
             settings: BudgetSettings, *, currency: str = "USD", settled_through: date | None = None,
             provisional_from: date | None = None, unbilled_days: int = 0) -> BudgetStatus:
    """Thresholds, early-burn rule and projection for one team (pure: checked by hand in tests)."""
    start = as_of.replace(day=1)
    spent = billed + estimated
    pct = _pct(spent, budget)
    reached = [t for t in settings.thresholds if pct >= t]
    early = before_mid_month(as_of) and pct >= settings.early_pct
    s = BudgetStatus(team, Window(start, next_month(start)), as_of, budget, billed, estimated,
                     as_of.day, days_in_month(as_of), reached, early, settings.early_pct, currency,
                     settled_through, provisional_from, unbilled_days)
    spent_days = days_label(start, as_of + timedelta(days=1))
    msg = (f"{team}: {_m(spent)} of {_m(budget)} {currency} ({s.pct_used} %) spent {spent_days} "
           f"(day {s.days_elapsed} of {s.days_in_month}); projected month end {_m(s.projected)} "
           f"({s.projected_pct} %) = spent × {s.days_in_month} / {s.days_elapsed}.")
    if reached:
        msg += f" Reached {', '.join(f'{t:g} %' for t in reached)}."
    if early:
        msg += f" {settings.early_pct:g} % reached on or before mid-month."
    if s.over_projection:
        msg += " Projected over budget."
    s.message = msg + f" Spend is {s.basis}."
    return s


def budget_status(con: duckdb.DuckDBPyConnection, config: Config, as_of: date) -> list[BudgetStatus]:
    """Budget status of every team with ``budget_usd``, for the month of ``as_of``.

    Reads ``recon_alloc``: the caller reconciles that month first.
    """
    budgeted = {n: t for n, t in config.teams.items() if t.budget_usd}
    if not budgeted:
        return []
    start = as_of.replace(day=1)
    rows = {r["team"]: r for r in run_query(con, "anomalies/budget_spend",
                                            {"month_start": start, "spend_end": as_of + timedelta(days=1)})}
    out = []
    for name in sorted(budgeted):
        r = rows.get(name, {})
        out.append(evaluate(name, Decimal(str(budgeted[name].budget_usd)),
                            Decimal(r.get("billed") or 0), Decimal(r.get("estimated") or 0),
                            as_of, config.budgets, currency=config.currency,
                            settled_through=r.get("settled_through"),
                            provisional_from=r.get("provisional_from"),
                            unbilled_days=int(r.get("unbilled_days") or 0)))
    return out
