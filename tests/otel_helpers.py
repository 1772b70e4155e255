"""Test input made by the real OpenTelemetry SDK, written as the Collector's file exporter does.

Spans are created with ``opentelemetry-sdk`` (a ``TracerProvider`` per distinct resource and
an ``InMemorySpanExporter``), encoded to protobuf by the OTLP exporter's own encoder
(``encode_spans``), turned into JSON with ``MessageToDict`` and given hex trace/span ids,
exactly as the collector's ``file`` exporter writes them: one ``ExportTraceServiceRequest``
per line.

The simple API other tests use::

    from otel_helpers import write_spans_file  # tests/ is on sys.path (conftest.py)

    write_spans_file(tmp_path / "spans.jsonl", [
        {
            "resource": {"service.name": "chat", "team.id": "search"},  # optional
            "attributes": {"gen_ai.provider.name": "openai",
                           "gen_ai.response.model": "gpt-4o-2024-08-06",
                           "gen_ai.usage.input_tokens": 1200,
                           "gen_ai.usage.output_tokens": 300},
            "start": "2026-10-01T12:00:00Z",  # datetime, ISO string, or int ns since epoch
            # optional: "name" (default "chat"), "end" (default start + 1 s), "kind",
            # "parent": the index of an earlier span in the list (its child, same trace)
        },
    ])

A path ending in ``.gz`` is gzip-compressed. ``spans_per_line`` splits the spans into several
export requests (lines); by default all spans go into one line.
"""

from __future__ import annotations

import base64
import gzip
import json
import random
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from google.protobuf.json_format import MessageToDict
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import SpanKind, set_span_in_context

_ID_FIELDS = ("traceId", "spanId", "parentSpanId")


def to_ns(t: Any) -> int:
    """Nanoseconds since the epoch for a datetime (naive = UTC), an ISO string or an int."""
    if isinstance(t, int):
        return t
    if isinstance(t, str):
        t = datetime.fromisoformat(t.replace("Z", "+00:00"))
    if isinstance(t, datetime):
        if t.tzinfo is None:
            t = t.replace(tzinfo=UTC)
        delta = t - datetime(1970, 1, 1, tzinfo=UTC)
        return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000
    raise TypeError(f"cannot turn {t!r} into a timestamp")


def sdk_spans(spans: Sequence[Mapping[str, Any]]) -> list[ReadableSpan]:
    """Create ``spans`` with the real SDK; returns the finished spans in input order."""
    exporters: dict[tuple[tuple[str, Any], ...], tuple[TracerProvider, InMemorySpanExporter]] = {}
    out: list[ReadableSpan] = []
    live: list[Any] = []
    for spec in spans:
        res = dict(spec.get("resource") or {})
        rkey = tuple(sorted(res.items()))
        if rkey not in exporters:
            exporter = InMemorySpanExporter()
            provider = TracerProvider(resource=Resource.create(res))
            provider.add_span_processor(SimpleSpanProcessor(exporter))
            exporters[rkey] = (provider, exporter)
        provider, exporter = exporters[rkey]
        tracer = provider.get_tracer(spec.get("scope", "finops.tests"), "1.0")
        start = to_ns(spec["start"])
        end = to_ns(spec["end"]) if "end" in spec else start + 1_000_000_000
        parent = spec.get("parent")
        context = None if parent is None else set_span_in_context(live[parent])
        span = tracer.start_span(spec.get("name", "chat"), context=context,
                                 kind=spec.get("kind", SpanKind.CLIENT),
                                 attributes=dict(spec.get("attributes") or {}), start_time=start)
        span.end(end_time=end)
        live.append(span)
        out.append(exporter.get_finished_spans()[-1])
    for provider, _ in exporters.values():
        provider.shutdown()
    return out


def collector_json(readable: Sequence[ReadableSpan]) -> dict[str, Any]:
    """One ``ExportTraceServiceRequest`` as the collector's file exporter writes it (a dict)."""
    msg = MessageToDict(encode_spans(readable), use_integers_for_enums=True)
    for rs in msg.get("resourceSpans", []):
        for ss in rs.get("scopeSpans", []):
            for span in ss.get("spans", []):
                _hex_ids(span)
                for link in span.get("links", []):
                    _hex_ids(link)
    return msg


def _hex_ids(obj: dict[str, Any]) -> None:
    # protobuf JSON gives bytes as base64; OTLP/JSON (and the collector) use hex.
    for f in _ID_FIELDS:
        if f in obj:
            obj[f] = base64.b64decode(obj[f]).hex()


def collector_lines(spans: Sequence[Mapping[str, Any]], spans_per_line: int | None = None
                    ) -> list[bytes]:
    """The JSON lines (without newlines) for ``spans``, ``spans_per_line`` spans per request."""
    readable = sdk_spans(spans)
    step = spans_per_line or max(1, len(readable))
    return [json.dumps(collector_json(readable[i:i + step]), separators=(",", ":")).encode()
            for i in range(0, len(readable), step)]


def write_lines(path: str | Path, lines: Iterable[bytes | str]) -> Path:
    """Write raw lines (gzip when the name ends in ``.gz``); for malformed-input tests."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = b"".join((x.encode() if isinstance(x, str) else x) + b"\n" for x in lines)
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def write_spans_file(path: str | Path, spans: Sequence[Mapping[str, Any]], *,
                     spans_per_line: int | None = None) -> Path:
    """Write ``spans`` (dicts of ``resource``, ``attributes``, ``start``: see module doc)."""
    return write_lines(path, collector_lines(spans, spans_per_line))


def llm_span(start: Any, *, provider: str | None = "openai", model: str | None = "gpt-4o",
             input_tokens: int | None = 100, output_tokens: int | None = 10,
             resource: Mapping[str, Any] | None = None, **attrs: Any) -> dict[str, Any]:
    """A GenAI-convention span dict for :func:`write_spans_file`; extra attrs by keyword."""
    a: dict[str, Any] = {}
    if provider is not None:
        a["gen_ai.provider.name"] = provider
    if model is not None:
        a["gen_ai.response.model"] = model
    if input_tokens is not None:
        a["gen_ai.usage.input_tokens"] = input_tokens
    if output_tokens is not None:
        a["gen_ai.usage.output_tokens"] = output_tokens
    a.update(attrs)
    return {"resource": dict(resource or {}), "attributes": a, "start": start}


class SeededIds(IdGenerator):
    """An SDK ``IdGenerator`` drawing trace and span ids from its own seeded generator, so a
    sampled population is the same on every run (the SDK's default ids come from ``random``)."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)

    def generate_span_id(self) -> int:
        return self._rng.getrandbits(64) or 1

    def generate_trace_id(self) -> int:
        return self._rng.getrandbits(128) or 1


def sampled_sdk_spans(spans: Sequence[Mapping[str, Any]], sampler: Any, seed: int,
                      resource: Mapping[str, Any] | None = None) -> list[ReadableSpan]:
    """The spans a real SDK ``sampler`` keeps of ``spans`` (each a root span: its own trace).

    The sampler decides on the trace id as in production (``TraceIdRatioBased``, or the
    consistent-probability ``composite_sampler``, which writes ``ot=th:…`` into the span's
    tracestate); ids come from :class:`SeededIds` so ``seed`` fixes which spans are kept.
    """
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create(dict(resource or {})), sampler=sampler,
                              id_generator=SeededIds(seed))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("finops.tests", "1.0")
    for spec in spans:
        start = to_ns(spec["start"])
        span = tracer.start_span(spec.get("name", "chat"), kind=SpanKind.CLIENT, start_time=start)
        # set after the start, as GenAI instrumentations set usage once the response is in (and
        # because the SDK's experimental composite sampler drops the attributes given at start)
        span.set_attributes(dict(spec.get("attributes") or {}))
        span.end(end_time=start + 1_000_000_000)
    provider.shutdown()
    return list(exporter.get_finished_spans())
