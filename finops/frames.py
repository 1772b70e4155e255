"""The contracts where sources meet the library: what a pull returns, and how it reports progress.

Both sides import this module and nothing of each other: span sources (``finops.sources``)
and billing sources (``finops.billing``) meet only in the warehouse.

A span source is a module with::

    def pull(source: SpanSource, attributes: AttributeMap, window_start: date,
             window_end: date, *, progress: ProgressFn | None = None) -> SpanPull

A billing source is a module with::

    def pull(source: BillingSource, window_start: date, window_end: date, *,
             progress: ProgressFn | None = None) -> BillingPull

Optionally ``def check(source) -> list[tuple[str, str]]`` for ``finops sources check``.
Sources return frames and never touch the warehouse; ``finops.api`` loads them.
Windows are half-open ``[window_start, window_end)`` of UTC days.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

import polars as pl

# progress(label, done, total): called as work advances; total None when unknown.
ProgressFn = Callable[[str, int, int | None], None]


@dataclass
class FileEntry:
    """One span file as a manifest knows it (the warehouse table ``span_files``).

    ``days`` are the UTC days (days since the epoch) of its LLM spans, ``None`` when the file
    was not read. ``status``: read | partial | corrupt | old | same_content (see
    ``sql/migrations/090_span_file_manifest.sql``).
    """

    path: str
    size: int
    mtime_ns: int
    fingerprint: str | None
    days: frozenset[int] | None
    status: str
    lines: int = 0
    spans: int = 0
    llm_spans: int = 0
    note: str | None = None


@dataclass
class FileState:
    """What the warehouse knows of a file source before a pull.

    Its manifest, and the days (days since the epoch) whose rows are the rollup of those
    files, each with the plan (the attribute mapping and options, fingerprinted) it was
    rolled up under.
    """

    files: list[FileEntry] = field(default_factory=list)
    days: dict[int, str] = field(default_factory=dict)


@dataclass
class SpanPull:
    """A span source's rollup for a window: a ``USAGE_SCHEMA`` frame plus run statistics.

    A file source given a :class:`FileState` sets ``days``: the window days (sorted dates)
    the frame holds in full; the loader keeps the source's other window days as they are.
    ``files`` is then the new manifest and ``plan`` its fingerprint.
    """

    frame: pl.DataFrame
    stats: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    days: list[date] | None = None
    files: list[FileEntry] | None = None
    plan: str = ""


@dataclass
class BillingPull:
    """A billing source's rows for a window: a ``BILLING_SCHEMA`` frame.

    ``providers`` are the providers whose billing this pull covers (even with no rows:
    a day with zero spend is covered, not missing). ``notes`` are shown in reports
    (unparsed line items, Priority Tier usage absent from the cost report, ...).
    ``excluded``: charges the source read and left out as not LLM billing (FOCUS exports
    of a whole cloud bill), as ``finops.billing.exclusions.EXCLUDED_SCHEMA``; ``None`` when
    the source has no such notion.
    """

    frame: pl.DataFrame
    providers: list[str]
    notes: list[str] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=dict)
    excluded: pl.DataFrame | None = None
