"""Is a month complete enough to charge back? Every day loaded by every source, and settled.

A chargeback is money mailed to teams: it is built only from a month whose every day was
loaded by every configured source (``load_windows``), whose days are all older than
``[reconcile] provisional_days`` (settled: the providers no longer restate them), and whose
billing covers every day with span usage. Otherwise the missing parts are named.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import duckdb

from finops.config import Config
from finops.reconcile.run import provisional_from
from finops.warehouse.sql import run_query
from finops.windows import Window

__all__ = ["Completeness", "completeness", "day_ranges"]


def day_ranges(days: list[date]) -> str:
    """``2026-10-01..2026-10-30, 2026-10-31`` for sorted days (inclusive ranges)."""
    parts: list[str] = []
    start = prev = None
    for d in [*days, None]:
        if d is not None and prev is not None and d == prev + timedelta(days=1):
            prev = d
            continue
        if start is not None and prev is not None:
            parts.append(str(start) if start == prev else f"{start}..{prev}")
        start = prev = d
    return ", ".join(parts)


@dataclass
class Completeness:
    """What stands between a month and its chargeback."""

    window: Window
    unloaded: dict[str, list[date]] = field(default_factory=dict)  # source -> days never loaded
    billing_gaps: dict[str, list[date]] = field(default_factory=dict)  # provider -> days
    nothing_billed: bool = False
    settles_on: date | None = None  # not settled yet: the run date from which it is

    @property
    def missing(self) -> list[str]:
        """What is missing from the data (a data error: someone must pull)."""
        out = [f"{src} has not loaded {day_ranges(days)}" for src, days in sorted(self.unloaded.items())]
        out += [f"no {p} billing loaded for {day_ranges(days)}" for p, days in sorted(self.billing_gaps.items())]
        if self.nothing_billed and not self.unloaded:
            out.append("nothing billed")
        return out

    @property
    def ready(self) -> bool:
        """Every day loaded by every source, billed and settled."""
        return not self.missing and self.settles_on is None

    def reason(self) -> str:
        """One line: why the month's chargeback cannot go out, and what to do."""
        month = self.window.label()
        if self.missing:
            return (f"chargeback {month} not sent: {'; '.join(self.missing)}; "
                    f"run 'finops pull --month {month}' first")
        return (f"chargeback {month} not sent yet: its last days are provisional (younger than "
                f"provisional_days); it settles on {self.settles_on}")


def completeness(con: duckdb.DuckDBPyConnection, config: Config, window: Window, today: date,
                 billing_gaps: dict[str, list[date]], billed_total: object) -> Completeness:
    """Check ``window`` against the configured sources' loads, the run date and the bill."""
    sources = sorted([s.name for s in config.span_sources] + [b.name for b in config.billing_sources])
    unloaded: dict[str, list[date]] = {}
    if sources:
        for row in run_query(con, "warehouse/unloaded_days", {
                "window_start": window.window_start, "window_end": window.window_end, "sources": sources}):
            unloaded.setdefault(row["source"], []).append(row["day"])
    settled_before = provisional_from(config, today)
    settles_on = None
    if window.window_end > settled_before:
        settles_on = window.window_end + timedelta(days=config.provisional_days)
    return Completeness(window, unloaded, dict(billing_gaps), not billed_total, settles_on)
