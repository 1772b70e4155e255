"""A fake OpenObserve on a real loopback socket (pytest-httpserver) that executes the SQL.

It behaves the way shared/reference/openobserve.md describes the server:

* ingest: OTLP/JSON ``ExportTraceServiceRequest`` dicts are flattened with the real column
  rules (lower case, ``[^a-z0-9_]`` → ``_``, resource attributes ``service_``-prefixed,
  ``service.name`` → ``service_name``, span attributes colliding with built-ins or with a
  resource column ``attr_``-prefixed); every attribute value is stored as a **string**
  (``intValue`` 120 → ``"120"``), arrays as JSON strings, kvlists flattened with ``_``;
  built-ins ``_timestamp`` (µs, span start), ``start_time``/``end_time`` (ns), ``duration``
  (µs), ``span_kind`` (the enum number as a string), ``service_name`` (the stream name when
  absent);
* ``GET /api/{org}/streams/{stream}/schema?type=traces``: the merged schema (Arrow type
  names) and ``settings.max_query_range``;
* ``POST /api/{org}/_search?type=…``: the stream is read from the SQL's ``FROM``, the rows in
  ``[start_time, end_time)`` are loaded into an in-memory DuckDB table of that name and the
  SQL runs there (``TRY_CAST``, ``COALESCE``, ``CASE`` as DataFusion has them); ``from`` and
  ``size`` become OFFSET/LIMIT; no ``size`` (or ``size <= 0``) caps the rows at 1000 with
  ``is_partial`` and the "results are capped" warning, which ``search_type: "ui"`` hides;
  a range longer than ``max_query_range`` hours moves ``start_time`` forward with
  ``is_partial``, ``new_start_time``, ``new_end_time`` and ``function_error``; null columns
  are omitted from hits; a missing or unknown ``type`` searches logs (no such stream);
* errors: JSON ``{code, message}`` bodies (20001 bad SQL, 20002 stream not found, 20004
  unknown field with ``suggestions``, 20008 execution error), plain-text 401/403
  ``Unauthorized Access``, plain-text 422 for a body without ``start_time``.

Faults (status + body, or a transformation of a good JSON answer) are queued per path;
``silent_cap`` cuts every result to N rows without any flag (the bug of issue #10486).
"""

from __future__ import annotations

import base64
import difflib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import duckdb
import polars as pl
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

RESERVED = frozenset({
    "trace_id", "span_id", "flags", "span_status", "span_kind", "operation_name",
    "start_time", "end_time", "duration", "service_name", "events", "links", "_timestamp",
    "infer_service_name", "infer_service_type", "infer_service_system",
})
INT_COLUMNS = ("_timestamp", "start_time", "end_time", "duration", "flags", "_o2_ingest_ts")
GEN_AI_INT = ("gen_ai_usage_input_tokens", "gen_ai_usage_output_tokens",
              "gen_ai_usage_total_tokens", "gen_ai_usage_cache_read_input_tokens",
              "gen_ai_usage_cache_creation_input_tokens")
DEFAULT_LIMIT = 1000
STATUS = {0: "UNSET", 1: "OK", 2: "ERROR"}


def format_key(key: str) -> str:
    """OpenObserve's flatten::format_key."""
    return "".join(c if re.match(r"[a-z0-9_]", c) else "_"
                   for c in (ch.lower() if "A" <= ch <= "Z" else ch for ch in key))


def _num_text(v: float) -> str:
    # Rust's f64 Display: 2.0 → "2", 1.5 → "1.5"
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def _flatten_value(prefix: str, value: Mapping[str, Any], out: dict[str, str]) -> None:
    """An OTLP AnyValue under column ``prefix`` (already formatted); values as strings."""
    if "stringValue" in value:
        out[prefix] = value["stringValue"]
    elif "intValue" in value:
        out[prefix] = str(int(value["intValue"]))
    elif "doubleValue" in value:
        out[prefix] = _num_text(value["doubleValue"])
    elif "boolValue" in value:
        out[prefix] = "true" if value["boolValue"] else "false"
    elif "arrayValue" in value:
        out[prefix] = json.dumps([_plain(v) for v in value["arrayValue"].get("values", [])])
    elif "kvlistValue" in value:
        for kv in value["kvlistValue"].get("values", []):
            _flatten_value(prefix + "_" + format_key(kv["key"]), kv.get("value", {}), out)
    # an empty value (null) is dropped


def _plain(v: Mapping[str, Any]) -> Any:
    for k in ("stringValue", "boolValue", "doubleValue"):
        if k in v:
            return v[k]
    if "intValue" in v:
        return int(v["intValue"])
    return None


def flatten_request(request: Mapping[str, Any], stream: str) -> list[dict[str, Any]]:
    """One OTLP/JSON ExportTraceServiceRequest → flattened rows, as OpenObserve stores them."""
    rows = []
    for rs in request.get("resourceSpans", []):
        res: dict[str, str] = {}
        for kv in (rs.get("resource") or {}).get("attributes", []):
            key = kv["key"]
            col = "service_name" if key == "service.name" else "service_" + format_key(key)
            _flatten_value(col, kv.get("value", {}), res)
        for ss in rs.get("scopeSpans", []):
            for sp in ss.get("spans", []):
                start = int(sp["startTimeUnixNano"])
                end = int(sp.get("endTimeUnixNano", start))
                row: dict[str, Any] = {
                    "_timestamp": start // 1000, "start_time": start, "end_time": end,
                    "duration": (end - start) // 1000, "trace_id": sp.get("traceId", ""),
                    "span_id": sp.get("spanId", ""), "operation_name": sp.get("name", ""),
                    "span_kind": str(sp.get("kind", 0)), "flags": 1,
                    "span_status": STATUS.get((sp.get("status") or {}).get("code", 0), "UNSET"),
                    "events": json.dumps(sp.get("events", [])),
                    "links": json.dumps(sp.get("links", [])),
                }
                if sp.get("parentSpanId"):
                    row["reference_parent_span_id"] = sp["parentSpanId"]
                    row["reference_ref_type"] = "CHILD_OF"
                row.update(res)
                row.setdefault("service_name", stream)
                attrs: dict[str, str] = {}
                for kv in sp.get("attributes", []):
                    name = format_key(kv["key"])
                    if name in RESERVED or name in res:
                        name = "attr_" + name
                    _flatten_value(name, kv.get("value", {}), attrs)
                row.update(attrs)
                rows.append(row)
    return rows


@dataclass
class Fault:
    """An error answer (``status``) or a transformation of a good JSON answer."""

    match: str
    status: int | None
    body: str
    headers: dict[str, str]
    transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    content_type: str = "application/json"
    times: int = 1


@dataclass
class Logged:
    """One request the fake answered."""

    method: str
    path: str
    args: dict[str, str]
    body: Any


@dataclass
class FakeOpenObserve:
    """The fake server. ``install(httpserver)`` returns the base URL to configure."""

    org: str = "default"
    user: tuple[str, str] | None = ("root@example.com", "Complexpass#123")
    max_query_range: int = 0  # hours; 0 = no limit
    advertise_range: bool = True  # False: a limit the schema settings do not show (a SA cap)
    silent_cap: int | None = None
    typed_gen_ai: bool = False  # v0.91+: gen_ai_usage_* columns are Int64
    forbidden: frozenset[str] = frozenset()  # streams this user may not search (403)
    streams: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    log: list[Logged] = field(default_factory=list)

    # ---- data

    def ingest(self, request: Mapping[str, Any] | bytes | str, stream: str = "default") -> None:
        """Ingest one OTLP/JSON request (dict, or a JSON line) into a traces stream."""
        if isinstance(request, bytes | str):
            request = json.loads(request)
        self.streams.setdefault(stream, []).extend(flatten_request(request, stream))

    def ingest_lines(self, lines: Iterable[bytes | str], stream: str = "default") -> None:
        """Ingest collector JSON lines (one request per line)."""
        for line in lines:
            self.ingest(line, stream)

    def schema(self, stream: str) -> dict[str, str]:
        """Column name → Arrow type, the merged superset over every row."""
        cols: dict[str, str] = {}
        for row in self.streams.get(stream, []):
            for k in row:
                if k not in cols:
                    cols[k] = "Int64" if k in INT_COLUMNS or (
                        self.typed_gen_ai and k in GEN_AI_INT) else "Utf8"
        return cols

    # ---- plumbing

    def install(self, server: HTTPServer) -> str:
        """Serve on ``server`` (every path); return the base URL."""
        server.expect_request(re.compile(r"^/.*")).respond_with_handler(self.handle)
        return server.url_for("/").rstrip("/")

    def fail(self, match: str, status: int, body: str | Mapping[str, Any] = "", *,
             times: int = 1, headers: dict[str, str] | None = None) -> None:
        """Answer the next ``times`` requests whose path contains ``match`` with an error."""
        if isinstance(body, Mapping):
            text, ctype = json.dumps(body), "application/json"
        else:
            text, ctype = body, "text/plain; charset=utf-8"
        self.faults.append(Fault(match, status, text, headers or {}, None, ctype, times))

    def mangle(self, match: str, transform: Callable[[dict[str, Any]], dict[str, Any]], *,
               times: int = 1) -> None:
        """Transform the next ``times`` good JSON answers for ``match``."""
        self.faults.append(Fault(match, None, "", {}, transform, times=times))

    def searches(self) -> list[Logged]:
        """Every ``_search`` request received."""
        return [x for x in self.log if x.path.endswith("/_search")]

    def handle(self, request: Request) -> Response:
        """The werkzeug handler: faults, auth, routing."""
        path = request.path
        args = dict(request.args.items())
        try:
            body = json.loads(request.get_data(as_text=True) or "null")
        except ValueError:
            body = None
        self.log.append(Logged(request.method, path, args, body))
        fault = next((f for f in self.faults if f.match in path and f.times > 0), None)
        if fault and fault.status is not None:
            fault.times -= 1
            return Response(fault.body, status=fault.status, headers=fault.headers,
                            content_type=fault.content_type)
        if path == "/healthz":
            return self._json(200, {"status": "ok"})
        if self.user and request.headers.get("Authorization", "") != "Basic " + \
                base64.b64encode(f"{self.user[0]}:{self.user[1]}".encode()).decode():
            return Response("Unauthorized Access", status=401, content_type="text/plain",
                            headers={"WWW-Authenticate": 'Bearer realm="openobserve"'})
        status, answer = self._route(request.method, path, args, body)
        if isinstance(answer, str):
            return Response(answer, status=status, content_type="text/plain; charset=utf-8")
        if fault and fault.transform is not None and status == 200:
            fault.times -= 1
            answer = fault.transform(answer)
        return self._json(status, answer)

    def _json(self, status: int, body: Any) -> Response:
        headers = {"X-Error-Message": str(body.get("code"))} if status >= 400 and isinstance(
            body, dict) else {}
        return Response(json.dumps(body), status=status, content_type="application/json",
                        headers=headers)

    def _route(self, method: str, path: str, args: dict[str, str], body: Any
               ) -> tuple[int, Any]:
        m = re.fullmatch(r"/api/([^/]+)/streams/([^/]+)/schema", path)
        if m and method == "GET":
            org, stream = m.groups()
            if org != self.org or args.get("type", "logs") != "traces" or \
                    stream not in self.streams:
                return 404, {"code": 404, "message": "stream not found"}
            return 200, {
                "name": stream, "storage_type": "disk", "stream_type": "traces",
                "stats": {"doc_num": len(self.streams[stream])},
                "schema": [{"name": k, "type": t} for k, t in self.schema(stream).items()],
                "settings": {"partition_keys": {}, "full_text_search_keys": [],
                             "max_query_range": self.max_query_range
                             if self.advertise_range else 0},
            }
        m = re.fullmatch(r"/api/([^/]+)/_search", path)
        if m and method == "POST":
            if m.group(1) != self.org:
                return 403, "Unauthorized Access"
            return self._search(args, body)
        return 404, {"code": 404, "message": f"no route {method} {path}"}

    # ---- search

    def _search(self, args: dict[str, str], body: Any) -> tuple[int, Any]:
        query = body.get("query") if isinstance(body, dict) else None
        if not isinstance(query, dict) or "sql" not in query:
            return 422, "Failed to deserialize the JSON body into the target type: missing " \
                        "field `query`"
        for key in ("start_time", "end_time"):
            if not isinstance(query.get(key), int):
                return 422, ("Failed to deserialize the JSON body into the target type: "
                             f"query: missing field `{key}`")
        stype = args.get("type", "logs")
        sql = query["sql"]
        if not re.match(r"\s*(SELECT|WITH)\b", sql, re.I):
            return 400, {"code": 20001, "message": "Search SQL not valid: only SELECT is allowed"}
        m = re.search(r'\bFROM\s+("(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_]*)', sql, re.I)
        if not m:
            return 400, {"code": 20001, "message": "Search SQL not valid: no FROM"}
        raw = m.group(1)
        stream = raw[1:-1].replace('""', '"') if raw.startswith('"') else raw.lower()
        if stype != "traces" or stream not in self.streams:
            return 400, {"code": 20002, "message": f"Search stream not found: {stream}"}
        if stream in self.forbidden:
            return 403, "Unauthorized Access"
        start, end = query["start_time"], query["end_time"]
        if start > end:
            return 400, {"code": 20011, "message": "start_time must be before end_time"}
        result: dict[str, Any] = {}
        errors: list[str] = []
        limit_hours = self.max_query_range
        if limit_hours and end - start > limit_hours * 3_600_000_000:
            start = end - limit_hours * 3_600_000_000
            result.update(is_partial=True, new_start_time=start, new_end_time=end)
            errors.append(f"Query duration is modified due to query range restriction of "
                          f"{limit_hours} hours")
        try:
            rows = self._execute(stream, sql, start, end)
        except duckdb.BinderException as e:
            field_name = self._missing_field(str(e))
            if field_name is not None:
                pool = list(self.schema(stream))
                return 400, {"code": 20004, "message": f"unknown field '{field_name}'",
                             "suggestions": difflib.get_close_matches(field_name, pool, n=3)}
            return 400, {"code": 20008, "message": f"Search SQL execute error: {e}"}
        except duckdb.ParserException as e:
            return 400, {"code": 20001, "message": f"Search SQL not valid: {e}"}
        except duckdb.Error as e:
            return 400, {"code": 20008, "message": f"Search SQL execute error: {e}"}
        offset = int(query.get("from") or 0)
        size = query.get("size")
        if not isinstance(size, int) or size <= 0:
            size = DEFAULT_LIMIT
            if len(rows) - offset > DEFAULT_LIMIT:
                result["is_partial"] = True
                errors.append("Warn: results are capped to meet default limit")
        page = rows[offset:offset + size]
        if self.silent_cap is not None:
            page = page[:self.silent_cap]
        if body.get("search_type") == "ui":  # the UI hides the cap warning
            errors = [e for e in errors if "capped" not in e]
            if not errors:
                result["is_partial"] = False
        hits = [h for h in ({k: v for k, v in r.items() if v is not None} for r in page) if h]
        answer = {"took": 1, "hits": hits, "total": len(hits), "from": offset, "size": size,
                  "cached_ratio": 0, "scan_size": 0, "scan_records": len(rows),
                  "is_partial": False, **result}
        if errors:
            answer["function_error"] = errors
        return 200, answer

    @staticmethod
    def _missing_field(message: str) -> str | None:
        m = re.search(r'Referenced column "([^"]+)" not found', message)
        return m.group(1) if m else None

    def _execute(self, stream: str, sql: str, start: int, end: int) -> list[dict[str, Any]]:
        schema = self.schema(stream)
        typed = {k: (pl.Int64 if t == "Int64" else pl.String) for k, t in schema.items()}
        rows = [r for r in self.streams[stream] if start <= r["_timestamp"] < end]
        data = {k: [self._cell(r.get(k), typed[k]) for r in rows] for k in schema}
        frame = pl.DataFrame(data, schema=typed)
        con = duckdb.connect()
        try:
            con.register("_rows", frame)
            con.execute(f'CREATE TABLE "{stream.replace(chr(34), chr(34) * 2)}" AS '
                        "SELECT * FROM _rows")
            cur = con.execute(sql)
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
        finally:
            con.close()

    @staticmethod
    def _cell(v: Any, t: Any) -> Any:
        if v is None:
            return None
        if t == pl.Int64:
            return int(v)
        return str(v)
