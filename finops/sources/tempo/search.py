"""Search mode: raw LLM spans through ``/api/search``, rolled up page by page.

For Tempo versions without ``sum_over_time`` (< 2.8) or without TraceQL metrics. Search
is first-N with no cursor (reference §1), so completeness is enforced by the client:

* each tile ``[start, end)`` sends an explicit ``limit`` and ``spss`` (≤ 100); an answer
  with ``len(traces) == limit`` may be truncated, so the tile is halved and asked again
  (down to one second, then it is an error);
* a spanset whose ``matched`` exceeds the spans returned lost spans to ``spss``: the whole
  trace is fetched from ``/api/v2/traces/<id>`` (base64 ids) and filtered here;
* a span is counted in the tile where it *starts*: search returns every trace that
  overlaps the tile, so each span is seen in its own tile; (trace, span) ids are
  de-duplicated within the tile (trace ids left-padded to 32 hex digits).

Memory: the rollup plus one tile's answer and its de-duplication set.
Known limit (Tempo #2513): when a trace is split across blocks, search may return only one
fragment's spanset with ``matched`` equal to its length; such losses cannot be seen here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from finops.errors import SourceError
from finops.sources.rollup import Rollup
from finops.sources.tempo.client import DAY, TempoClient, tile_label
from finops.sources.tempo.decode import Ctx, Scalar, full_trace, search_traces
from finops.sources.tempo.traceql import GROUP_FIELDS, TOKEN_FIELDS, Attr, llm_span, search_query


def _tokens(value: Scalar | None) -> int | None:
    """A token count if the value is numeric and ≥ 0 (what ``>= 0`` matches in TraceQL)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        return None
    return int(round(value)) if value >= 0 else None


@dataclass
class Search:
    """Runs search-mode tiles for a window into a :class:`Rollup`."""

    client: TempoClient
    attrs: dict[str, Attr]
    tile_len: int
    limit: int
    spss: int
    rollup: Rollup
    notes: list[str] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=lambda: {
        "tiles": 0, "tile_splits": 0, "spans": 0, "full_traces": 0, "duplicates": 0})

    def __post_init__(self) -> None:
        fields = [*GROUP_FIELDS, *TOKEN_FIELDS]
        self.query = search_query(
            llm_span(self.attrs["model"], [self.attrs[t] for t in TOKEN_FIELDS]),
            [self.attrs[f] for f in fields])
        # Search answers with bare attribute names: one scope per name can be told apart.
        seen: dict[str, Attr] = {}
        for f in fields:
            a = self.attrs[f]
            if seen.get(a.key, a) != a:
                raise SourceError(
                    f"{self.client.prefix}: search mode cannot tell {seen[a.key].ref} from "
                    f"{a.ref} (search drops the scope): map them to different names")
            seen[a.key] = a

    def run(self, days: list[date], progress: Callable[[str, int, int | None], None] | None
            ) -> None:
        """Pull every day, tile by tile."""
        total = len(days) * (DAY // self.tile_len)
        done = 0
        for day in days:
            start = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
            for s in range(start, start + DAY, self.tile_len):
                self.tile(day, s, self.tile_len)
                done += 1
                if progress:
                    progress(f"{self.client.prefix} {tile_label(s, s + self.tile_len)}",
                             done, total)

    def tile(self, day: date, start: int, length: int) -> None:
        """Search one tile; halve it while the answer may be truncated by ``limit``."""
        end = start + length
        ctx = Ctx(self.client.prefix, tile_label(start, end))
        self.stats["tiles"] += 1
        params = {"q": self.query, "limit": self.limit, "spss": self.spss,
                  "start": start, "end": end}
        body = self.client.get("/api/search", params, ctx, query=self.query)
        traces = search_traces(body, ctx)
        if len(traces) >= self.limit:
            if length <= 1:
                raise SourceError(
                    f"{self.client.prefix} {ctx.where}: search returned {len(traces)} traces "
                    f"(the limit) even for a 1-second tile: raise search_limit")
            self.stats["tile_splits"] += 1
            half = length // 2
            self.tile(day, start, half)
            self.tile(day, start + half, length - half)
            return
        lo, hi = start * 1_000_000_000, end * 1_000_000_000
        seen: set[tuple[str, str]] = set()
        for t in traces:
            if t.truncated:
                self._full_trace(day, t.trace_id, lo, hi, seen, ctx)
                continue
            for s in t.spans:
                if not lo <= s.start_ns < hi:
                    continue
                if (t.trace_id, s.span_id) in seen:
                    self.stats["duplicates"] += 1
                    continue
                seen.add((t.trace_id, s.span_id))
                self._add(day, s.attributes.get, ctx, f"trace {t.trace_id} span {s.span_id}")

    def _full_trace(self, day: date, trace_id: str, lo: int, hi: int,
                    seen: set[tuple[str, str]], ctx: Ctx) -> None:
        self.stats["full_traces"] += 1
        tctx = Ctx(ctx.prefix, f"{ctx.where} trace {trace_id}")
        body = self.client.get(f"/api/v2/traces/{trace_id}", None, tctx)
        spans, found = full_trace(body, tctx)
        if not found:
            raise SourceError(f"{tctx.prefix} {tctx.where}: listed by search but "
                              "/api/v2/traces returned no spans")
        for s in spans:
            if not lo <= s.start_ns < hi or (trace_id, s.span_id) in seen:
                continue

            values = {f: (s.span if a.scope == "span" else s.resource).get(a.key)
                      for f, a in self.attrs.items()}
            if values["model"] is None and all(_tokens(values[t]) is None for t in TOKEN_FIELDS):
                continue  # not an LLM span (the search condition, applied here)
            seen.add((trace_id, s.span_id))
            self._add_values(day, values, ctx, f"trace {trace_id} span {s.span_id}")

    def _add(self, day: date, get: Callable[[str], Scalar | None], ctx: Ctx, what: str) -> None:
        values = {f: get(a.key) for f, a in self.attrs.items()}
        self._add_values(day, values, ctx, what)

    def _add_values(self, day: date, values: dict[str, Scalar | None], ctx: Ctx,
                    what: str) -> None:
        raw = tuple(values[f] for f in GROUP_FIELDS)
        tokens = tuple(_tokens(values[t]) or 0 for t in TOKEN_FIELDS)
        self.rollup.add_span(day, raw, tokens, f"{ctx.where} {what}")  # type: ignore[arg-type]
        self.stats["spans"] += 1
