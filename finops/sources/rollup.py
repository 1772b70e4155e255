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

from collections.abc import Mapping
from datetime import date

import polars as pl

from finops.canonical import AUTO, MAX_TOKENS, canonical_dims, convention_for, normalise, text
from finops.errors import DataError
from finops.schemas import USAGE_KEYS, USAGE_SCHEMA, USAGE_TOKENS, UsageDaily, validate

Scalar = str | int | float | bool
RawGroup = tuple[Scalar | None, ...]  # values in DIMS order; None = attribute missing
# [requests, input, cache_read, cache_write, output, reasoning]
Counts = list[int]
Dims = tuple[str, str, str, str, str, str, str]


def canonical_group(raw: RawGroup) -> Dims:
    """Raw attribute values (DIMS order) → the canonical key fields (:func:`canonical_dims`)."""
    return canonical_dims(*(text(x) for x in raw))


def usage_frame(rows: Mapping[tuple[date, Dims], Counts], source: str, where: str) -> pl.DataFrame:
    """Rolled-up rows ``(day, dims) -> counts`` as a validated ``USAGE_SCHEMA`` frame, sorted by key.

    A sum past 2^63 - 1 (what a usage row holds) is a :class:`DataError` naming the day and
    the row, never an overflow.
    """
    cols = ("requests", *USAGE_TOKENS)
    for (day, key), c in rows.items():
        for name, n in zip(cols, c, strict=True):
            if n > MAX_TOKENS:
                raise DataError(f"{where}: {day} {'/'.join(key)}: {name} add up to {n}, above "
                                "2^63 - 1 (the largest a usage row holds): a corrupt count?")
    data = [(day, *key, source, *c) for (day, key), c in sorted(rows.items())]
    names = [*USAGE_KEYS, "requests", *USAGE_TOKENS]
    frame = pl.DataFrame(data, schema={c: USAGE_SCHEMA[c] for c in names}, orient="row")
    return validate(frame.select(list(USAGE_SCHEMA)), UsageDaily, where)


class Rollup:
    """Accumulates usage per (day, canonical group)."""

    def __init__(self, conventions: Mapping[str, str] | None, prefix: str) -> None:
        self.conventions = dict(conventions or {})
        self.prefix = prefix
        self.canon: dict[tuple[date, Dims], Counts] = {}
        self.sums: dict[tuple[date, Dims], Counts] = {}  # pushdown: raw sums
        self.exclusive_detected = 0

    def convention(self, provider: str) -> str:
        """The input convention configured for a canonical provider."""
        return convention_for(self.conventions, provider, AUTO)

    def add_span(self, day: date, raw: RawGroup, tokens: tuple[int, int, int, int, int],
                 where: str) -> None:
        """One span (search mode): normalised on its own, then added."""
        key = canonical_group(raw)
        try:
            c = normalise(*tokens, convention=self.convention(key[0]))
        except ValueError as e:
            raise DataError(f"{self.prefix} {where}: {e} (input_convention for {key[0]} is "
                            "inclusive)") from None
        self.exclusive_detected += c.detected_exclusive
        row = self.canon.setdefault((day, key), [0] * 6)
        row[0] += 1
        row[1] += c.input_tokens
        row[2] += c.cache_read_tokens
        row[3] += c.cache_write_tokens
        row[4] += c.output_tokens
        row[5] += c.reasoning_tokens

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
            row = self.canon.setdefault((day, key), [0] * 6)
            for i, n in enumerate((s[0], c.input_tokens, c.cache_read_tokens,
                                   c.cache_write_tokens, c.output_tokens, c.reasoning_tokens)):
                row[i] += n
        self.sums.clear()
        if example:
            notes.append(f"{self.exclusive_detected} group(s) had more cache tokens than input "
                         f"tokens and were read as exclusive input counts (e.g. {example}); "
                         "set input_convention for the provider to make it explicit")
        return notes

    def frame(self, source: str, where: str) -> pl.DataFrame:
        """The rollup as a validated ``USAGE_SCHEMA`` frame, sorted by key."""
        return usage_frame(self.canon, source, where)
