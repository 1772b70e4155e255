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

from finops.schemas import MONEY

# Billed charges at billing grain plus what the bill says about each charge (FOCUS exports):
# the resource it ran on, its tags and whether it is provisioned capacity. Per billing key
# (day · provider · account · model · tier · token type · line item) the amounts add up to the
# billing row; ``tags`` is the charge's Tags as sorted, compact JSON ('' for none);
# ``resource_id`` '' for none; ``capacity`` 'on_demand' | 'provisioned'; ``billed_tokens``
# summed over the charges that carry a count (NULL when none does), as on the billing row.
CHARGES_SCHEMA: dict[str, pl.DataType] = {
    "day": pl.Date(), "provider": pl.String(), "account": pl.String(), "model": pl.String(),
    "service_tier": pl.String(), "token_type": pl.String(), "line_item": pl.String(),
    "resource_id": pl.String(), "tags": pl.String(), "capacity": pl.String(),
    "rows": pl.Int64(), "amount": MONEY, "currency": pl.String(), "billed_tokens": pl.Int64(),
}

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
    # How the spans were weighted for sampling (finops.canonical ``Sampling.describe``), and,
    # when the source could not see the sampling information its rules ask for (a tracestate
    # in an aggregate query), why: the load records both and the report says the second.
    sampling: str = ""
    sampling_unseen: str | None = None
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
    the source has no such notion. ``key_tokens``: billed tokens per API key
    (``finops.schemas.KEY_TOKENS_SCHEMA``, from the usage reports) and ``api_keys``: the keys'
    names (``API_KEYS_SCHEMA``, never a secret); ``None`` when the source knows no keys.
    ``charges``: the same billed money per resource, tags and capacity (``CHARGES_SCHEMA``),
    for tag and resource rules and provisioned capacity; ``None`` when the bill says nothing
    of the kind (the Admin APIs).
    """

    frame: pl.DataFrame
    providers: list[str]
    notes: list[str] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=dict)
    excluded: pl.DataFrame | None = None
    key_tokens: pl.DataFrame | None = None
    api_keys: pl.DataFrame | None = None
    charges: pl.DataFrame | None = None
