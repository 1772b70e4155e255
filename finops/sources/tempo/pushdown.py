"""Pushdown mode: Tempo sums the tokens (TraceQL metrics); finops receives groups.

Per UTC day, per tile (≤ the server's metrics maximum, aligned to the step):

1. one discovery query, ``{ LLM span } | count_over_time() by (provider, <split fields>)``,
   says which providers (and split-field values) have spans in the tile;
2. per provider (a filter in the selector, so ``by()`` stays within Tempo's 5-attribute
   limit), one ``count_over_time()`` for requests and one ``sum_over_time()`` per token
   attribute, each ``by (team, project, feature, model, service_tier)`` by default.

Fields that do not fit into ``by()`` (``account`` by default) are *split*: like the
provider they become equality filters with the values discovery found. Spans where a
split field is missing cannot be selected with ``= nil`` portably, so their sums are
obtained by subtraction: sums(field missing) = sums(field unconstrained) − Σ sums(field = v).
Integer sums are exact in doubles below 2⁵³, so the subtraction is exact.

Range queries use ``step`` = tile: Tempo aligns the range and adds one leading bucket
(``start − step``), so samples with ``timestampMs <= start`` (and ``> end``) are dropped.
Buckets are right-closed, ``(t − step, t]``: a span starting exactly on a tile boundary
(to the nanosecond) is counted in the earlier tile.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from finops.errors import SourceError
from finops.sources.rollup import Rollup
from finops.sources.tempo.client import DAY, QueryTooLong, TempoClient, TooRecent, tile_label
from finops.sources.tempo.decode import Ctx, Scalar, metrics_range
from finops.sources.tempo.traceql import (
    GROUP_FIELDS,
    TOKEN_FIELDS,
    Attr,
    count_query,
    go_duration,
    llm_span,
    sum_query,
)

MIN_TILE = 300  # seconds: PARTIAL or too-long answers below this are errors
ANY = object()  # pattern entry: field unconstrained
Pattern = tuple[Any, ...]  # per split field: a value, ANY, or None (= attribute missing)
Group = tuple[Scalar | None, ...]  # per by() field
Sums = dict[Group, list[float]]  # [requests, input, cache_read, cache_write, output, reasoning]


class Partial(Exception):
    """Tempo said ``status: PARTIAL`` (max series hit)."""


def _unquote(key: str) -> str:
    return key.replace('"', "")


@dataclass
class Pushdown:
    """Runs pushdown queries for a window into a :class:`Rollup`."""

    client: TempoClient
    attrs: dict[str, Attr]
    group_by: tuple[str, ...]
    tile_len: int
    rollup: Rollup
    notes: list[str] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=lambda: {
        "tiles": 0, "queries": 0, "tile_splits": 0, "groups": 0})

    def __post_init__(self) -> None:
        self.split = ["provider", *(f for f in GROUP_FIELDS
                                    if f != "provider" and f not in self.group_by)]
        self.by = [self.attrs[f] for f in self.group_by]
        self.tokens = [self.attrs[t] for t in TOKEN_FIELDS]
        self.llm = llm_span(self.attrs["model"], self.tokens)
        if len(self.split) > 1:
            self.notes.append(
                f"by() holds {', '.join(self.group_by)} (Tempo allows 5 attributes); "
                f"{', '.join(self.split[1:])} split through filters on discovered values")

    def run(self, days: list[date], progress: Callable[[str, int, int | None], None] | None
            ) -> None:
        """Pull every day; the rollup is only touched once a whole day succeeded."""
        total = len(days) * (DAY // self.tile_len)
        done = 0
        for day in days:
            day_sums: dict[tuple[Scalar | None, ...], list[float]] = {}
            start = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
            s = start
            while s < start + DAY:
                length = min(self.tile_len, start + DAY - s)
                for key, row in self.tile(s, length).items():
                    acc = day_sums.setdefault(key, [0.0] * 6)
                    for i, v in enumerate(row):
                        acc[i] += v
                s += length
                done += 1
                if progress:
                    progress(f"{self.client.prefix} {tile_label(s - length, s)}", done, total)
            self._commit(day, day_sums)

    def _commit(self, day: date, day_sums: dict[tuple[Scalar | None, ...], list[float]]) -> None:
        for key, row in day_sums.items():
            counts = [round(v) for v in row]
            if any(c < 0 for c in counts):
                raise SourceError(
                    f"{self.client.prefix} {day}: negative sums for {key} after subtracting "
                    "split groups: Tempo's answers disagree (data still arriving?); re-run")
            if any(counts):
                self.rollup.add_sums(day, key, counts)
                self.stats["groups"] += 1

    def tile(self, start: int, length: int) -> dict[tuple[Scalar | None, ...], list[float]]:
        """Sums for one tile keyed by the full raw group; halves the tile on PARTIAL."""
        try:
            return self._tile(start, length)
        except (Partial, QueryTooLong) as e:
            half = length // 2
            where = tile_label(start, start + length)
            if length % 2 or half < MIN_TILE:
                what = ("Tempo returned a PARTIAL answer (maximum series reached: "
                        f"{e}); group by fewer fields or raise max_response_series"
                        if isinstance(e, Partial) else
                        "the server's metrics maximum duration is shorter than any tile")
                raise SourceError(f"{self.client.prefix} {where}: {what}, even for "
                                  f"{length}s tiles") from None
            if isinstance(e, QueryTooLong):
                if half < self.tile_len:
                    self.notes.append(
                        f"Tempo refused {self.tile_len}s windows (metrics maximum "
                        f"{e.seconds or '?'}s): using {half}s tiles")
                    self.tile_len = half
            else:
                self.notes.append(f"{where}: PARTIAL answer ({e}); re-queried as two tiles")
            self.stats["tile_splits"] += 1
            out = self.tile(start, half)
            for key, row in self.tile(start + half, half).items():
                acc = out.setdefault(key, [0.0] * 6)
                for i, v in enumerate(row):
                    acc[i] += v
            return out

    def _tile(self, start: int, length: int) -> dict[tuple[Scalar | None, ...], list[float]]:
        end = start + length
        ctx = Ctx(self.client.prefix, tile_label(start, end))
        self.stats["tiles"] += 1
        split_attrs = [self.attrs[f] for f in self.split]
        try:
            found = self._query(count_query([], self.llm, split_attrs), start, end, ctx,
                                split_attrs)
        except TooRecent:
            self.notes.append(f"{ctx.where}: too recent for Tempo (query_end_cutoff): empty")
            return {}
        combos = {g: row[0] for g, row in found.items() if row[0] > 0}
        memo: dict[Pattern, Sums] = {}

        def q(pattern: Pattern) -> Sums:
            if pattern not in memo:
                memo[pattern] = self._sums(pattern, start, end, ctx)
            return memo[pattern]

        def r(pattern: Pattern) -> Sums:
            # Spans matching the pattern, where None means "attribute missing".
            if None not in pattern:
                return q(pattern)
            i = pattern.index(None)
            out = {g: list(v) for g, v in r(pattern[:i] + (ANY,) + pattern[i + 1:]).items()}
            values = {c[i] for c in combos if c[i] is not None and all(
                p is ANY or (c[j] is None if p is None else c[j] == p)
                for j, p in enumerate(pattern) if j != i)}
            for v in sorted(values, key=str):
                for g, row in r(pattern[:i] + (v,) + pattern[i + 1:]).items():
                    acc = out.setdefault(g, [0.0] * 6)
                    for k, x in enumerate(row):
                        acc[k] -= x
            return out

        result: dict[tuple[Scalar | None, ...], list[float]] = {}
        for combo, count in combos.items():
            sums = r(combo)
            got = sum(row[0] for row in sums.values())
            if round(got) != round(count):
                self.notes.append(f"{ctx.where}: {combo}: {round(got)} requests in the grouped "
                                  f"count, {round(count)} in discovery (data still arriving?)")
            for g, row in sums.items():
                full = dict(zip(self.split, combo, strict=True))
                full.update(zip(self.group_by, g, strict=True))
                key = tuple(full[f] for f in GROUP_FIELDS)
                acc = result.setdefault(key, [0.0] * 6)
                for k, x in enumerate(row):
                    acc[k] += x
        return result

    def _sums(self, pattern: Pattern, start: int, end: int, ctx: Ctx) -> Sums:
        filters = [(self.attrs[f], v) for f, v in zip(self.split, pattern, strict=True)
                   if v is not ANY]
        out: Sums = {}
        queries = [count_query(filters, self.llm, self.by)]
        queries += [sum_query(filters, t, self.by) for t in self.tokens]
        for i, query in enumerate(queries):
            for g, row in self._query(query, start, end, ctx, self.by).items():
                out.setdefault(g, [0.0] * 6)[i] += row[0]
        return out

    def _query(self, query: str, start: int, end: int, ctx: Ctx, by: list[Attr]
               ) -> dict[Group, list[float]]:
        """One range query (step = tile); totals per group over the tile's own bucket."""
        params = {"q": query, "start": start, "end": end, "step": go_duration(end - start)}
        self.stats["queries"] += 1
        body = self.client.get("/api/metrics/query_range", params, ctx, query=query,
                               metrics=True)
        res = metrics_range(body, ctx)
        if res.partial:
            raise Partial(res.message or "status PARTIAL")
        refs = {_unquote(a.ref): i for i, a in enumerate(by)}
        out: dict[Group, list[float]] = {}
        lo, hi = start * 1000, end * 1000
        for n, series in enumerate(res.series):
            values: list[Scalar | None] = [None] * len(by)
            labels = {_unquote(k): v for k, v in series.labels.items()}
            labels.pop("__name__", None)
            # All group-by values nil: Tempo labels the series {first by attr: "nil"}.
            all_nil = len(labels) == 1 and bool(by) and labels.get(_unquote(by[0].ref)) == "nil"
            if not all_nil:
                for key, value in labels.items():
                    if key not in refs:
                        raise ctx.fail(f"series[{n}].labels", f"unexpected label {key!r} "
                                                              f"(query: {query})")
                    values[refs[key]] = value
            total = sum(v for ts, v in series.samples if lo < ts <= hi)
            acc = out.setdefault(tuple(values), [0.0])
            acc[0] += total
        return out


def days_of(window_start: date, window_end: date) -> list[date]:
    """The UTC days of ``[window_start, window_end)``."""
    return [window_start + timedelta(days=i) for i in range((window_end - window_start).days)]
