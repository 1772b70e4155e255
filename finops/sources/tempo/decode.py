"""Decode Tempo's JSON (gogo jsonpb) defensively, naming the field on any surprise.

jsonpb rules (reference §0): int64 fields are JSON strings, zero scalars are omitted
(a sample without ``value`` is 0, a response without ``status`` is complete), NaN is the
string ``"NaN"``. Every check names the path: ``series[2].samples[0].value``.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass
from typing import Any

import requests

from finops.errors import SourceError, redact

Scalar = str | int | float | bool


@dataclass(frozen=True)
class Ctx:
    """Where a response came from: ``tempo 2026-10-03T00:00Z..03:00Z``."""

    prefix: str
    where: str

    def fail(self, path: str, problem: str) -> SourceError:
        """An error line naming Tempo, the window and the field."""
        return SourceError(f"{self.prefix} {self.where}: {path}: {problem}")


def show(value: Any) -> str:
    """A short rendering of an unexpected JSON value for an error line."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    text = json.dumps(value)
    return redact(text if len(text) <= 40 else text[:40] + "…")


def json_body(resp: requests.Response, ctx: Ctx) -> dict[str, Any]:
    """The response body as a JSON object, or one clear error line."""
    raw = resp.content or b""
    head = raw[:64].lstrip().lower()
    if head.startswith((b"<!doctype", b"<html")):
        raise ctx.fail("body", "expected JSON, got an HTML page (not the Tempo API: check "
                               "the url, its path prefix, or the proxy in front of Tempo)")
    try:
        body = json.loads(raw)
    except ValueError as e:
        text = raw.decode("utf-8", "replace")
        cut = " (truncated?)" if text.rstrip()[-1:] not in ("}", "]") else ""
        raise ctx.fail("body", f"not valid JSON{cut}: {getattr(e, 'msg', e)} at char "
                               f"{getattr(e, 'pos', '?')} of {len(text)}") from None
    if not isinstance(body, dict):
        raise ctx.fail("body", f"expected a JSON object, got {show(body)}")
    return body


def _list(obj: dict[str, Any], key: str, path: str, ctx: Ctx) -> list[Any]:
    value = obj.get(key)
    if value is None:
        return []  # empty repeated fields are omitted
    if not isinstance(value, list):
        raise ctx.fail(f"{path}{key}", f"expected a list, got {show(value)}")
    return value


def _obj(value: Any, path: str, ctx: Ctx) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ctx.fail(path, f"expected an object, got {show(value)}")
    return value


def integer(value: Any, path: str, ctx: Ctx, *, default: int | None = None) -> int:
    """An int64/uint32 field: a JSON string or number; missing means ``default``."""
    if value is None and default is not None:
        return default
    if isinstance(value, bool):
        raise ctx.fail(path, f"expected an integer, got {show(value)}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass
    raise ctx.fail(path, f"expected an integer, got {show(value)}")


def number(value: Any, path: str, ctx: Ctx) -> float:
    """A double field (sample value): missing is 0; NaN/Infinity are refused."""
    if value is None:
        return 0.0
    if isinstance(value, bool):
        raise ctx.fail(path, f"expected a number, got {show(value)}")
    if isinstance(value, int | float):
        out = float(value)
    elif isinstance(value, str):
        try:
            out = float(value)
        except ValueError:
            raise ctx.fail(path, f"expected a number, got {show(value)}") from None
    else:
        raise ctx.fail(path, f"expected a number, got {show(value)}")
    if not math.isfinite(out):
        raise ctx.fail(path, f"expected a finite number, got {show(value)} (a NaN sum is "
                             "what grafana/tempo#7857 produces without a numeric filter)")
    return out


def any_value(value: Any, path: str, ctx: Ctx) -> Scalar | None:
    """An OTLP AnyValue: ``{"stringValue": ...}``, ``{"intValue": "12"}``, ...; None if empty."""
    v = _obj(value, path, ctx)
    if "stringValue" in v:
        s = v["stringValue"]
        if not isinstance(s, str):
            raise ctx.fail(f"{path}.stringValue", f"expected a string, got {show(s)}")
        return s
    if "intValue" in v:
        return integer(v["intValue"], f"{path}.intValue", ctx)
    if "doubleValue" in v:
        d = v["doubleValue"]
        if isinstance(d, str) and d in ("NaN", "Infinity", "-Infinity"):
            return float(d)
        if isinstance(d, bool) or not isinstance(d, int | float):
            raise ctx.fail(f"{path}.doubleValue", f"expected a number, got {show(d)}")
        return float(d)
    if "boolValue" in v:
        return bool(v["boolValue"])
    return None  # arrays, kvlists, bytes, or an empty AnyValue: not a usable value


def attributes(items: Any, path: str, ctx: Ctx) -> dict[str, Scalar]:
    """A KeyValue list as a dict (unusable values dropped)."""
    if items is None:
        return {}
    if not isinstance(items, list):
        raise ctx.fail(path, f"expected a list, got {show(items)}")
    out: dict[str, Scalar] = {}
    for i, kv in enumerate(items):
        kv = _obj(kv, f"{path}[{i}]", ctx)
        key = kv.get("key")
        if not isinstance(key, str):
            raise ctx.fail(f"{path}[{i}].key", f"expected a string, got {show(key)}")
        if "value" not in kv:
            continue
        value = any_value(kv["value"], f"{path}[{i}].value", ctx)
        if value is not None:
            out[key] = value
    return out


@dataclass
class Series:
    """One metrics series: its labels (key as written in by()) and its samples."""

    labels: dict[str, Scalar]
    samples: list[tuple[int, float]]


@dataclass
class MetricsResult:
    """A decoded range query: series, and whether Tempo said the answer is partial."""

    series: list[Series]
    partial: bool
    message: str


def _labels_fast(items: Any) -> dict[str, Scalar] | None:
    """String labels without building error paths; None if anything needs a closer look."""
    if items is None:
        return {}
    if type(items) is not list:
        return None
    out: dict[str, Scalar] = {}
    for kv in items:
        if type(kv) is not dict:
            return None
        key, value = kv.get("key"), kv.get("value")
        if type(key) is not str or type(value) is not dict:
            return None
        s = value.get("stringValue")
        if type(s) is not str or len(value) != 1:
            return None
        out[key] = s
    return out


def metrics_range(body: dict[str, Any], ctx: Ctx) -> MetricsResult:
    """Decode ``/api/metrics/query_range``.

    A month of pushdown is a few hundred answers of up to thousands of series each, so
    the common shapes are checked without building field paths; anything unusual goes
    through the careful decoders, which name the field.
    """
    out: list[Series] = []
    for i, s in enumerate(_list(body, "series", "", ctx)):
        if type(s) is not dict:
            raise ctx.fail(f"series[{i}]", f"expected an object, got {show(s)}")
        labels = _labels_fast(s.get("labels"))
        if labels is None:
            labels = attributes(s.get("labels"), f"series[{i}].labels", ctx)
        raw = s.get("samples")
        if raw is None:
            raw = []
        elif type(raw) is not list:
            raise ctx.fail(f"series[{i}].samples", f"expected a list, got {show(raw)}")
        samples = []
        for j, sample in enumerate(raw):
            ts = sample.get("timestampMs") if type(sample) is dict else None
            value = sample.get("value", 0) if type(sample) is dict else None
            if type(ts) is str and ts.isdigit() and (
                    type(value) is int or (type(value) is float and math.isfinite(value))):
                samples.append((int(ts), float(value)))
                continue
            sp = f"series[{i}].samples[{j}]"
            sample = _obj(sample, sp, ctx)
            if "timestampMs" not in sample:
                raise ctx.fail(f"{sp}.timestampMs", "missing")
            samples.append((integer(sample["timestampMs"], f"{sp}.timestampMs", ctx),
                            number(sample.get("value"), f"{sp}.value", ctx)))
        out.append(Series(labels, samples))
    status = body.get("status", "")
    if not isinstance(status, str):
        raise ctx.fail("status", f"expected a string, got {show(status)}")
    message = body.get("message", "")
    return MetricsResult(out, status == "PARTIAL", message if isinstance(message, str) else "")


@dataclass
class SearchSpan:
    """A span as search returns it: bare attribute names (no scope)."""

    span_id: str
    start_ns: int
    attributes: dict[str, Scalar]


@dataclass
class SearchTrace:
    """A search hit: the trace id (32 hex), its spans, and whether spss dropped some."""

    trace_id: str
    spans: list[SearchSpan]
    truncated: bool


def hex_id(value: Any, width: int, path: str, ctx: Ctx) -> str:
    """A hex id left-padded to ``width`` (search strips leading zeros, #4723)."""
    if not isinstance(value, str) or not value:
        raise ctx.fail(path, f"expected a hex id, got {show(value)}")
    try:
        int(value, 16)
    except ValueError:
        raise ctx.fail(path, f"expected a hex id, got {show(value)}") from None
    if len(value) > width:
        raise ctx.fail(path, f"expected at most {width} hex digits, got {show(value)}")
    return value.lower().rjust(width, "0")


def b64_id(value: Any, width: int, path: str, ctx: Ctx) -> str:
    """A base64 id (``/api/v2/traces``) as lower-case hex of ``width`` digits."""
    if not isinstance(value, str):
        raise ctx.fail(path, f"expected a base64 id, got {show(value)}")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ctx.fail(path, f"expected a base64 id, got {show(value)}") from None
    if len(raw) * 2 > width:
        raise ctx.fail(path, f"expected {width // 2} bytes, got {len(raw)}")
    return raw.hex().rjust(width, "0")


def search_traces(body: dict[str, Any], ctx: Ctx) -> list[SearchTrace]:
    """Decode ``/api/search``."""
    out = []
    for i, t in enumerate(_list(body, "traces", "", ctx)):
        path = f"traces[{i}]"
        t = _obj(t, path, ctx)
        trace_id = hex_id(t.get("traceID"), 32, f"{path}.traceID", ctx)
        sets = t.get("spanSets")
        key = "spanSets"
        if sets is None and isinstance(t.get("spanSet"), dict):
            sets, key = [t["spanSet"]], "spanSet"  # older versions: only the deprecated field
        if sets is None:
            sets = []
        if not isinstance(sets, list):
            raise ctx.fail(f"{path}.{key}", f"expected a list, got {show(sets)}")
        spans: list[SearchSpan] = []
        truncated = False
        for j, ss in enumerate(sets):
            sp = f"{path}.{key}[{j}]" if key == "spanSets" else f"{path}.spanSet"
            ss = _obj(ss, sp, ctx)
            raw = _list(ss, "spans", f"{sp}.", ctx)
            matched = integer(ss.get("matched"), f"{sp}.matched", ctx, default=0)
            truncated = truncated or matched > len(raw)
            for k, s in enumerate(raw):
                p = f"{sp}.spans[{k}]"
                s = _obj(s, p, ctx)
                spans.append(SearchSpan(
                    hex_id(s.get("spanID"), 16, f"{p}.spanID", ctx),
                    integer(s.get("startTimeUnixNano"), f"{p}.startTimeUnixNano", ctx),
                    attributes(s.get("attributes"), f"{p}.attributes", ctx)))
        out.append(SearchTrace(trace_id, spans, truncated))
    return out


@dataclass
class TraceSpan:
    """A span of a full trace, with its own and its resource's attributes."""

    span_id: str
    start_ns: int
    span: dict[str, Scalar]
    resource: dict[str, Scalar]
    trace_state: str = ""  # W3C tracestate (``ot=th:…``: the sampling threshold)


def _text(value: Any, path: str, ctx: Ctx) -> str:
    """An optional string field ("" when absent)."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ctx.fail(path, f"expected a string, got {show(value)}")
    return value


def full_trace(body: dict[str, Any], ctx: Ctx) -> tuple[list[TraceSpan], bool]:
    """Decode ``/api/v2/traces/<id>``: the spans, and whether the trace was found."""
    if body.get("status") == "PARTIAL":
        raise ctx.fail("status", f"Tempo returned a partial trace: {show(body.get('message'))}")
    trace = _obj(body.get("trace", {}), "trace", ctx)
    batches = _list(trace, "resourceSpans", "trace.", ctx)
    out: list[TraceSpan] = []
    for i, rs in enumerate(batches):
        path = f"trace.resourceSpans[{i}]"
        rs = _obj(rs, path, ctx)
        res = _obj(rs.get("resource", {}), f"{path}.resource", ctx)
        res_attrs = attributes(res.get("attributes"), f"{path}.resource.attributes", ctx)
        for j, ss in enumerate(_list(rs, "scopeSpans", f"{path}.", ctx)):
            sp = f"{path}.scopeSpans[{j}]"
            ss = _obj(ss, sp, ctx)
            for k, s in enumerate(_list(ss, "spans", f"{sp}.", ctx)):
                p = f"{sp}.spans[{k}]"
                s = _obj(s, p, ctx)
                out.append(TraceSpan(
                    b64_id(s.get("spanId"), 16, f"{p}.spanId", ctx),
                    integer(s.get("startTimeUnixNano"), f"{p}.startTimeUnixNano", ctx,
                            default=0),
                    attributes(s.get("attributes"), f"{p}.attributes", ctx),
                    res_attrs, _text(s.get("traceState"), f"{p}.traceState", ctx)))
    return out, bool(batches)
