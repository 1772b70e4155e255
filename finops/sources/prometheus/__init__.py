"""Span-side source ``prometheus``: GenAI token usage from metrics, in any Prometheus-API store.

OpenTelemetry GenAI instrumentations record ``gen_ai.client.token.usage`` (a histogram by
``gen_ai.token.type``) and ``gen_ai.client.operation.duration`` (its count is the number of
calls) for every call: metrics are never sampled. Prometheus, Grafana Mimir, Thanos and
VictoriaMetrics all answer the Prometheus HTTP API, so the daily rollup is pushed down as
PromQL, one range query per metric with one point per UTC day end::

    sum by (gen_ai_provider_name, gen_ai_response_model, …, team_id, gen_ai_token_type) (
      <daily increase of gen_ai_client_token_usage_sum{gen_ai_operation_name=~"chat|…|"}>)

and ``…_count`` of the duration histogram for requests. The daily increase is exact per
series (last value of the day minus the last value before it; see
:mod:`finops.sources.prometheus.promql` for why ``increase()`` alone is not), and series with
a counter reset fall back to the server's ``increase()``. The newer counters
``gen_ai.client.inference.tokens``, ``…input_tokens_by_cache`` and ``…output_tokens_by_phase``
(``_total`` in Prometheus) are read where present; a process that reports through them is
not also counted from the histogram. Only inference operations count (``operations``);
series without ``gen_ai_operation_name`` count too.

Labels are OpenTelemetry attribute keys with ``.`` → ``_`` (``team.id`` → ``team_id``), as
the Collector's Prometheus exporters, Prometheus' OTLP receiver and the SDK's exporter write
them. Resource attributes (team, project, ...) are labels only where the pipeline promotes
them; otherwise they are in ``target_info``, joined on ``job`` and ``instance``. ``resource =
"auto"`` looks at the labels the token metric has and joins ``target_info`` for the
``resource_fields`` it lacks.

Configuration (``finops.toml``)::

    [[sources]]
    name = "metrics"
    kind = "prometheus"
    url = "http://prometheus:9090"   # Mimir: https://mimir.example.com/prometheus;
                                     # VictoriaMetrics: http://victoria:8428; vmselect:
                                     # http://vmselect:8481/select/0/prometheus; Thanos Query
    tenant = "acme"                  # X-Scope-OrgID (Mimir, Cortex, VictoriaMetrics vmauth)
    user_env = "PROM_USER"           # basic auth ...
    password_env = "PROM_PASSWORD"   # ... or token_env = "PROM_TOKEN" (bearer)
    verify_tls = true                # or the path of a CA bundle
    timeout = 120                    # seconds per HTTP request
    attempts = 5                     # retries on 429/5xx (never on a limit or a timeout)
    selector = 'deployment_environment="prod"'  # extra label matchers on every metric
                                     # (target_info included: use labels both carry)
    resource = "auto"                # auto | labels (promoted) | target_info (joined)
    join_on = ["job", "instance"]    # target_info join keys (one process)
    resource_fields = ["team", "project", "feature", "account"]  # may come from target_info
    labels = { team = ["team_id", "team"] }  # label(s) per field, first present wins;
                                     # default: the [attributes] keys with . → _
    metrics = { token_usage = "gen_ai_client_token_usage" }  # default: detected (families:
                                     # token_usage, operation_duration, inference_tokens,
                                     # input_by_cache, output_by_phase)
    operations = ["chat", "text_completion", "generate_content", "embeddings"]  # [] = all
    max_points = 11000               # days per query (Prometheus' points-per-series limit);
                                     # halved, then split by series, when refused
    allow_warnings = false           # a warning (partial data) fails the pull unless true
    check_lookback = "35d"           # how far back `finops sources check` looks for metrics

What the metrics cannot say: the histogram and ``inference.tokens`` count input tokens
*including* cache reads and writes without telling them apart, so those tokens are all
estimated at the base input rate (see :mod:`finops.sources.prometheus.rollup`). Metrics are
timestamped when scraped, so a call in the last scrape interval before midnight UTC counts
on the next day.

Secrets are read from the named environment variables only; errors never print them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

from finops.config import AttributeMap, SpanSource
from finops.errors import FinopsError, redact
from finops.frames import ProgressFn, SpanPull
from finops.sources.prometheus.client import PromClient, TooBig
from finops.sources.prometheus.options import FAMILIES, PromOptions, parse_options
from finops.sources.prometheus.promql import present, regex_alternatives, selector, string
from finops.sources.prometheus.pushdown import DAY, Plan, Runner, Spec, epoch
from finops.sources.prometheus.rollup import Rollup

__all__ = ["check", "pull", "validate"]


def validate(source: SpanSource, attributes: AttributeMap) -> None:
    """Check the source's options at ``finops.toml`` load (secrets are named, not read)."""
    parse_options(source, attributes)

TOKEN_TYPE, CACHE, PHASE, OPERATION = "gen_ai_token_type", "gen_ai_token_cache", "gen_ai_token_phase", \
    "gen_ai_operation_name"
DISCOVER = '__name__=~"gen_ai_.*|target_info"'


def _prefix(source: SpanSource) -> str:
    return "prometheus" if source.name in ("", "prometheus") else f"prometheus {source.name}"


@dataclass
class Found:
    """Which metric families the server has in a time range, and where resource labels are."""

    names: dict[str, str] = field(default_factory=dict)  # family -> metric name
    has_target_info: bool = False
    labels: dict[str, list[str]] = field(default_factory=dict)  # metric -> label names
    copy: tuple[str, ...] = ()  # labels joined from target_info
    notes: list[str] = field(default_factory=list)

    def series(self, family: str) -> str:
        """The series a family's counts are read from (histograms: ``_sum``)."""
        name = self.names[family]
        return {"token_usage": f"{name}_sum", "operation_duration": f"{name}_count"}.get(family, name)

    @property
    def token_metric(self) -> str | None:
        """The main token series (the one resource labels are looked for on)."""
        for fam in ("token_usage", "inference_tokens", "input_by_cache", "output_by_phase"):
            if fam in self.names:
                return self.series(fam)
        return None


def discover(client: PromClient, opts: PromOptions, lo: int, hi: int, where: str) -> Found:
    """Find the families (configured names win) and decide the target_info join."""
    found = Found()
    try:
        match = "{" + ",".join([DISCOVER, *opts.selector]) + "}"
        names: set[str] | None = set(client.label_values("__name__", [match], lo, hi, where))
    except TooBig:
        names = None
        found.notes.append("the server refused to list metric names (a limit): using the configured "
                           "and default names of the histogram families only")
    for fam, candidates in FAMILIES.items():
        suffix = {"token_usage": "_sum", "operation_duration": "_count"}.get(fam, "")
        configured = opts.metrics.get(fam)
        if names is None:
            if configured or fam in ("token_usage", "operation_duration"):
                found.names[fam] = configured or candidates[0]
            continue
        if configured:
            if configured + suffix in names:
                found.names[fam] = configured
            else:
                found.notes.append(f"metrics.{fam} = {configured!r}: no {configured + suffix} series in "
                                   f"{where}")
            continue
        hit = next((c for c in candidates if c + suffix in names), None)
        if hit:
            found.names[fam] = hit
    found.has_target_info = names is None or "target_info" in names
    _resource_labels(client, opts, found, lo, hi, where)
    return found


def _resource_labels(client: PromClient, opts: PromOptions, found: Found, lo: int, hi: int, where: str) -> None:
    wanted = [lab for f in opts.resource_fields for lab in opts.labels[f]]
    if opts.resource == "labels" or not found.token_metric or not found.has_target_info:
        return
    try:
        info = set(client.label_names([selector("target_info", opts.selector)], lo, hi, where))
        on_metric = set(client.label_names([selector(found.token_metric, opts.selector)], lo, hi, where)) \
            if opts.resource == "auto" else set()
    except TooBig:
        # target_info carries every resource attribute, so joining it is right whether or not
        # the pipeline also promoted them; a process without target_info keeps its own labels.
        found.copy = tuple(dict.fromkeys(wanted))
        if opts.resource == "auto":
            found.notes.append("the server refused to list label names (a limit): resource fields "
                               f"joined from target_info ({', '.join(found.copy)}) without checking")
        return
    found.labels[found.token_metric] = sorted(on_metric)
    found.labels["target_info"] = sorted(info)
    copy = []
    for f in opts.resource_fields:
        if opts.resource == "auto" and any(lab in on_metric for lab in opts.labels[f]):
            continue  # promoted: on the series themselves
        copy += [lab for lab in opts.labels[f] if lab in info]
    missing = [k for k in opts.join_on if k not in info or (on_metric and k not in on_metric)]
    if copy and missing and opts.resource == "auto":
        found.notes.append(f"target_info has {', '.join(copy)} but the join key(s) {', '.join(missing)} "
                           "are missing on one side: not joined (set join_on)")
        return
    found.copy = tuple(dict.fromkeys(copy))


def base_matchers(opts: PromOptions) -> tuple[str, ...]:
    """Matchers on every GenAI series: inference operations (or no operation label), the selector."""
    ops = ([f"{OPERATION}=~{string(regex_alternatives([*opts.operations, '']))}"]
           if opts.operations else [])
    return (*ops, *opts.selector)


def specs(found: Found, opts: PromOptions) -> list[tuple[str, Spec]]:
    """The queries for the families found: (rollup kind, spec)."""
    base = base_matchers(opts)
    has = found.names.__contains__
    sel = {f: selector(found.series(f), base) for f in found.names}
    out: list[tuple[str, Spec]] = []
    newer = [sel[f] for f in ("inference_tokens", "input_by_cache", "output_by_phase") if has(f)]
    if has("token_usage"):
        out.append(("histogram", Spec("histogram", found.series("token_usage"), base, TOKEN_TYPE,
                                      present(newer, opts.join_on) if newer else None)))
    if has("input_by_cache"):
        out.append(("by_cache", Spec("by_cache", found.series("input_by_cache"), base, CACHE)))
    if has("output_by_phase"):
        out.append(("by_phase", Spec("by_phase", found.series("output_by_phase"), base, PHASE)))
    if has("inference_tokens"):
        t = found.series("inference_tokens")
        if has("input_by_cache") or has("output_by_phase"):
            for kind, types, other in (("tokens_in", ["input", "prompt"], "input_by_cache"),
                                       ("tokens_out", ["output", "completion"], "output_by_phase")):
                m = (*base, f"{TOKEN_TYPE}=~{string(regex_alternatives(types))}")
                out.append((kind, Spec(kind, t, m, TOKEN_TYPE,
                                       present([sel[other]], opts.join_on) if has(other) else None)))
        else:
            out.append(("tokens", Spec("tokens", t, base, TOKEN_TYPE)))
    if has("operation_duration"):
        out.append(("requests", Spec("requests", found.series("operation_duration"), base)))
    elif has("token_usage"):
        m = (*base, f'{TOKEN_TYPE}=~"input|prompt"')
        out.append(("requests", Spec("requests", f"{found.names['token_usage']}_count", m)))
    return out


def pull(source: SpanSource, attributes: AttributeMap, window_start: date, window_end: date,
         *, progress: ProgressFn | None = None,
         sleep: Callable[[float], None] | None = None) -> SpanPull:
    """Roll up ``[window_start, window_end)`` from a Prometheus-API store into a ``USAGE_SCHEMA`` frame.

    Returned only when every query of every day succeeded; a refusal is split (days, then
    series) and anything else raises :class:`~finops.errors.SourceError` (or ``DataError``
    for an answer that cannot be a counter) naming the source, days and metric.
    """
    opts = parse_options(source, attributes)
    prefix = _prefix(source)
    client = PromClient(opts, prefix, sleep or time.sleep)
    days = [window_start + timedelta(days=i) for i in range((window_end - window_start).days)]
    where = f"{window_start}..{window_end}"
    version = client.version()
    if not days:
        return SpanPull(Rollup(opts.labels, prefix).frame(source.name, f"{prefix} {where}"), {}, [])
    found = discover(client, opts, epoch(days[0]) - DAY, epoch(days[-1]) + DAY, where)
    plan = Plan(group=tuple(dict.fromkeys(lab for f in opts.labels for lab in opts.labels[f])),
                join_on=opts.join_on, copy=found.copy, info_selector=selector("target_info", opts.selector))
    runner = Runner(client, plan, opts.max_points, progress, prefix)
    todo = specs(found, opts)
    resets = (Spec("resets", found.token_metric, base_matchers(opts), resets=True)
              if found.token_metric else None)
    runner.total = (len(todo) + bool(resets)) * len(runner.chunks(days))
    rollup = Rollup(opts.labels, prefix)
    for kind, spec in todo:
        rollup.add(kind, spec.split, runner.run(spec, days))
    reset_series = sum(v for _, _, v in runner.run(resets, days)) if resets else 0
    frame = rollup.frame(source.name, f"{prefix} {where}")
    notes = [f"{prefix}: {version or 'version unknown'}; "
             + (", ".join(found.names[f] for f in found.names) or "no GenAI metrics found")
             + (f"; {', '.join(found.copy)} joined from target_info on {', '.join(opts.join_on)}"
                if found.copy else "")]
    notes += found.notes + _notes(found, rollup, reset_series, source, prefix)
    notes += [f"{prefix}: server warning accepted: {w}" for w in client.warnings]
    notes += [f"{prefix}: {i}" for i in client.infos]
    stats = {**runner.stats, **rollup.stats, "series_with_resets": int(reset_series),
             "http_requests": client.http.requests_made, "http_bytes": client.http.bytes_received,
             "rows": frame.height, "families": len(found.names)}
    return SpanPull(frame, stats, notes)


def _notes(found: Found, rollup: Rollup, reset_series: float, source: SpanSource, prefix: str) -> list[str]:
    notes = []
    if not found.token_metric:
        notes.append(f"{prefix}: no GenAI token metrics (gen_ai_client_token_usage_sum, "
                     "gen_ai_client_inference_*_total) in the window: nothing loaded")
    unknown_cache = rollup.stats.get("input_tokens_cache_unknown", 0)
    if unknown_cache:
        notes.append(
            f"{prefix}: {unknown_cache:,} input tokens come from metrics that do not tell cache reads "
            "and cache writes apart (gen_ai.client.token.usage / inference.tokens): they are all "
            "estimated at the base input rate (cache reads bill at about a tenth of it, cache writes "
            "above it), so the estimate runs high where prompts are cached; cache_read_tokens and "
            "cache_write_tokens stay 0 for them")
    if found.token_metric and "operation_duration" not in found.names:
        notes.append(f"{prefix}: no gen_ai.client.operation.duration metric: requests counted from "
                     "the token histogram's input observations")
    if reset_series:
        notes.append(f"{prefix}: {int(reset_series)} series-day(s) had a counter reset (a process "
                     "restarted): their increase is the server's increase(), which Prometheus "
                     "extrapolates (values rounded: " f"{rollup.stats.get('rounded_values', 0)})")
    if rollup.unknown:
        shown = ", ".join(f"{k} ({v:,} tokens)" for k, v in rollup.unknown.most_common(5))
        notes.append(f"{prefix}: series with unknown token labels were not counted: {shown}")
    if source.input_convention:
        notes.append(f"{prefix}: input_convention is ignored: metrics give either an input count "
                     "with cache tokens inside it (not separable) or the disjoint by-cache counter")
    return notes


def check(source: SpanSource, attributes: AttributeMap | None = None, *,
          sleep: Callable[[float], None] | None = None) -> list[tuple[str, str]]:
    """What ``finops sources check`` shows: server, GenAI metric names and labels, field mapping."""
    opts = parse_options(source, attributes or AttributeMap.default())
    prefix = _prefix(source)
    client = PromClient(opts, prefix, sleep or (lambda s: None))
    client.http.attempts = 1
    out = [("url", redact(opts.url))]
    try:
        version = client.version()
    except FinopsError as e:
        return [*out, ("reachable", f"no: {e}")]
    out += [("reachable", "yes"),
            ("server", version or "version unknown (buildinfo without a version: VictoriaMetrics answers so)")]
    hi = int(time.time())
    lo = hi - opts.check_lookback
    where = f"last {opts.check_lookback // DAY}d"
    try:
        found = discover(client, opts, lo, hi, where)
    except FinopsError as e:
        return [*out, ("metrics", f"error: {e}")]
    out.append(("auth", "ok"))
    if not found.names:
        return [*out, ("metrics", f"no GenAI metrics (gen_ai_client_*) in the {where}: check url, "
                                  "tenant, or check_lookback")]
    out.append(("metrics", ", ".join(f"{found.series(f)} ({f})" for f in found.names)))
    labels: dict[str, set[str]] = {}
    for metric in dict.fromkeys([found.series(f) for f in found.names]
                                + (["target_info"] if found.has_target_info else [])):
        try:
            got = found.labels.get(metric) or client.label_names([selector(metric, opts.selector)], lo, hi, where)
        except FinopsError as e:
            out.append((f"labels {metric}", f"error: {e}"))
            continue
        labels[metric] = set(got)
        out.append((f"labels {metric}", ", ".join(sorted(set(got) - {"__name__"}))))
    on_metric = labels.get(found.token_metric or "", set())
    info = labels.get("target_info", set())
    for f, names in opts.labels.items():
        hit = [n for n in names if n in on_metric]
        joined = [n for n in names if n in found.copy]
        if hit:
            out.append((f"field {f}", f"{hit[0]} (on the series)"))
        elif joined:
            out.append((f"field {f}", f"{joined[0]} (from target_info, joined on {', '.join(opts.join_on)})"))
        elif any(n in info for n in names):
            out.append((f"field {f}", f"{[n for n in names if n in info][0]} is on target_info only: set "
                                      f"resource = \"target_info\" or add {f} to resource_fields"))
        else:
            default = {"team": "unattributed", "account": "default", "service_tier": "standard"}.get(f, "unknown")
            out.append((f"field {f}", f"not found (tried {', '.join(names)}): rows get {default!r}"))
    out.append(("cache tokens", "separate (input_by_cache)" if "input_by_cache" in found.names else
                "NOT distinguished: the token histogram counts cache reads and writes inside input "
                "tokens, all estimated at the base input rate (estimate runs high where prompts are "
                "cached; see README)"))
    out.append(("requests", f"{found.series('operation_duration')}" if "operation_duration" in found.names
                else "from the token histogram's count (no operation duration metric)"))
    out += [("note", n) for n in found.notes]
    return out
