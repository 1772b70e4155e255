"""Search mode: raw LLM spans through ``/api/search``, rolled up page by page.

For Tempo versions without ``sum_over_time`` (< 2.8) or without TraceQL metrics, and for
pushdown tiles holding token counts Tempo cannot sum (strings). Search is first-N with no
cursor (reference §1), so completeness is enforced by the client:

* each tile ``[start, end)`` sends an explicit ``limit`` and ``spss`` (≤ 100); an answer
  with ``len(traces) == limit`` may be truncated, so the tile is halved and asked again
  (down to one second, then it is an error);
* a spanset whose ``matched`` exceeds the spans returned lost spans to ``spss``: the whole
  trace is fetched from ``/api/v2/traces/<id>`` (base64 ids) and filtered here;
* search names attributes without their scope, so when a key is read from both the span
  and the resource (scope ``any``, the default) every trace is fetched whole, where the
  two can be told apart;
* a span is counted in the tile where it *starts*: search returns every trace that
  overlaps the tile, so each span is seen in its own tile; (trace, span) ids are
  de-duplicated within the tile (trace ids left-padded to 32 hex digits), which is where
  every copy of a span delivered twice lands.

Each span is read like the OTLP file source reads it: per field the first attribute set
(span keys, then resource keys), token counts as integers (a count stored as a string of
digits too), agent and workflow spans skipped and counted.

Sampling (:mod:`finops.canonical`): a search answer carries no tracestate, so where the
source's declared ``sampling`` is read per span (the tracestate, an attribute, rules per
service) every trace is fetched whole and each span weighed by its adjusted count; a declared
ratio weighs every span alike.

Memory: the rollup plus one tile's answer and its de-duplication set.
Known limit (Tempo #2513): when a trace is split across blocks, search may return only one
fragment's spanset with ``matched`` equal to its length; such losses cannot be seen here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from finops.canonical import (
    MAX_TOKENS,
    SERVICE_KEY,
    UNWEIGHTED,
    Sampling,
    is_aggregate,
    span_weight,
)
from finops.errors import DataError, SourceError
from finops.sources.rollup import Rollup
from finops.sources.tempo.client import DAY, TempoClient, tile_label
from finops.sources.tempo.decode import Ctx, Scalar, full_trace, search_traces, show
from finops.sources.tempo.traceql import GROUP_FIELDS, TOKEN_FIELDS, Attr, llm_span, search_query


def _tokens(value: Scalar, where: str) -> int:
    """A token count: an integer in ``[0, 2^63)``, given as a number or a string of digits."""
    n: int | None = None
    if isinstance(value, bool):
        n = None
    elif isinstance(value, int):
        n = value
    elif isinstance(value, float) and value.is_integer():
        n = int(value)
    elif isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        n = int(value.strip())
    if n is None or not 0 <= n <= MAX_TOKENS:
        raise DataError(f"{where}: expected a non-negative integer below 2^63, got {show(value)}")
    return n


@dataclass
class Search:
    """Runs search-mode tiles for a window into a :class:`Rollup`."""

    client: TempoClient
    candidates: Mapping[str, tuple[Attr, ...]]
    tile_len: int
    limit: int
    spss: int
    rollup: Rollup
    # the declared sampling rules, applied to each span; None: not applied (nothing declared)
    sampling: Sampling | None = None
    notes: list[str] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=lambda: {
        "tiles": 0, "tile_splits": 0, "spans": 0, "full_traces": 0, "duplicates": 0,
        "agent_spans": 0, "sampled_spans": 0, "sampling_unknown": 0, "invalid_thresholds": 0,
        "thresholds_ignored": 0})

    def __post_init__(self) -> None:
        c = self.candidates
        attrs = [a for f in c for a in c[f]]
        self.query = search_query(
            llm_span(c["model"], [a for t in TOKEN_FIELDS for a in c[t]]), attrs)
        # Search answers with bare attribute names: only one scope per name can be told apart.
        scopes: dict[str, set[str]] = {}
        for a in attrs:
            scopes.setdefault(a.key, set()).add(a.scope)
        self.whole_traces = any(len(s) > 1 for s in scopes.values())
        # a tracestate, a sampling attribute or a service.name is only in the whole trace
        self.whole_traces |= self.sampling is not None and self.sampling.per_span

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
            if t.truncated or self.whole_traces:
                self._full_trace(day, t.trace_id, lo, hi, seen, ctx)
                continue
            for s in t.spans:
                if not lo <= s.start_ns < hi:
                    continue
                if (t.trace_id, s.span_id) in seen:
                    self.stats["duplicates"] += 1
                    continue
                seen.add((t.trace_id, s.span_id))
                self._add(day, s.attributes, s.attributes, ctx,
                          f"trace {t.trace_id} span {s.span_id}")

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
            if not lo <= s.start_ns < hi:
                continue
            if (trace_id, s.span_id) in seen:
                self.stats["duplicates"] += 1
                continue
            if self._add(day, s.span, s.resource, ctx, f"trace {trace_id} span {s.span_id}",
                         s.trace_state):
                seen.add((trace_id, s.span_id))

    def _add(self, day: date, span: Mapping[str, Scalar], resource: Mapping[str, Scalar],
             ctx: Ctx, what: str, trace_state: str = "") -> bool:
        """Count one span (False: not an LLM span); agent and workflow spans are skipped."""
        def first(f: str) -> tuple[Attr, Scalar] | tuple[None, None]:
            for a in self.candidates.get(f, ()):
                v = (span if a.scope == "span" else resource).get(a.key)
                if v is not None:
                    return a, v
            return None, None

        values = {f: first(f) for f in (*GROUP_FIELDS, *TOKEN_FIELDS)}
        if values["model"][1] is None and all(values[t][1] is None for t in TOKEN_FIELDS):
            return False  # not an LLM span (the search condition, applied here)
        for a in self.candidates.get("operation", ()):
            op = (span if a.scope == "span" else resource).get(a.key)
            if isinstance(op, str) and is_aggregate(op):
                self.stats["agent_spans"] += 1
                return True
        where = f"{self.client.prefix} {ctx.where} {what}"
        raw = tuple(values[f][1] for f in GROUP_FIELDS)
        tokens = []
        for t in TOKEN_FIELDS:
            a, v = values[t]
            tokens.append(0 if a is None or v is None else _tokens(v, f"{where}: {a.ref}"))
        weight: float = 1
        if self.sampling is not None:
            service = resource.get(SERVICE_KEY)
            rule = self.sampling.rule_for(service if isinstance(service, str) else None)
            try:
                weight, found = span_weight(rule, trace_state, span, resource)
            except ValueError as e:
                raise DataError(f"{where}: {rule.key}: {e}") from None
            if found != UNWEIGHTED:
                self.stats[found] += 1
        self.rollup.add_span(day, raw, tuple(tokens), f"{ctx.where} {what}",  # type: ignore[arg-type]
                             weight)
        self.stats["spans"] += 1
        return True
