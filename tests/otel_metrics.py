"""GenAI metrics made by the real OpenTelemetry SDK, as a Prometheus server stores them.

Each *process* is a ``MeterProvider`` with the real ``PrometheusMetricReader``
(opentelemetry-exporter-prometheus) on its own ``CollectorRegistry``. Calls are recorded the
way an OTel GenAI instrumentation records them (``gen_ai.client.token.usage`` histogram by
``gen_ai.token.type``, ``gen_ai.client.operation.duration``, and optionally the newer
counters ``gen_ai.client.inference.tokens``, ``…input_tokens_by_cache`` and
``…output_tokens_by_phase``). The process is then *scraped*: at every scrape time the calls
made since the previous scrape are recorded, the exporter's text exposition is read with
``prometheus_client``'s parser, and every sample gets the scrape's timestamp and the
``job``/``instance`` labels Prometheus adds. Cumulative values restart from zero when a
process restarts (a new ``MeterProvider`` with the same ``instance``: a counter reset).

Resource attributes reach labels only through ``target_info`` unless ``promote`` names them:
then the exporter's own ``resource_attribute_filter`` copies them onto every series (what the
Collector's ``resource_to_telemetry_conversion`` does).

The same call dicts feed :func:`otel_helpers.write_spans_file`, so a test can compare the
span source with the metrics source for identical traffic::

    calls = [llm_span("2026-10-01T12:00:00Z", input_tokens=1200, output_tokens=300,
                      resource={"service.name": "chat", "team.id": "search"})]
    samples = scrape(calls, start="2026-10-01", end="2026-10-03", interval=300)
    load_victoria(url, samples)   # or backfill_prometheus(data_dir, samples)
"""

from __future__ import annotations

import io
import json
import math
import subprocess
import urllib.request
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

# The semantic conventions' advice for gen_ai.client.token.usage buckets.
TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304,
                 16777216, 67108864]
DURATION_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48,
                    40.96, 81.92]
TOKEN_KEYS = {
    "input": ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt"),
    "output": ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens",
               "llm.token_count.completion"),
    "cache_read": ("gen_ai.usage.cache_read.input_tokens", "llm.token_count.prompt_details.cache_read"),
    "cache_write": ("gen_ai.usage.cache_creation.input_tokens",
                    "llm.token_count.prompt_details.cache_write"),
    "reasoning": ("gen_ai.usage.reasoning.output_tokens",),
}
_ALL_TOKEN_KEYS = {k for keys in TOKEN_KEYS.values() for k in keys}

Sample = tuple[str, tuple[tuple[str, str], ...], float, int]  # name, labels, value, ts ms


def epoch_s(t: Any) -> float:
    """Seconds since the epoch for a datetime (naive = UTC), date, ISO string, or int ns / float s."""
    if isinstance(t, int) and not isinstance(t, bool):
        return t / 1e9 if t > 10**12 else float(t)
    if isinstance(t, float):
        return t
    if isinstance(t, str):
        t = datetime.fromisoformat(t.replace("Z", "+00:00"))
    if isinstance(t, date) and not isinstance(t, datetime):
        t = datetime(t.year, t.month, t.day, tzinfo=UTC)
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t.timestamp()


def _tokens(attrs: Mapping[str, Any], kind: str) -> int:
    for k in TOKEN_KEYS[kind]:
        if k in attrs:
            return int(attrs[k])
    return 0


@dataclass
class Instruments:
    """The GenAI instruments of one process, created on its MeterProvider."""

    provider: MeterProvider
    counters: bool  # also the newer counters
    histogram: bool

    def __post_init__(self) -> None:
        m = self.provider.get_meter("opentelemetry.instrumentation.genai", "0.1")
        self.usage = m.create_histogram(
            "gen_ai.client.token.usage", unit="{token}", description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=TOKEN_BUCKETS)
        self.duration = m.create_histogram(
            "gen_ai.client.operation.duration", unit="s", description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS)
        self.tokens = m.create_counter("gen_ai.client.inference.tokens", unit="{token}")
        self.by_cache = m.create_counter("gen_ai.client.inference.input_tokens_by_cache", unit="{token}")
        self.by_phase = m.create_counter("gen_ai.client.inference.output_tokens_by_phase", unit="{token}")

    def record(self, attributes: Mapping[str, Any], duration_s: float = 1.0) -> None:
        """Record one call as an OTel GenAI instrumentation does."""
        attrs = {k: v for k, v in attributes.items() if k not in _ALL_TOKEN_KEYS}
        inp, out = _tokens(attributes, "input"), _tokens(attributes, "output")
        cr, cw = _tokens(attributes, "cache_read"), _tokens(attributes, "cache_write")
        reasoning = _tokens(attributes, "reasoning")
        self.duration.record(duration_s, attrs)
        if self.histogram:
            self.usage.record(inp, {**attrs, "gen_ai.token.type": "input"})
            self.usage.record(out, {**attrs, "gen_ai.token.type": "output"})
        if self.counters:
            for ttype, n in (("input", inp), ("output", out)):
                self.tokens.add(n, {**attrs, "gen_ai.token.type": ttype, "gen_ai.token.modality": "text"})
            for cache, n in (("none", inp - cr - cw), ("read", cr), ("creation", cw)):
                if n:
                    self.by_cache.add(n, {**attrs, "gen_ai.token.cache": cache})
            for phase, n in (("response", out - reasoning), ("reasoning", reasoning)):
                if n:
                    self.by_phase.add(n, {**attrs, "gen_ai.token.phase": phase})


@dataclass
class Process:
    """One instrumented process: its resource, its scrape target, its lifetime."""

    resource: Mapping[str, Any]
    instance: str
    job: str
    born: float
    dies: float
    calls: list[tuple[float, Mapping[str, Any]]] = field(default_factory=list)
    counters: bool = False  # also records the newer counters (a call dict's "counters": True)


def processes_for(calls: Sequence[Mapping[str, Any]], start: float, end: float,
                  restarts: Mapping[str, Sequence[Any]] | None = None) -> list[Process]:
    """Group call dicts into processes: one per ``process`` key (default: per resource).

    ``restarts`` maps a process key to restart times: the process is replaced by a new one
    with the same ``instance`` (its counters start again from zero).
    """
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for c in calls:
        res = dict(c.get("resource") or {})
        key = str(c.get("process") or json.dumps(sorted(res.items()), default=str))
        groups.setdefault(key, []).append(c)
    out: list[Process] = []
    for key, group in sorted(groups.items()):
        res = dict(group[0].get("resource") or {})
        cuts = sorted(epoch_s(t) for t in (restarts or {}).get(key, ()))
        bounds = [start, *cuts, end]
        h = zlib.crc32(key.encode())  # the same process gets the same address however calls are split
        instance = f"10.{h >> 16 & 255}.{h >> 8 & 255}.{h & 255}:9464"
        job = str(res.get("service.name", "genai"))
        for lo, hi in zip(bounds, bounds[1:], strict=False):
            p = Process(res, instance, job, lo, hi)
            p.calls = sorted(((epoch_s(c["start"]), c["attributes"]) for c in group
                              if lo <= epoch_s(c["start"]) < hi), key=lambda x: x[0])
            p.counters = any(c.get("counters") for c in group)
            out.append(p)
    return out


def scrape(calls: Sequence[Mapping[str, Any]], *, start: Any, end: Any, interval: float = 300,
           offset: float = 7, counters: bool = False, histogram: bool = True,
           promote: Iterable[str] = (), restarts: Mapping[str, Sequence[Any]] | None = None,
           buckets: bool = True, extra_labels: Mapping[str, str] | None = None) -> list[Sample]:
    """Scrape every process every ``interval`` seconds (at ``offset`` past the grid) in [start, end).

    A process appears at the first scrape after its first call (the SDK has no data point
    before) and is scraped until it dies; a call at time t is in every scrape after t.
    ``buckets=False`` leaves out ``_bucket`` series (smaller loads; finops never reads them).
    """
    lo, hi = epoch_s(start), epoch_s(end)
    promoted = set(promote)
    samples: list[Sample] = []
    for proc in processes_for(calls, lo, hi, restarts):
        if not proc.calls:
            continue
        registry = CollectorRegistry()
        reader = PrometheusMetricReader(
            registry=registry,
            resource_attribute_filter=(lambda k: k in promoted) if promoted else None)
        provider = MeterProvider(metric_readers=[reader], resource=Resource.create(dict(proc.resource)))
        inst = Instruments(provider, counters=counters or proc.counters, histogram=histogram)
        target = (("instance", proc.instance), ("job", proc.job), *sorted((extra_labels or {}).items()))
        i = 0
        last: list[tuple[str, tuple[tuple[str, str], ...], float]] = []
        t = math.floor((proc.born - offset) / interval) * interval + offset
        if t < proc.born:
            t += interval
        while t < proc.dies:
            recorded = False
            while i < len(proc.calls) and proc.calls[i][0] < t:
                inst.record(proc.calls[i][1])
                i += 1
                recorded = True
            if recorded:
                last = _exposition(registry, target, buckets)
            ts = int(round(t * 1000))
            samples.extend((name, labels, value, ts) for name, labels, value in last)
            t += interval
        provider.shutdown()
    return samples


def _exposition(registry: CollectorRegistry, target: tuple[tuple[str, str], ...], buckets: bool
                ) -> list[tuple[str, tuple[tuple[str, str], ...], float]]:
    """The samples the exporter serves, as ``generate_latest(registry)`` renders them.

    Read from ``registry.collect()`` (the families the text is rendered from) rather than
    from the text itself: the same names, labels and values, ten times faster.
    """
    out = []
    for fam in registry.collect():
        for s in fam.samples:
            if not buckets and s.name.endswith("_bucket"):
                continue
            labels = {**s.labels, **dict(target)}
            out.append((s.name, tuple(sorted(labels.items())), float(s.value)))
    return out


def text_samples(registry: CollectorRegistry) -> list[tuple[str, tuple[tuple[str, str], ...], float]]:
    """The exporter's text exposition, parsed back (to check :func:`_exposition` against)."""
    return [(s.name, tuple(sorted(s.labels.items())), float(s.value))
            for fam in text_string_to_metric_families(generate_latest(registry).decode())
            for s in fam.samples]


def _label_text(labels: Iterable[tuple[str, str]]) -> str:
    def esc(v: str) -> str:
        return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
    return ",".join(f'{k}="{esc(v)}"' for k, v in labels)


def _value(v: float) -> str:
    return repr(int(v)) if v.is_integer() else repr(v)


def prometheus_text(samples: Iterable[Sample]) -> bytes:
    """Samples as the Prometheus text format with millisecond timestamps (VictoriaMetrics import)."""
    buf = io.StringIO()
    for name, labels, value, ts in samples:
        buf.write(f"{name}{{{_label_text(labels)}}} {_value(value)} {ts}\n")
    return buf.getvalue().encode()


def openmetrics_text(samples: Iterable[Sample]) -> bytes:
    """Samples as OpenMetrics (second timestamps, series contiguous, ``# EOF``) for promtool."""
    series: dict[tuple[str, tuple[tuple[str, str], ...]], list[tuple[int, float]]] = {}
    for name, labels, value, ts in samples:
        series.setdefault((name, labels), []).append((ts, value))
    buf = io.StringIO()
    for (name, labels), points in sorted(series.items()):
        for ts, value in sorted(points):
            buf.write(f"{name}{{{_label_text(labels)}}} {_value(value)} {ts / 1000:.3f}\n")
    buf.write("# EOF\n")
    return buf.getvalue().encode()


def load_victoria(url: str, samples: Sequence[Sample], *, chunk: int = 200_000) -> None:
    """POST samples to VictoriaMetrics' ``/api/v1/import/prometheus`` and flush them to search."""
    for i in range(0, len(samples), chunk):
        req = urllib.request.Request(url.rstrip("/") + "/api/v1/import/prometheus",
                                     data=prometheus_text(samples[i:i + chunk]), method="POST")
        with urllib.request.urlopen(req, timeout=120) as resp:
            resp.read()
    with urllib.request.urlopen(url.rstrip("/") + "/internal/force_flush", timeout=60) as resp:
        resp.read()


def load_victoria_json(url: str, samples: Sequence[Sample], *, series_per_post: int = 2000) -> int:
    """POST samples to ``/api/v1/import`` as JSON lines (one line per series: labels once).

    Much smaller than the text format for long series (the demo month); returns the number
    of series.
    """
    series: dict[tuple[str, tuple[tuple[str, str], ...]], tuple[list[float], list[int]]] = {}
    for name, labels, value, ts in samples:
        vals, times = series.setdefault((name, labels), ([], []))
        vals.append(value)
        times.append(ts)
    lines = [json.dumps({"metric": {"__name__": name, **dict(labels)}, "values": vals, "timestamps": times},
                        separators=(",", ":"))
             for (name, labels), (vals, times) in series.items()]
    for i in range(0, len(lines), series_per_post):
        body = ("\n".join(lines[i:i + series_per_post]) + "\n").encode()
        req = urllib.request.Request(url.rstrip("/") + "/api/v1/import", data=body, method="POST")
        with urllib.request.urlopen(req, timeout=300) as resp:
            resp.read()
    with urllib.request.urlopen(url.rstrip("/") + "/internal/force_flush", timeout=60) as resp:
        resp.read()
    return len(lines)


def backfill_prometheus(data_dir: Path, samples: Sequence[Sample], *, promtool: str = "promtool",
                        log: Callable[[str], None] | None = None) -> None:
    """Write samples into TSDB blocks under ``data_dir`` with ``promtool tsdb create-blocks-from``."""
    data_dir.mkdir(parents=True, exist_ok=True)
    src = data_dir.parent / f"{data_dir.name}.om"
    src.write_bytes(openmetrics_text(samples))
    # Blocks of up to 4 days: the default 2 h blocks make a few days of samples take 15x longer.
    proc = subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", "--max-block-duration=96h",
                           str(src), str(data_dir)], capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"promtool backfill failed ({proc.returncode}): {proc.stderr[-2000:]}")
    if log:
        log(proc.stdout[-500:])
    src.unlink()
