"""Pushdown mode: Tempo sums the tokens (TraceQL metrics); finops receives groups.

Every field may be read from several attributes (the mapping's keys, on the span and then on
the resource; the first one a span carries wins, as in the OTLP file source), but a TraceQL
metrics query sums one attribute and groups by at most five. So, per UTC day and per tile
(≤ the server's metrics maximum, aligned to the step):

1. **Presence.** Which attributes occur in the tile at all: the dimensions' through
   ``count_over_time() by (≤ 5 of them)``, the token counts' per field and then one query
   each (a count per value would be one series per distinct number). A token attribute
   holding a string (``=~ ".*"`` matches strings only), a negative number or a boolean
   cannot be summed by Tempo (``> 0`` does not match it): that tile is read in search mode
   instead (:class:`NeedsSearch`), never dropped.
2. **Shapes.** For each dimension with two or more attributes present, spans are split by
   which attribute comes first on them: shape ``model = gen_ai.response.model`` is
   ``{ response.model != nil }``, shape ``model = llm.model_name`` is the spans where neither
   earlier attribute is set. "Not set" cannot be selected portably in TraceQL, so such a
   set is computed by subtraction: ``Q(selector) − Q(selector && (a != nil || b != nil))``,
   exact for integer sums below 2⁵³. Empty shapes are pruned by a count.
3. **Sums.** Within a shape every field has one attribute, and the rollup runs as before:
   one discovery query, ``count_over_time() by (provider, <split fields>)``, says which
   providers (and split-field values) have spans; per provider (a filter in the selector,
   so ``by()`` stays within Tempo's 5-attribute limit) one ``count_over_time()`` for
   requests and one ``sum_over_time()`` per token attribute present, each ``by (team,
   project, feature, model, service_tier)`` by default. A token field read from several
   attributes sums each over the spans where the earlier ones are not set (subtraction).

Agent and workflow spans (an operation attribute naming anything but a model call,
:func:`finops.canonical.is_aggregate`) are counted once per tile and subtracted from every
query the same way. Fields that do not fit into ``by()`` (``account`` by default) are
*split*: like the provider they become equality filters with the values discovery found;
spans where a split field is missing are obtained by subtraction too.

Duplicates (the same trace and span id stored twice) cannot be seen here: Tempo sums what
it stores. The number of queries depends on days, tiles, providers and the attribute shapes
in use, never on the number of spans.

Range queries use ``step`` = tile: Tempo aligns the range and adds one leading bucket
(``start − step``), so samples with ``timestampMs <= start`` (and ``> end``) are dropped.
Buckets are right-closed, ``(t − step, t]``: a span starting exactly on a tile boundary
(to the nanosecond) is counted in the earlier tile.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from finops.errors import SourceError
from finops.sources.rollup import Rollup
from finops.sources.tempo.client import DAY, QueryTooLong, TempoClient, TooRecent, tile_label
from finops.sources.tempo.decode import Ctx, Scalar, metrics_range
from finops.sources.tempo.traceql import (
    GROUP_FIELDS,
    MAX_BY,
    TOKEN_FIELDS,
    Attr,
    aggregate_span,
    any_of,
    count_query,
    equals,
    go_duration,
    llm_span,
    present,
    sum_query,
)

MIN_TILE = 300  # seconds: PARTIAL or too-long answers below this are errors
ANY = object()  # pattern entry: field unconstrained
Pattern = tuple[Any, ...]  # per split field: a value, ANY, or None (= attribute missing)
Group = tuple[Scalar | None, ...]  # per by() field
Sums = dict[Group, list[float]]  # [requests, input, cache_read, cache_write, output, reasoning]


class Partial(Exception):
    """Tempo said ``status: PARTIAL`` (max series hit)."""


class NeedsSearch(Exception):
    """The tile holds token counts Tempo cannot sum (strings, negatives): read it as spans."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


def _unquote(key: str) -> str:
    return key.replace('"', "")


@dataclass(frozen=True)
class Shape:
    """Spans whose dimensions are each read from one attribute.

    Every span of the shape meets all of ``pos`` and none of ``neg`` (presence conditions).
    """

    attrs: Mapping[str, Attr]
    pos: tuple[str, ...] = ()
    neg: tuple[str, ...] = ()


@dataclass
class Pushdown:
    """Runs pushdown queries for a window into a :class:`Rollup`."""

    client: TempoClient
    candidates: Mapping[str, tuple[Attr, ...]]
    group_by: tuple[str, ...]
    tile_len: int
    rollup: Rollup
    search_tile: Callable[[date, int, int], None] | None = None  # reads a tile as raw spans
    notes: list[str] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=lambda: {
        "tiles": 0, "queries": 0, "tile_splits": 0, "groups": 0, "shapes": 0,
        "agent_spans": 0, "search_tiles": 0})

    def __post_init__(self) -> None:
        self.split = ["provider", *(f for f in GROUP_FIELDS
                                    if f != "provider" and f not in self.group_by)]
        c = self.candidates
        self.llm = llm_span(c["model"], [a for t in TOKEN_FIELDS for a in c[t]])
        self.aggregate = aggregate_span(c.get("operation", ()))
        if len(self.split) > 1:
            self.notes.append(
                f"by() holds {', '.join(self.group_by)} (Tempo allows 5 attributes); "
                f"{', '.join(self.split[1:])} split through filters on discovered values")
        self.notes.append("pushdown mode cannot see duplicate spans (the same trace and span "
                          "id stored twice): Tempo sums what it stores")

    def run(self, days: list[date], progress: Callable[[str, int, int | None], None] | None
            ) -> None:
        """Pull every day; the rollup's sums are only touched once a whole day succeeded."""
        total = len(days) * (DAY // self.tile_len)
        done = 0
        for day in days:
            day_sums: dict[Group, list[float]] = {}
            start = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
            s = start
            while s < start + DAY:
                length = min(self.tile_len, start + DAY - s)
                for key, row in self.tile(day, s, length).items():
                    acc = day_sums.setdefault(key, [0.0] * 6)
                    for i, v in enumerate(row):
                        acc[i] += v
                s += length
                done += 1
                if progress:
                    progress(f"{self.client.prefix} {tile_label(s - length, s)}", done, total)
            self._commit(day, day_sums)

    def _commit(self, day: date, day_sums: dict[Group, list[float]]) -> None:
        for key, row in day_sums.items():
            counts = [round(v) for v in row]
            if any(c < 0 for c in counts):
                raise SourceError(
                    f"{self.client.prefix} {day}: negative sums for {key} after subtracting "
                    "split groups: Tempo's answers disagree (data still arriving?); re-run")
            if any(counts):
                self.rollup.add_sums(day, key, counts)
                self.stats["groups"] += 1

    def tile(self, day: date, start: int, length: int) -> dict[Group, list[float]]:
        """Sums for one tile keyed by the full raw group; halves the tile on PARTIAL."""
        try:
            return self._tile(start, length)
        except NeedsSearch as e:
            if self.search_tile is None:
                raise SourceError(f"{self.client.prefix} {tile_label(start, start + length)}: "
                                  f"{e.what}: Tempo cannot sum them") from None
            self.stats["search_tiles"] += 1
            if self.stats["search_tiles"] == 1:
                self.notes.append(f"{tile_label(start, start + length)}: {e.what}: Tempo "
                                  "cannot sum them, such tiles are read in search mode")
            self.search_tile(day, start, length)
            return {}
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
            out = self.tile(day, start, half)
            for key, row in self.tile(day, start + half, half).items():
                acc = out.setdefault(key, [0.0] * 6)
                for i, v in enumerate(row):
                    acc[i] += v
            return out

    # ---- one tile

    def _tile(self, start: int, length: int) -> dict[Group, list[float]]:
        end = start + length
        ctx = Ctx(self.client.prefix, tile_label(start, end))
        self.stats["tiles"] += 1
        run = _Tile(self, start, end, ctx)
        try:
            total = run.count([self.llm], ())
        except TooRecent:
            self.notes.append(f"{ctx.where}: too recent for Tempo (query_end_cutoff): empty")
            return {}
        if not total:
            return {}
        tokens = run.token_attrs()
        dims = run.dim_attrs()
        agents = run.count([self.llm, self.aggregate], ()) if self.aggregate else 0
        self.stats["agent_spans"] += round(agents)
        run.skip = (self.aggregate,) if agents and self.aggregate else ()
        result: dict[Group, list[float]] = {}
        for shape in run.shapes(dims):
            self.stats["shapes"] += 1
            for key, row in run.sums(shape, tokens).items():
                acc = result.setdefault(key, [0.0] * 6)
                for k, x in enumerate(row):
                    acc[k] += x
        return result


@dataclass
class _Tile:
    """The queries of one tile."""

    p: Pushdown
    start: int
    end: int
    ctx: Ctx
    skip: tuple[str, ...] = ()  # conditions of spans never counted (aggregates)

    # ---- querying with subtraction

    def grouped(self, query: Callable[[list[str]], str], conditions: Sequence[str],
                neg: Sequence[str], by: list[Attr]) -> dict[Group, float]:
        """Per group: spans meeting ``conditions`` and none of ``neg`` (or the skipped)."""
        out = self._query(query(list(conditions)), by)
        neg = [*neg, *self.skip]
        if neg:
            for g, v in self._query(query([*conditions, any_of(neg)]), by).items():
                out[g] = out.get(g, 0.0) - v
        return out

    def count(self, conditions: Sequence[str], neg: Sequence[str]) -> float:
        """Ungrouped count (a presence check, a shape's size)."""
        got = self.grouped(lambda c: count_query(c, []), conditions, neg, [])
        return sum(got.values())

    def _query(self, query: str, by: list[Attr]) -> dict[Group, float]:
        """One range query (step = tile); totals per group over the tile's own bucket."""
        params = {"q": query, "start": self.start, "end": self.end,
                  "step": go_duration(self.end - self.start)}
        self.p.stats["queries"] += 1
        body = self.p.client.get("/api/metrics/query_range", params, self.ctx, query=query,
                                 metrics=True)
        res = metrics_range(body, self.ctx)
        if res.partial:
            raise Partial(res.message or "status PARTIAL")
        refs = {_unquote(a.ref): i for i, a in enumerate(by)}
        out: dict[Group, float] = {}
        lo, hi = self.start * 1000, self.end * 1000
        for n, series in enumerate(res.series):
            values: list[Scalar | None] = [None] * len(by)
            labels = {_unquote(k): v for k, v in series.labels.items()}
            labels.pop("__name__", None)
            # All group-by values nil: Tempo labels the series {first by attr: "nil"}.
            all_nil = len(labels) == 1 and bool(by) and labels.get(_unquote(by[0].ref)) == "nil"
            if not all_nil:
                for key, value in labels.items():
                    if key not in refs:
                        raise self.ctx.fail(f"series[{n}].labels", f"unexpected label {key!r} "
                                                                   f"(query: {query})")
                    values[refs[key]] = value
            total = sum(v for ts, v in series.samples if lo < ts <= hi)
            g = tuple(values)
            out[g] = out.get(g, 0.0) + total
        return out

    # ---- 1. presence

    def dim_attrs(self) -> dict[str, list[Attr]]:
        """Per dimension, the attributes set on some LLM span of the tile (priority order)."""
        multi = [a for f in GROUP_FIELDS if len(self.p.candidates[f]) > 1
                 for a in self.p.candidates[f]]
        seen: set[Attr] = set()
        for i in range(0, len(multi), MAX_BY):
            chunk = multi[i:i + MAX_BY]
            for g, n in self._query(count_query([self.p.llm], chunk), chunk).items():
                if n > 0:
                    seen.update(a for a, v in zip(chunk, g, strict=True) if v is not None)
        out: dict[str, list[Attr]] = {}
        for f in GROUP_FIELDS:
            cands = list(self.p.candidates[f])
            out[f] = cands if len(cands) == 1 else [a for a in cands if a in seen] or cands[:1]
        return out

    def token_attrs(self) -> dict[str, list[Attr]]:
        """Per token field, the attributes set on some span of the tile (priority order).

        Raises :class:`NeedsSearch` when a token attribute holds what Tempo cannot sum: a
        string (``=~`` matches strings only), a negative number, a boolean.
        """
        cands = {f: list(self.p.candidates[f]) for f in TOKEN_FIELDS}
        every = [a for f in TOKEN_FIELDS for a in cands[f]]
        odd = [c for a in every for c in (f'{a.ref} =~ ".*"', f"{a.ref} < 0", f"{a.ref} = true",
                                          f"{a.ref} = false")]
        if self.count([self.p.llm, any_of(odd)], ()):
            raise NeedsSearch("token counts stored as strings (or negative, or booleans)")
        on_resource = [a for a in every if a.scope == "resource"]
        if on_resource and not self.count([self.p.llm, any_of([present(a) for a in on_resource])], ()):
            cands = {f: [a for a in c if a.scope != "resource"] for f, c in cands.items()}
        out: dict[str, list[Attr]] = {}
        for f in TOKEN_FIELDS:
            c = cands[f]
            if not c or not self.count([self.p.llm, any_of([present(a) for a in c])], ()):
                out[f] = []
            elif len(c) == 1:
                out[f] = c
            else:
                out[f] = [a for a in c if self.count([self.p.llm, present(a)], ())]
        return out

    # ---- 2. shapes

    def shapes(self, dims: dict[str, list[Attr]]) -> list[Shape]:
        """The non-empty shapes: one attribute per dimension, chosen by which comes first."""
        nodes = [Shape({})]
        for f in GROUP_FIELDS:
            cands = dims[f]
            if len(cands) == 1:
                nodes = [Shape({**n.attrs, f: cands[0]}, n.pos, n.neg) for n in nodes]
                continue
            grown = []
            for n in nodes:
                for i, a in enumerate(cands):
                    last = i == len(cands) - 1
                    child = Shape({**n.attrs, f: a},
                                  n.pos + (() if last else (present(a),)),
                                  n.neg + tuple(present(b) for b in cands[:i]))
                    if self.count([self.p.llm, *child.pos], child.neg):
                        grown.append(child)
            nodes = grown
        return nodes

    # ---- 3. sums within a shape

    def sums(self, shape: Shape, tokens: dict[str, list[Attr]]) -> dict[Group, list[float]]:
        """Usage of one shape keyed by the full raw group (GROUP_FIELDS order)."""
        p = self.p
        split_attrs = [shape.attrs[f] for f in p.split]
        by = [shape.attrs[f] for f in p.group_by]
        base = [p.llm, *shape.pos]
        found = self.grouped(lambda c: count_query(c, split_attrs), base, shape.neg, split_attrs)
        combos = {g: n for g, n in found.items() if round(n) > 0}
        memo: dict[Pattern, Sums] = {}

        def q(pattern: Pattern) -> Sums:
            if pattern not in memo:
                memo[pattern] = self._pattern(shape, split_attrs, by, tokens, pattern)
            return memo[pattern]

        def r(pattern: Pattern) -> Sums:
            # Spans matching the pattern, where None means "attribute missing".
            if None not in pattern:
                return q(pattern)
            i = pattern.index(None)
            out = {g: list(v) for g, v in r(pattern[:i] + (ANY,) + pattern[i + 1:]).items()}
            values = {c[i] for c in combos if c[i] is not None and all(
                pp is ANY or (c[j] is None if pp is None else c[j] == pp)
                for j, pp in enumerate(pattern) if j != i)}
            for v in sorted(values, key=str):
                for g, row in r(pattern[:i] + (v,) + pattern[i + 1:]).items():
                    acc = out.setdefault(g, [0.0] * 6)
                    for k, x in enumerate(row):
                        acc[k] -= x
            return out

        result: dict[Group, list[float]] = {}
        for combo, count in combos.items():
            sums = r(combo)
            got = sum(row[0] for row in sums.values())
            if round(got) != round(count):
                p.notes.append(f"{self.ctx.where}: {combo}: {round(got)} requests in the "
                               f"grouped count, {round(count)} in discovery (data still "
                               "arriving?)")
            for g, row in sums.items():
                full = dict(zip(p.split, combo, strict=True))
                full.update(zip(p.group_by, g, strict=True))
                key = tuple(full[f] for f in GROUP_FIELDS)
                acc = result.setdefault(key, [0.0] * 6)
                for k, x in enumerate(row):
                    acc[k] += x
        return result

    def _pattern(self, shape: Shape, split_attrs: list[Attr], by: list[Attr],
                 tokens: dict[str, list[Attr]], pattern: Pattern) -> Sums:
        filters = [(a, v) for a, v in zip(split_attrs, pattern, strict=True) if v is not ANY]
        fixed = [*equals(filters), *shape.pos]
        out: Sums = {}
        requests = self.grouped(lambda c: count_query(c, by), [*fixed, self.p.llm], shape.neg, by)
        for g, n in requests.items():
            out.setdefault(g, [0.0] * 6)[0] += n
        for i, f in enumerate(TOKEN_FIELDS, 1):
            attrs = tokens[f]
            for j, a in enumerate(attrs):
                # the spans where an earlier attribute of the field is set read that one
                earlier = [present(b) for b in attrs[:j]]
                got = self.grouped(lambda c, a=a: sum_query(c, a, by), fixed,
                                   [*shape.neg, *earlier], by)
                for g, v in got.items():
                    out.setdefault(g, [0.0] * 6)[i] += v
        return out


def days_of(window_start: date, window_end: date) -> list[date]:
    """The UTC days of ``[window_start, window_end)``."""
    return [window_start + timedelta(days=i) for i in range((window_end - window_start).days)]
