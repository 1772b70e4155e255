"""Span source: OpenObserve traces streams, with the rollup pushed to the server as SQL.

finops never pulls raw spans from OpenObserve. For each UTC day (or smaller window) it
sends ``POST /api/{org}/_search?type=traces`` with a ``GROUP BY`` over day, provider,
account, model, service tier, team, project and feature that sums ``TRY_CAST`` token
columns (OTLP numbers are stored as strings) and counts requests; a second, one-row query
counts the LLM spans of the window, and the grouped rows must add up to it.

Completeness is checked on every answer, never assumed:

* an explicit ``size`` is always sent and pages are read with ``from`` until a short page
  (the server's default cap of 1000 rows is never relied on); ``search_type`` is never
  sent (``"ui"`` hides the "results are capped" warning);
* an answer with ``is_partial``, ``new_start_time`` (the stream's ``max_query_range``
  moved the start) or any ``function_error`` is discarded: the window is split (at the
  clamped start, else halved) and asked again, down to a minute, then the pull fails;
* grouped requests that add up to fewer spans than the count query mean rows were cut
  silently: split and re-asked the same way.

The frame is returned only when the whole window succeeded.

Column names are derived from ``[attributes]`` with OpenObserve's rules (lower case,
``[^a-z0-9_]`` → ``_``, resource attributes ``service_``-prefixed, built-in collisions
``attr_``-prefixed) and checked against ``/api/{org}/streams/{stream}/schema?type=traces``
before any query; for each field the existing columns are COALESCEd in mapping order,
span attributes before resource attributes (the OTLP file source's lookup order).
See :mod:`finops.sources.openobserve.sql`.

Token conventions: the per-span ``auto`` decision is made inside the SQL (see
:mod:`finops.sources.openobserve.sql`), so the rows equal the OTLP file source's rows for
the same spans.

Known difference from the OTLP files: OpenObserve ≥ 0.91 enriches LLM spans at ingest. It
fills ``gen_ai_usage_*`` from OpenInference counts (same values, so harmless) but also
*estimates* tokens with a tokenizer for generation spans that carry none; such spans count
here and not in the OTLP files. Map the token fields to your SDK's own attributes (for
example only ``llm.token_count.*``) to ignore the server's estimates.

Configuration (``finops.toml``)::

    [[sources]]
    name = "o2"
    kind = "openobserve"
    url = "https://openobserve.example.com"  # base URL; may carry a ZO_BASE_URI prefix
    org = "default"                  # organisation id (in the path)
    stream = "default"               # traces stream
    user_env = "O2_USER"             # basic auth: the user's e-mail or service account ...
    password_env = "O2_PASSWORD"     # ... and its password or service-account token
                                     # (an ingestion token/passcode cannot search)
    timeout = 300                    # seconds per search; also sent as the server timeout
    attempts = 5                     # retries on 429/20012, 408/20010, 5xx
    page_size = 10000                # rows per page (explicit size, from paging)
    window_hours = 24                # largest window per request; must divide 24
    verify_counts = true             # cross-check the rows against a count(*) query
    verify_tls = true                # or the path of a CA bundle
    scope = { team = "resource" }    # span | resource | any (default: span, then resource)
    only = { provider = ["openai"] } # keep spans whose attribute value is one of these
    input_convention = { anthropic = "exclusive" }  # or "inclusive" / "auto" (default)
    sampling = { ratio = 0.1 }       # the only rule it can apply: the stream stores no
                                     # tracestate (nothing declared: spans count once, noted)

Secrets are read from the named environment variables only; errors never print them.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

import polars as pl

from finops.canonical import AUTO, EXCLUSIVE, INCLUSIVE, convention_for
from finops.config import AttributeMap, SpanSource
from finops.errors import ConfigError, DataError, FinopsError, SourceError, redact
from finops.frames import ProgressFn, SpanPull
from finops.sources.openobserve import sql as q
from finops.sources.openobserve.client import DAY_US, HOUR_US, US, Client, Incomplete, window_label
from finops.sources.openobserve.options import parse_options
from finops.sources.rollup import Counts, Dims, canonical_group, sampling_notes, usage_frame

__all__ = ["check", "parse_options", "pull"]

MIN_WINDOW_US = 60 * US
MAX_PAGES = 10_000


def _prefix(source: SpanSource) -> str:
    return "openobserve" if source.name in ("", "openobserve") else f"openobserve {source.name}"


def _int(hit: Mapping[str, Any], key: str, where: str) -> int:
    v = hit.get(key)
    if v is None:  # null columns are omitted from hits
        return 0
    if isinstance(v, bool):
        raise SourceError(f"{where}: {key}: expected an integer, got {v!r}")
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, int):
        return v
    if isinstance(v, str) and re.fullmatch(r"-?\d+", v.strip()):
        return int(v)
    raise SourceError(f"{where}: {key}: expected an integer, got {json.dumps(v)}")


class Puller:
    """Pulls one window day by day, splitting windows the server will not answer whole."""

    def __init__(self, client: Client, cols: Mapping[str, q.FieldColumns],
                 conventions: Mapping[str, str], weight: float = 1) -> None:
        self.client = client
        self.weight = weight  # a declared sampling ratio: each summed span counts 1 / p
        self.opts = client.opts
        self.prefix = client.prefix
        self.cols = cols
        self.conventions = dict(conventions)
        self.sql = q.rollup_sql(self.opts.stream, cols, self.opts.only)
        self.count_sql = q.count_sql(self.opts.stream, cols, self.opts.only)
        # column -> "team.id (span) for team", for error lines
        self.labels = {c.column: f"{c.key} ({c.scope}) for {f}" for f, fc in cols.items()
                       for c in fc.candidates if c.column in fc.columns}
        self.rows: dict[tuple[date, Dims], Counts] = {}
        self.stats = {"windows": 0, "splits": 0, "pages": 0, "llm_spans": 0,
                      "exclusive_detected": 0, "late_spans": 0, "agent_spans": 0}
        self.notes: list[str] = []
        self.max_range_us: int | None = None  # learnt from a clamp

    def run(self, window_start: date, window_end: date, progress: ProgressFn | None) -> None:
        """Every UTC day of ``[window_start, window_end)``; raises on the first failure."""
        days = (window_end - window_start).days
        label = f"{self.prefix} {self.opts.stream}"
        if progress:
            progress(label, 0, days)
        for i in range(days):
            day = window_start + timedelta(days=i)
            start = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * US
            step = self.opts.window_us
            t = start
            while t < start + DAY_US:
                if self.max_range_us:
                    step = min(step, self.max_range_us)
                end = min(t + step, start + DAY_US)
                for hit in self.window(t, end):
                    self.add(hit, window_label(t, end))
                t = end
            if progress:
                progress(label, i + 1, days)

    def window(self, start: int, end: int) -> list[dict[str, Any]]:
        """All rows of ``[start, end)``, split until the server answers whole."""
        try:
            return self.query(start, end)
        except Incomplete as e:
            if end - start <= MIN_WINDOW_US:
                raise SourceError(
                    f"{self.prefix} {window_label(start, end)}: {e.reason}; still incomplete "
                    "at a one-minute window, refusing to undercount") from None
            if e.new_range and e.new_range >= MIN_WINDOW_US:
                self.max_range_us = min(self.max_range_us or e.new_range, e.new_range)
            cut = e.new_start if e.new_start and start < e.new_start < end else (start + end) // 2
            cut -= cut % US  # whole seconds
            if not start < cut < end:
                cut = (start + end) // 2
            self.stats["splits"] += 1
            if self.stats["splits"] == 1:
                self.notes.append(f"{self.prefix}: {window_label(start, end)}: {e.reason}; "
                                  "windows split and asked again")
            return self.window(start, cut) + self.window(cut, end)

    def query(self, start: int, end: int) -> list[dict[str, Any]]:
        """One window: count, then the rollup pages; the pages must add up to the count."""
        self.stats["windows"] += 1
        where = f"{self.prefix} {window_label(start, end)}"
        expected = None
        if self.opts.verify_counts:
            got = self.client.search(self.count_sql, start, end, 0, 1, self.labels)
            expected = _int(got[0], q.SPANS, where) if got else 0
        hits: list[dict[str, Any]] = []
        size = self.opts.page_size
        for page in range(MAX_PAGES):
            batch = self.client.search(self.sql, start, end, page * size, size, self.labels)
            self.stats["pages"] += 1
            hits += batch
            if len(batch) < size:
                break
        else:
            raise SourceError(f"{where}: more than {MAX_PAGES} pages of {size} rows; raise "
                              "page_size or lower window_hours")
        if expected is not None:
            total = sum(_int(h, q.REQUESTS, where) + _int(h, q.AGENTS, where) for h in hits)
            if total < expected:
                raise Incomplete(f"rows add up to {total} spans but the window has {expected}: "
                                 "the result was cut")
            self.stats["late_spans"] += total - expected
        return hits

    def add(self, hit: Mapping[str, Any], label: str) -> None:
        """One result row: canonical key, per-span conventions, accumulated."""
        where = f"{self.prefix} {label}"
        dims = canonical_group(tuple(hit.get(q.alias(f)) for f in q.DIMS))
        provider = dims[0]
        day_us = _int(hit, q.DAY, where)
        day = date(1970, 1, 1) + timedelta(days=day_us // DAY_US)
        for f in q.TOKENS:
            bad = _int(hit, q.bad_alias(f), where)
            if bad:
                cols = ", ".join(self.cols[f].columns)
                raise DataError(f"{where}: {bad} span(s) of {'/'.join(dims)} have a "
                                f"{f} value ({cols}) that is not a non-negative integer")
        self.stats["agent_spans"] += _int(hit, q.AGENTS, where)
        requests_ = _int(hit, q.REQUESTS, where)
        if not requests_:
            return  # a group of agent/workflow spans only: nothing to count
        input_raw = _int(hit, q.INPUT_RAW, where)
        inside = _int(hit, q.CACHE_INSIDE, where)
        over = _int(hit, q.OVER, where)
        conv = convention_for(self.conventions, provider, AUTO)
        if conv == EXCLUSIVE:
            input_tokens = input_raw
        else:
            if over and conv == INCLUSIVE:
                raise DataError(
                    f"{where}: {over} span(s) of {'/'.join(dims)} have cache tokens above "
                    f"their input count (input_convention for {provider} is inclusive); the "
                    f"spans look exclusive: set input_convention.{provider} = \"exclusive\"")
            input_tokens = input_raw - inside
            self.stats["exclusive_detected"] += over
        counts = [requests_, input_tokens] + [_int(hit, q.alias(f), where) for f in q.TOKENS[1:]]
        if any(n < 0 for n in counts):
            raise DataError(f"{where}: negative token sum for {'/'.join(dims)}")
        acc = self.rows.setdefault((day, dims), [0] * 7)  # weighted counts, spans seen
        for i, n in enumerate(counts):
            acc[i] += n * self.weight
        acc[6] += requests_
        self.stats["llm_spans"] += requests_

    def frame(self, source: str, where: str) -> pl.DataFrame:
        """The accumulated rows as a validated ``USAGE_SCHEMA`` frame, sorted by key."""
        return usage_frame(self.rows, source, where)


def resolve(client: Client, attributes: AttributeMap) -> tuple[dict[str, q.FieldColumns],
                                                               list[str]]:
    """Fetch the schema and map fields to columns; notes for fields without a column."""
    body = client.schema()
    keys = {f: tuple(attributes[f]) if f in attributes.keys else () for f in
            (*q.DIMS, *q.TOKENS, q.OPERATION)}
    cols = q.resolve_columns(keys, client.opts.scopes, client.schema_columns)
    where = f"{client.prefix} stream {client.opts.stream!r}"
    if not any(cols[f].columns for f in ("model", *q.TOKENS)):
        hint = q.similar_columns(
            [c.column for f in ("model", *q.TOKENS) for c in cols[f].candidates],
            client.schema_columns)
        raise DataError(
            f"{where}: no LLM attributes: none of the configured model or token attributes "
            f"has a column (e.g. {cols['model'].describe()})"
            + (f"; similar columns: {', '.join(hint)}" if hint else ""))
    for f in client.opts.only:
        if not cols[f].columns:
            raise ConfigError(f"sources: {where}: only.{f}: {cols[f].describe()}")
    notes = [f"{where}: {f}: {cols[f].describe()}" for f in (*q.DIMS, *q.TOKENS)
             if not cols[f].columns and cols[f].candidates]
    settings = body.get("settings") if isinstance(body, dict) else None
    mqr = settings.get("max_query_range") if isinstance(settings, dict) else None
    if isinstance(mqr, int) and not isinstance(mqr, bool) and 0 < mqr < 24:
        # Known up front, it saves a clamped round trip per window.
        client.max_range_us = mqr * HOUR_US
        notes.append(f"{where}: max_query_range is {mqr}h: windows of {mqr}h or less")
    return cols, notes


def sampling_plan(source: SpanSource) -> tuple[float, str | None]:
    """(the weight of every span, why the sampling goes unseen) for an OpenObserve source.

    The stream stores no tracestate (the traces stream's columns, reference §2.1) and the
    rollup is a SUM in OpenObserve: a declared source-wide ratio applies to the sums; a rule
    read per span (the tracestate, an attribute, rules per service) is a config error.
    """
    sampling = source.sampling
    where = f"sources.{source.name}.sampling"
    if not sampling.declared:
        return 1, ("OpenObserve stores no tracestate, so the sampling of the spans is not seen: "
                   "each span counts once; if the traces are sampled, declare sampling = "
                   "{ ratio = p }")
    if sampling.per_span:
        raise ConfigError(f"{where}: OpenObserve stores no tracestate and sums the spans "
                          f"itself, so {sampling.describe()} cannot be applied: declare one "
                          "ratio for the source (sampling = { ratio = p }) or \"off\"")
    return sampling.default.weight, None


def pull(source: SpanSource, attributes: AttributeMap, window_start: date, window_end: date,
         *, progress: ProgressFn | None = None,
         sleep: Callable[[float], None] | None = None) -> SpanPull:
    """Roll up ``[window_start, window_end)`` from an OpenObserve traces stream.

    Returns a ``USAGE_SCHEMA`` frame only when every window of every day was answered
    completely; otherwise raises :class:`~finops.errors.SourceError` (or ``DataError`` /
    ``ConfigError``) with one line naming OpenObserve, the window and the field or code.
    """
    opts = parse_options(source)
    prefix = _prefix(source)
    client = Client(opts, prefix, sleep or time.sleep)
    weight, unseen = sampling_plan(source)
    cols, notes = resolve(client, attributes)
    puller = Puller(client, cols, source.input_convention, weight)
    puller.max_range_us = client.max_range_us
    puller.run(window_start, window_end, progress)
    frame = puller.frame(source.name, f"{prefix} {window_start}..{window_end}")
    notes += puller.notes
    st = puller.stats
    if st["exclusive_detected"]:
        notes.append(f"{prefix}: {st['exclusive_detected']} span(s) had cache tokens above "
                     "their input count and were read as exclusive (input_convention auto)")
    if st["late_spans"]:
        notes.append(f"{prefix}: {st['late_spans']} span(s) arrived during the pull")
    if st["agent_spans"]:
        notes.append(f"{prefix}: {st['agent_spans']} agent/workflow span(s) (an operation other "
                     "than a model call, e.g. invoke_agent, AGENT, CHAIN) carry the totals of the "
                     "calls beneath them and were not counted")
    notes.append(f"{prefix}: the rollup runs in OpenObserve, which cannot see duplicate spans "
                 "(the same trace and span id stored twice): it sums what it stores")
    if weight != 1:
        st["sampled_spans"] = st["llm_spans"]
    notes += sampling_notes(prefix, source.sampling, st, frame)
    if unseen:
        notes.append(f"{prefix}: {unseen}")
    stats = {**st, "rows": frame.height, "http_requests": client.http.requests_made,
             "http_bytes": client.http.bytes_received}
    return SpanPull(frame, stats, notes, "" if unseen else source.sampling.describe(), unseen)


def check(source: SpanSource, attributes: AttributeMap | None = None, *,
          sleep: Callable[[float], None] | None = None) -> list[tuple[str, str]]:
    """What ``finops sources check`` shows: healthz, schema, and the column of each field."""
    opts = parse_options(source)
    client = Client(opts, _prefix(source), sleep or (lambda s: None))
    client.http.attempts = 1
    out = [("url", redact(opts.url)), ("org / stream", f"{opts.org} / {opts.stream}")]
    try:
        out.append(("healthz", client.healthz()))
    except FinopsError as e:
        return [*out, ("healthz", f"failed: {e}")]
    try:
        cols, notes = resolve(client, attributes or AttributeMap.default())
    except FinopsError as e:
        return [*out, ("schema", f"failed: {e}")]
    out.append(("schema", f"{len(client.schema_columns)} columns (type=traces)"))
    for f in (*q.DIMS, *q.TOKENS):
        out.append((f"field {f}", cols[f].describe()))
    out += [("note", n) for n in notes if "max_query_range" in n]
    try:
        weight, unseen = sampling_plan(source)
        out.append(("sampling", f"not seen: {unseen}" if unseen else source.sampling.describe()))
    except ConfigError as e:
        out.append(("sampling", f"error: {e}"))
    return out
