"""Write spans as the OpenTelemetry Collector's file exporter does: OTLP JSON, one request a line.

The encoding is OTLP/JSON as the collector writes it: camelCase keys, trace and span ids
as lower-case hex, 64-bit integers (timestamps, ``intValue``) as JSON strings, enums as
integers, default values left out. The demo generator and the ingest benchmark use it;
a test checks it against the real SDK's protobuf encoder.
"""

from __future__ import annotations

import base64
import gzip
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

SPAN_KIND_INTERNAL = 1
SPAN_KIND_CLIENT = 3
# W3C "has is-remote" flag bit the SDK sets on every span it encodes (parent not remote).
FLAGS_HAS_IS_REMOTE = 0x100

_encode = msgspec.json.Encoder().encode


@dataclass(slots=True)
class SpanSpec:
    """One span to encode. Ids are integers (128-bit trace id, 64-bit span ids)."""

    name: str
    trace_id: int
    span_id: int
    start_ns: int
    end_ns: int
    attributes: Mapping[str, Any] = field(default_factory=dict)
    parent_span_id: int | None = None
    kind: int = SPAN_KIND_INTERNAL
    status_code: int = 0
    status_message: str = ""
    flags: int | None = FLAGS_HAS_IS_REMOTE


def any_value(value: Any) -> dict[str, Any]:
    """The OTLP JSON ``AnyValue`` for a Python value (str, bool, int, float, bytes, sequence)."""
    if isinstance(value, str):
        return {"stringValue": value}
    if isinstance(value, bool):  # before int: bool is an int subclass
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, bytes):
        return {"bytesValue": base64.b64encode(value).decode("ascii")}
    if isinstance(value, (list, tuple)):
        return {"arrayValue": {"values": [any_value(v) for v in value]}}
    raise TypeError(f"cannot encode attribute value of type {type(value).__name__}")


def key_values(attributes: Mapping[str, Any]) -> list[dict[str, Any]]:
    """OTLP JSON ``KeyValue`` list for a mapping, in its order."""
    return [{"key": k, "value": any_value(v)} for k, v in attributes.items()]


def span_dict(span: SpanSpec) -> dict[str, Any]:
    """One span as OTLP JSON (a dict ready to serialise)."""
    d: dict[str, Any] = {
        "traceId": f"{span.trace_id:032x}",
        "spanId": f"{span.span_id:016x}",
    }
    if span.parent_span_id:
        d["parentSpanId"] = f"{span.parent_span_id:016x}"
    d["name"] = span.name
    if span.kind:
        d["kind"] = span.kind
    d["startTimeUnixNano"] = str(span.start_ns)
    d["endTimeUnixNano"] = str(span.end_ns)
    if span.attributes:
        d["attributes"] = key_values(span.attributes)
    status: dict[str, Any] = {}
    if span.status_message:
        status["message"] = span.status_message
    if span.status_code:
        status["code"] = span.status_code
    d["status"] = status
    if span.flags:
        d["flags"] = span.flags
    return d


def request_dict(resource_attrs: Mapping[str, Any], spans: Iterable[SpanSpec], *,
                 scope_name: str = "finops", scope_version: str | None = None) -> dict[str, Any]:
    """An ``ExportTraceServiceRequest`` with one resource and one scope, as a dict."""
    scope: dict[str, Any] = {"name": scope_name} if scope_name else {}
    if scope_version:
        scope["version"] = scope_version
    resource = {"attributes": key_values(resource_attrs)} if resource_attrs else {}
    scope_spans: dict[str, Any] = {"scope": scope} if scope else {}
    scope_spans["spans"] = [span_dict(s) for s in spans]
    return {"resourceSpans": [{"resource": resource, "scopeSpans": [scope_spans]}]}


def encode_request(resource_attrs: Mapping[str, Any], spans: Iterable[SpanSpec], *,
                   scope_name: str = "finops", scope_version: str | None = None) -> bytes:
    """One line of a collector file export (without the newline) for ``spans`` of one resource."""
    return _encode(request_dict(resource_attrs, spans, scope_name=scope_name,
                                scope_version=scope_version))


def write_jsonl(path: str | Path, lines: Iterable[bytes]) -> int:
    """Write encoded requests one a line; gzip when ``path`` ends in ``.gz``. Returns line count."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    f = gzip.open(path, "wb", compresslevel=6) if path.suffix == ".gz" else open(path, "wb")
    with f:
        for line in lines:
            f.write(line)
            f.write(b"\n")
            n += 1
    return n
