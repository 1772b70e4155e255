"""Span source: Grafana Tempo (self-hosted or Grafana Cloud Traces).

Tempo aggregates; finops receives groups. In *pushdown* mode (Tempo ≥ 2.8) each UTC day is
asked as TraceQL metrics, per provider and per token attribute::

    { span.gen_ai.provider.name = "openai" && span.gen_ai.usage.input_tokens > 0 }
      | sum_over_time(span.gen_ai.usage.input_tokens)
        by (span.team.id, span.project.id, span.feature.id, span.gen_ai.response.model,
            span.gen_ai.openai.response.service_tier) with(exemplars=0)

plus ``count_over_time()`` for requests. The numeric filter on the summed attribute is
what keeps Tempo's ``sum_over_time`` correct (grafana/tempo#7857). Every key of the
attribute mapping is read, on the span and then on the resource, first one set wins, as the
OTLP file source reads spans; agent and workflow spans are not counted
(:mod:`finops.sources.tempo.pushdown` says how). The number of requests depends on days,
tiles, providers and the attribute shapes in use, never on the number of spans. *Search*
mode (Tempo < 2.8, or ``mode = "search"``) pulls LLM spans through ``/api/search`` instead,
see :mod:`finops.sources.tempo.search`; a pushdown tile holding token counts stored as
strings is read that way too. ``auto`` picks pushdown when the version allows it and falls
back to search when the server answers no TraceQL metrics.

Configuration (``finops.toml``)::

    [[sources]]
    name = "tempo"
    kind = "tempo"
    url = "https://tempo-prod-01-eu-west-0.grafana.net/tempo"  # may carry a path prefix
    tenant = "acme"                 # X-Scope-OrgID, for multi-tenant self-hosted Tempo
    user_env = "TEMPO_USER"         # basic auth (Grafana Cloud: the numeric user id) ...
    password_env = "TEMPO_TOKEN"    # ... and an access policy token with traces:read
    # token_env = "TEMPO_BEARER"    # or a bearer token (not with user_env/password_env)
    verify_tls = true               # or the path of a CA bundle
    mode = "auto"                   # auto | pushdown | search
    timeout = 60                    # seconds per HTTP request (retried on 429/5xx)
    attempts = 5
    step = "3h"                     # pushdown tile; default: the server's metrics maximum
                                    # (3h on 2.x, 24h from 3.0); must divide a day
    # max_duration = "24h"          # a tenant override of the metrics maximum
    search_step = "1h"              # first search tile (halved while it hits the limit)
    search_limit = 5000             # traces per search request
    spss = 100                      # spans per spanset (Tempo's maximum is 100)
    scope = { team = "resource" }   # any (default: span, then resource), span or resource
    keys = { model = "gen_ai.request.model" }  # attribute(s) per field; default: every key
                                               # of [attributes] for that field (fewer keys,
                                               # fewer queries)
    group_by = ["team", "project", "feature", "model", "service_tier"]  # ≤ 5, in by();
                                    # other fields (account) are split through filters
    input_convention = { anthropic = "exclusive" }  # or "inclusive" / "auto" (default)
    sampling = "tracestate"         # search mode, whole traces; pushdown takes { ratio = 0.1 }
                                    # only (nothing declared: spans count once, noted)

Secrets are read from the named environment variables only; errors never print them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date

from finops.canonical import Sampling
from finops.config import AttributeMap, SpanSource
from finops.errors import ConfigError, FinopsError, SourceError, redact
from finops.frames import ProgressFn, SpanPull
from finops.sources.rollup import Rollup, sampling_notes
from finops.sources.tempo.client import (
    DAY,
    MetricsUnavailable,
    ServerInfo,
    TempoClient,
    TempoOptions,
    parse_options,
)
from finops.sources.tempo.decode import Ctx
from finops.sources.tempo.pushdown import Pushdown, days_of
from finops.sources.tempo.search import Search

__all__ = ["check", "pull"]


def _prefix(source: SpanSource) -> str:
    return "tempo" if source.name in ("", "tempo") else f"tempo {source.name}"


def _tile_len(opts: TempoOptions, server: ServerInfo, where: str) -> int:
    maximum = opts.max_duration or server.metrics_max
    if opts.step is None:
        length = min(maximum, DAY)
        while DAY % length:  # a max_duration such as 5h: largest divisor of a day below it
            length -= 60
        return length
    if opts.step > maximum and server.version is not None:
        raise ConfigError(
            f"{where}: step {opts.step}s exceeds the metrics maximum of Tempo "
            f"{server.version} ({maximum}s); lower step or set max_duration")
    return opts.step


def _hours(seconds: int) -> str:
    return f"{seconds // 3600}h" if seconds % 3600 == 0 else f"{seconds // 60}m"


def choose_mode(opts: TempoOptions, server: ServerInfo, where: str) -> tuple[str, str | None]:
    """(mode, note): pushdown where the version has sum_over_time, else search."""
    if opts.mode == "search":
        return "search", None
    if server.has_sum_over_time:
        return "pushdown", None
    if opts.mode == "pushdown":
        raise ConfigError(f"{where}: mode = \"pushdown\" needs sum_over_time (Tempo ≥ 2.8); "
                          f"this Tempo is {server.version}: use mode = \"search\" or \"auto\"")
    return "search", (f"Tempo {server.version} has no sum_over_time (needs ≥ 2.8): "
                      "search mode (raw spans, slower)")


def sampling_plan(source: SpanSource, mode: str) -> tuple[Sampling | None, float, str | None]:
    """How the source's sampling rules apply in ``mode``.

    Returns (per-span rules for search, the weight of every summed span in pushdown, why
    the sampling information goes unseen). Search weighs each span by the declared rules
    (fetching whole traces where a tracestate, an attribute or a service name is needed);
    pushdown sums spans on the server, so it can apply a declared source-wide ratio and
    nothing read per span. Nothing declared: no weights, and the tracestate Tempo keeps goes
    unread (said, never silent).
    """
    sampling = source.sampling
    if not sampling.declared:
        return None, 1, (f"{mode} mode does not read the tracestate (sampling is not declared): "
                         "each span counts once; if the traces are sampled, set sampling = "
                         "\"tracestate\" (search mode, whole traces) or { ratio = p }")
    if mode == "pushdown":
        if sampling.per_span:
            return None, 1, (f"pushdown sums spans in Tempo and cannot see their "
                             f"sampling ({sampling.describe()})")
        return None, sampling.default.weight, None
    return sampling, 1, None


def sampling_line(source: SpanSource, mode: str) -> str:
    """``sources check``: what the spans will be weighted by, or why the sampling goes unseen."""
    sampling = source.sampling
    if mode == "pushdown" and sampling.declared and sampling.per_span:
        return (f"{sampling.describe()}: read per span, so pulls use search mode with whole "
                "traces (pushdown sums spans in Tempo and cannot see their sampling)")
    _, weight, unseen = sampling_plan(source, mode)
    if unseen:
        return f"not seen: {unseen}"
    how = "each span's own (whole traces fetched)" if sampling.per_span else "declared"
    return f"{sampling.describe()}; {how}" if weight == 1 else sampling.describe()


def pull(source: SpanSource, attributes: AttributeMap, window_start: date, window_end: date,
         *, progress: ProgressFn | None = None,
         sleep: Callable[[float], None] | None = None) -> SpanPull:
    """Roll up ``[window_start, window_end)`` from Tempo into a ``USAGE_SCHEMA`` frame.

    The frame is returned only when every tile of every day succeeded; any failure raises
    (:class:`~finops.errors.SourceError` / ``DataError`` / ``ConfigError``) with one line
    naming Tempo, the tile and the field.
    """
    where = f"sources.{source.name}"
    opts = parse_options(source, attributes)
    prefix = _prefix(source)
    client = TempoClient(opts, prefix, sleep or time.sleep)
    server, note = client.buildinfo()
    notes = [note] if note else []
    mode, why = choose_mode(opts, server, where)
    if why:
        notes.append(why)
    if mode == "pushdown" and sampling_plan(source, mode)[2] and source.sampling.declared:
        if opts.mode == "pushdown":
            raise ConfigError(f"{where}.sampling: {sampling_plan(source, mode)[2]}: use mode = "
                              "\"search\" (or \"auto\"), or declare { ratio = p }")
        notes.append(f"sampling ({source.sampling.describe()}) is read per span: search mode "
                     "(pushdown sums spans in Tempo and cannot see their sampling)")
        mode = "search"
    days = days_of(window_start, window_end)
    stats: dict[str, int] = {}
    per_span, sums_weight, unseen = sampling_plan(source, mode)
    rollup = Rollup(source.input_convention, prefix, sums_weight)

    def searcher(tile_len: int) -> Search:
        return Search(client, opts.candidates, tile_len, opts.search_limit, opts.spss, rollup,
                      per_span)

    search = searcher(opts.search_step)
    if mode == "pushdown":
        runner = Pushdown(client, opts.candidates, opts.group_by,
                          _tile_len(opts, server, where), rollup, search_tile=search.tile)
        try:
            runner.run(days, progress)
        except MetricsUnavailable as e:
            if opts.mode == "pushdown":
                raise SourceError(e.line) from None
            notes.append(f"{e.line}: falling back to search mode")
            mode = "search"
            per_span, sums_weight, unseen = sampling_plan(source, mode)
            rollup = Rollup(source.input_convention, prefix, sums_weight)
            search = searcher(opts.search_step)
        else:
            notes += runner.notes
            stats.update(runner.stats)
            stats["agent_spans"] += search.stats["agent_spans"]
            stats["duplicates"] = search.stats["duplicates"]
    if mode == "search":
        search.run(days, progress)
        stats.update(search.stats)
    notes += search.notes
    if stats.get("agent_spans"):
        notes.append(f"{stats['agent_spans']} agent/workflow span(s) (an operation other than "
                     "a model call, e.g. invoke_agent, AGENT, CHAIN) carry the totals of the "
                     "calls beneath them and were not counted")
    if stats.get("duplicates"):
        notes.append(f"{stats['duplicates']} duplicate span(s) (same trace and span id) "
                     "counted once")
    notes += rollup.finish()
    frame = rollup.frame(source.name, f"{prefix} {window_start}..{window_end}")
    if sums_weight != 1:  # pushdown under a declared ratio: every summed span weighed alike
        stats["sampled_spans"] = int(frame["seen_requests"].sum()) if frame.height else 0
    notes += sampling_notes(prefix, source.sampling, stats, frame)
    if unseen:
        notes.append(f"{prefix}: {unseen}")
    stats.update({"http_requests": client.http.requests_made,
                  "http_bytes": client.http.bytes_received,
                  "exclusive_detected": rollup.exclusive_detected, "rows": frame.height,
                  "pushdown": int(mode == "pushdown")})
    notes.insert(0, f"{prefix}: Tempo {server.version or 'version unknown'}, {mode} mode")
    return SpanPull(frame, stats, notes, source.sampling.describe() if not unseen else "",
                    unseen)


def check(source: SpanSource, attributes: AttributeMap | None = None, *,
          sleep: Callable[[float], None] | None = None) -> list[tuple[str, str]]:
    """What ``finops sources check`` shows: url, reachable, version, mode, auth ok."""
    where = f"sources.{source.name}"
    opts = parse_options(source, attributes or AttributeMap.default())
    prefix = _prefix(source)
    client = TempoClient(opts, prefix, sleep or (lambda s: None))
    client.http.attempts = 1
    out = [("url", redact(opts.url))]
    try:
        server, note = client.buildinfo()
    except FinopsError as e:
        if "HTTP 401" in str(e) or "HTTP 403" in str(e):
            return [*out, ("reachable", "yes"), ("version", "unknown (not authorised)"),
                    ("auth", f"failed: {e}")]
        return [*out, ("reachable", f"no: {e}")]
    out.append(("reachable", "yes"))
    out.append(("version", server.version or "unknown (no /api/status/buildinfo)"))
    try:
        mode, why = choose_mode(opts, server, where)
        detail = (f"pushdown (TraceQL metrics, {_hours(_tile_len(opts, server, where))} "
                  "tiles)" if mode == "pushdown" else "search (raw spans)")
        out.append(("mode", detail + (f": {why}" if why else "")))
        out.append(("sampling", sampling_line(source, mode)))
    except ConfigError as e:
        out.append(("mode", f"error: {e}"))
    # buildinfo may bypass auth: ask a real, tiny question (the last 5 minutes).
    now = int(time.time())
    params = {"q": "{ }", "limit": 1, "spss": 1, "start": now - 300, "end": now}
    try:
        client.get("/api/search", params, Ctx(prefix, "auth check"))
        out.append(("auth", "ok"))
    except FinopsError as e:
        out.append(("auth", f"failed: {e}"))
    out.append(("attributes", "; ".join(f"{f}={', '.join(a.ref for a in attrs)}"
                                        for f, attrs in opts.candidates.items() if attrs)))
    return out
