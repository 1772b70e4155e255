"""Half-open UTC day windows ``[window_start, window_end)`` and month parsing."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from finops.errors import ConfigError


@dataclass(frozen=True)
class Window:
    """A half-open window of UTC days."""

    window_start: date
    window_end: date

    def __post_init__(self) -> None:
        if self.window_end <= self.window_start:
            raise ConfigError(f"window {self.window_start}..{self.window_end} is empty")

    def __str__(self) -> str:
        return f"{self.window_start}..{self.window_end}"

    @property
    def days(self) -> list[date]:
        """Every day in the window."""
        n = (self.window_end - self.window_start).days
        return [self.window_start + timedelta(days=i) for i in range(n)]

    def label(self) -> str:
        """``2026-10`` for a calendar month, else ``start..end``."""
        if self.window_start.day == 1 and self.window_end == next_month(self.window_start):
            return self.window_start.strftime("%Y-%m")
        return str(self)


def next_month(d: date) -> date:
    """The first day of the month after ``d``."""
    return date(d.year + (d.month == 12), d.month % 12 + 1, 1)


def month_window(month: str) -> Window:
    """``YYYY-MM`` → the month's window; anything else is a usage error."""
    m = re.fullmatch(r"(\d{4})-(\d{2})", month.strip())
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise ConfigError(f"--month {month!r}: expected YYYY-MM, e.g. 2026-10")
    start = date(int(m.group(1)), int(m.group(2)), 1)
    return Window(start, next_month(start))


def parse_day(value: str, what: str) -> date:
    """``YYYY-MM-DD`` → date, naming the option on error."""
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"{what} {value!r}: expected a date YYYY-MM-DD") from None


def utc_today() -> date:
    """Today's date in UTC."""
    return datetime.now(UTC).date()


def days_label(start: date, end_exclusive: date) -> str:
    """The days of ``[start, end_exclusive)`` as a reader says them.

    ``1–31 October 2026``; ``28 September – 4 October 2026``; ``29 December 2026 – 4 January 2027``;
    ``5 October 2026`` for one day.
    """
    last = end_exclusive - timedelta(days=1)
    if last <= start:
        return f"{start.day} {start:%B %Y}"
    if (start.year, start.month) == (last.year, last.month):
        return f"{start.day}–{last.day} {start:%B %Y}"
    if start.year == last.year:
        return f"{start.day} {start:%B} – {last.day} {last:%B %Y}"
    return f"{start.day} {start:%B %Y} – {last.day} {last:%B %Y}"
