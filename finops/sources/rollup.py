"""The in-memory rollup of a span source: one entry per ``usage_daily`` key, and its frame.

Memory is bounded by the number of groups (day × provider × account × model × tier × team
× project × feature), never by the number of spans.

A source that sees single spans (Tempo search) normalises each one (per-span ``auto``
detection, as the OTLP file source does). A source that pushes the aggregation down (Tempo
metrics) sees sums per group, so the provider's convention is applied to the sums: ``auto``
reads a group as inclusive unless its cache sum exceeds its input sum, which only exclusive
counts can produce (then it is read as exclusive, counted and noted).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import date

import polars as pl

from finops.canonical import (
    ATTRIBUTE,
    AUTO,
    MAX_TOKENS,
    TRACESTATE,
    Sampling,
    canonical_dims,
    convention_for,
    normalise,
    text,
)
from finops.errors import DataError
from finops.schemas import USAGE_KEYS, USAGE_SCHEMA, USAGE_TOKENS, UsageDaily, validate

Scalar = str | int | float | bool
RawGroup = tuple[Scalar | None, ...]  # values in DIMS order; None = attribute missing
# [requests, input, cache_read, cache_write, output, reasoning] and optionally the spans seen
# (unweighted; absent: equal to requests). Floats where spans were weighted by sampling.
Counts = list[int]
Dims = tuple[str, str, str, str, str, str, str]
_COUNTS = 6  # requests and the five token fields


def canonical_group(raw: RawGroup) -> Dims:
    """Raw attribute values (DIMS order) → the canonical key fields (:func:`canonical_dims`)."""
    return canonical_dims(*(text(x) for x in raw))


def usage_frame(rows: Mapping[tuple[date, Dims], Counts], source: str, where: str,
                weighted: bool = True, consume: bool = False) -> pl.DataFrame:
    """Rolled-up rows ``(day, dims) -> counts`` as a validated ``USAGE_SCHEMA`` frame, sorted by key.

    A sum past 2^63 - 1 (what a usage row holds) is a :class:`DataError` naming the day and
    the row, never an overflow. ``weighted=False`` says every count is an integer (no span
    was weighted by sampling), so no cell needs rounding. ``consume=True`` empties ``rows``
    (a dict) once its columns are built, so its Python objects are freed before the frame is
    sorted and validated (a large rollup's peak memory).
    """
    cols = ("requests", *USAGE_TOKENS, "seen_requests")
    # counts are never negative: below the limit in total, no row can be above it
    if sum(map(sum, rows.values())) > MAX_TOKENS:
        for (day, key), c in rows.items():
            for name, n in zip(cols, c, strict=False):
                if n > MAX_TOKENS:
                    raise DataError(f"{where}: {day} {'/'.join(key)}: {name} add up to {n:.0f}, "
                                    "above 2^63 - 1 (the largest a usage row holds): a corrupt count?")
    ints = round_cells(rows) if weighted else rows
    names = [*USAGE_KEYS, "requests", *USAGE_TOKENS, "seen_requests"]
    # column by column: one list of Python values at a time beside the rows
    keys = list(ints)
    counts = list(ints.values())
    series = [pl.Series("day", [k[0] for k in keys], dtype=USAGE_SCHEMA["day"])]
    for i, name in enumerate(names[1:8]):
        series.append(pl.Series(name, [k[1][i] for k in keys], dtype=USAGE_SCHEMA[name]))
    series.append(pl.Series("source", [source] * len(keys), dtype=USAGE_SCHEMA["source"]))
    for i, name in enumerate(cols):
        if i == _COUNTS:  # spans seen; rows without it: equal to their requests
            values = [c[i] if len(c) > _COUNTS else c[0] for c in counts]
        else:
            values = [c[i] for c in counts]
        series.append(pl.Series(name, values, dtype=USAGE_SCHEMA[name]))
    del keys, counts, values
    if consume:
        rows.clear()  # type: ignore[attr-defined]
        ints.clear()  # type: ignore[attr-defined]
    frame = pl.DataFrame(series).sort(USAGE_KEYS)
    del series
    return validate(frame.select(list(USAGE_SCHEMA)), UsageDaily, where)


def round_cells(rows: Mapping[tuple[date, Dims], Sequence[int | float]]
                ) -> dict[tuple[date, Dims], list[int]]:
    """Weighted counts → integers, rounded once per reconciliation cell (largest remainder).

    For each cell (day · provider · account · model · tier) and each count, the cell's exact
    sum (``math.fsum``) is rounded to the nearest integer (half to even) and its rows get the
    floor of their value plus one for the largest remainders (ties: key order), so the rows
    add up to the rounded cell sum and each row is within 1 of its value. Integer rows are
    returned unchanged.
    """
    out = {k: list(c) for k, c in rows.items()}
    cells: dict[tuple[object, ...], list[tuple[date, Dims]]] = {}
    for k, c in rows.items():
        if any(type(n) is not int for n in c):
            cells.setdefault((k[0], *k[1][:4]), [])
    if not cells:
        return out  # type: ignore[return-value]
    for k in rows:
        members = cells.get((k[0], *k[1][:4]))
        if members is not None:
            members.append(k)
    for members in cells.values():
        members.sort()
        for i in range(len(out[members[0]])):
            values = [out[k][i] for k in members]
            if all(type(v) is int for v in values):
                continue
            floors = [math.floor(v) for v in values]
            extra = round(math.fsum(values)) - sum(floors)
            order = sorted(range(len(members)), key=lambda j: -(values[j] - floors[j]))
            for j in order[:extra]:
                floors[j] += 1
            for k, n in zip(members, floors, strict=True):
                out[k][i] = n
    return out  # type: ignore[return-value]


def sampling_notes(prefix: str, sampling: Sampling, stats: Mapping[str, int],
                   frame: pl.DataFrame) -> list[str]:
    """What the pull's sampling weights did, for the notes (nothing when no span was weighted).

    ``stats``: ``sampled_spans`` (weighted by a threshold, an attribute or a declared ratio),
    ``sampling_unknown`` (the attribute rule found no value), ``invalid_thresholds``,
    ``thresholds_ignored`` (a threshold the rules do not trust).
    """
    notes = []
    sampled = stats.get("sampled_spans", 0)
    if sampled and frame.height:
        requests, seen = int(frame["requests"].sum()), int(frame["seen_requests"].sum())
        notes.append(f"{prefix}: sampling ({sampling.describe()}): {sampled:,} of {seen:,} span(s) "
                     f"weighted by their sampling probability; requests and tokens are estimates "
                     f"of the unsampled totals ({requests:,} requests from {seen:,} spans)")
    unknown = stats.get("sampling_unknown", 0)
    if unknown:
        keys = ", ".join(sorted({r.key for r in sampling.rules if r.kind == ATTRIBUTE}))
        notes.append(f"{prefix}: {unknown:,} span(s) carry no {keys} attribute: counted once each")
    invalid = stats.get("invalid_thresholds", 0)
    if invalid:
        notes.append(f"{prefix}: {invalid:,} span(s) carry a malformed sampling threshold (ot=th: "
                     "not 1 to 14 lowercase hex digits) in their tracestate: counted once each")
    ignored = stats.get("thresholds_ignored", 0)
    if ignored:
        why = ("sampling = \"off\": they count once each, so estimates fall short by the sampling "
               "rate" if not sampling.uses(TRACESTATE) and sampling.default.kind == "off"
               else f"the rules ({sampling.describe()}) weigh them otherwise")
        notes.append(f"{prefix}: {ignored:,} span(s) carry an OpenTelemetry sampling threshold "
                     f"(ot=th in their tracestate) that is not used: {why}")
    return notes


class Rollup:
    """Accumulates usage per (day, canonical group)."""

    def __init__(self, conventions: Mapping[str, str] | None, prefix: str,
                 sums_weight: float = 1) -> None:
        self.conventions = dict(conventions or {})
        self.prefix = prefix
        self.canon: dict[tuple[date, Dims], Counts] = {}  # [requests, 5 tokens, spans seen]
        self.sums: dict[tuple[date, Dims], Counts] = {}  # pushdown: raw sums
        self.sums_weight = sums_weight  # pushdown: what each summed span stands for (a declared ratio)
        self.exclusive_detected = 0

    def convention(self, provider: str) -> str:
        """The input convention configured for a canonical provider."""
        return convention_for(self.conventions, provider, AUTO)

    def add_span(self, day: date, raw: RawGroup, tokens: tuple[int, int, int, int, int],
                 where: str, weight: float = 1) -> None:
        """One span (search mode): normalised on its own, then added ``weight`` times."""
        key = canonical_group(raw)
        try:
            c = normalise(*tokens, convention=self.convention(key[0]))
        except ValueError as e:
            raise DataError(f"{self.prefix} {where}: {e} (input_convention for {key[0]} is "
                            "inclusive)") from None
        self.exclusive_detected += c.detected_exclusive
        row = self.canon.setdefault((day, key), [0] * 7)
        row[0] += weight
        row[1] += c.input_tokens * weight
        row[2] += c.cache_read_tokens * weight
        row[3] += c.cache_write_tokens * weight
        row[4] += c.output_tokens * weight
        row[5] += c.reasoning_tokens * weight
        row[6] += 1

    def add_sums(self, day: date, raw: RawGroup, counts: Counts) -> None:
        """Add one group's sums as the spans carry them (pushdown).

        ``counts`` is [requests, input, cache_read, cache_write, output, reasoning];
        the convention is applied in :meth:`finish`.
        """
        row = self.sums.setdefault((day, canonical_group(raw)), [0] * 6)
        for i, n in enumerate(counts):
            row[i] += n

    def finish(self) -> list[str]:
        """Normalise pushdown sums into the canonical rows; return notes."""
        notes = []
        example = ""
        for (day, key), s in self.sums.items():
            conv = self.convention(key[0])
            try:
                c = normalise(s[1], s[2], s[3], s[4], s[5], convention=conv)
            except ValueError as e:
                raise DataError(
                    f"{self.prefix} {day}: {'/'.join(key)}: {e}; the spans look exclusive: set "
                    f"input_convention.{key[0]} = \"exclusive\"") from None
            if c.detected_exclusive:
                self.exclusive_detected += 1
                example = example or f"{day} {'/'.join(key)}"
            row = self.canon.setdefault((day, key), [0] * 7)
            w = self.sums_weight
            for i, n in enumerate((s[0], c.input_tokens, c.cache_read_tokens,
                                   c.cache_write_tokens, c.output_tokens, c.reasoning_tokens)):
                row[i] += n * w
            row[6] += s[0]
        self.sums.clear()
        if example:
            notes.append(f"{self.exclusive_detected} group(s) had more cache tokens than input "
                         f"tokens and were read as exclusive input counts (e.g. {example}); "
                         "set input_convention for the provider to make it explicit")
        return notes

    def frame(self, source: str, where: str) -> pl.DataFrame:
        """The rollup as a validated ``USAGE_SCHEMA`` frame, sorted by key."""
        return usage_frame(self.canon, source, where)
