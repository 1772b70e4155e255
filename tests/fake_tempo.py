"""A fake Grafana Tempo query frontend on a real loopback socket (pytest-httpserver).

It holds a synthetic span set in memory (a polars frame, so a million spans stay cheap)
and *evaluates* the TraceQL subset finops sends, answering the way Tempo does
(shared/reference/tempo.md):

* selectors ``{ a && (b || c) }`` with ``= != > >= < <=`` against string, number and
  ``nil`` literals, ``=~ !~`` against regular expressions (strings only); ``span.``,
  ``resource.`` and unscoped ``.`` attributes, typed values
  (a token count stored as a string does not match ``> 0``);
* ``count_over_time()`` and ``sum_over_time(attr)`` with ``by(...)`` (≤ 5 attributes) and
  ``with(...)`` hints; range queries aligned to the step with one extra leading bucket and
  right-closed buckets ``(t - step, t]``; instant queries over ``[start, end]``;
* the sum_over_time bug grafana/tempo#7857: a span without a numeric value for the summed
  attribute feeds NaN into the compensated (Kahan) sum, so ``[10, NaN, 20, 30, 40]`` sums
  to 40; only a selector that guarantees a numeric attribute avoids it;
* jsonpb encoding: int64 as strings, zero ``value`` omitted, label keys exactly as written
  in ``by()``, nil group values dropped, an all-nil series labelled ``{first: "nil"}``,
  ``status: PARTIAL`` past ``max_series``; plain-text error bodies (400 for parse errors,
  a range over the metrics maximum, bad limits; 401 ``no org id``);
* ``/api/search`` (first N traces, ``spss`` truncation with ``matched``, trace ids with
  leading zeros stripped, attributes under bare names), ``/api/v2/traces/<id>`` (base64
  ids, ``{"trace":{}}`` when unknown), ``/api/status/buildinfo``, ``/api/echo``.

Faults (status, body, Retry-After, or a transformation of a good body) are queued per path.
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import polars as pl
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

NS = 1_000_000_000
TYPES = ("s", "i", "f", "b")


# --------------------------------------------------------------------------- span storage

def _type_of(value: Any) -> str:
    if isinstance(value, bool):
        return "b"
    if isinstance(value, int):
        return "i"
    if isinstance(value, float):
        return "f"
    return "s"


def col(scope: str, key: str, t: str) -> str:
    """The frame column holding ``scope.key`` values of type ``t``."""
    return f"{scope}|{key}|{t}"


def spans_frame(spans: Iterable[Mapping[str, Any]]) -> pl.DataFrame:
    """Span dicts → the fake's frame.

    A span dict: ``trace_id`` (hex), ``span_id`` (hex), ``start_ns``, optional ``end_ns``,
    ``name`` and ``trace_state`` (returned by ``/api/v2/traces`` as ``traceState``),
    ``attributes`` (span scope) and ``resource`` (resource scope) dicts.
    """
    rows: list[dict[str, Any]] = []
    columns: dict[str, pl.DataType] = {}
    dtype = {"s": pl.String(), "i": pl.Int64(), "f": pl.Float64(), "b": pl.Boolean()}
    for s in spans:
        row: dict[str, Any] = {
            "trace_id": s["trace_id"].rjust(32, "0"), "span_id": s["span_id"].rjust(16, "0"),
            "start_ns": s["start_ns"], "end_ns": s.get("end_ns", s["start_ns"] + NS),
            "name": s.get("name", "chat"), "trace_state": s.get("trace_state", "")}
        scoped = (("span", s.get("attributes", {})), ("resource", s.get("resource", {})))
        for scope, attrs in scoped:
            for key, value in attrs.items():
                t = _type_of(value)
                c = col(scope, key, t)
                columns[c] = dtype[t]
                row[c] = value
        rows.append(row)
    schema = {"trace_id": pl.String(), "span_id": pl.String(), "start_ns": pl.Int64(),
              "end_ns": pl.Int64(), "name": pl.String(), "trace_state": pl.String(), **columns}
    return pl.DataFrame(rows, schema=schema).sort("start_ns")


def _plain_value(value: Mapping[str, Any]) -> Any:
    if "stringValue" in value:
        return value["stringValue"]
    if "intValue" in value:
        return int(value["intValue"])
    if "doubleValue" in value:
        return float(value["doubleValue"])
    if "boolValue" in value:
        return bool(value["boolValue"])
    return None


def spans_from_collector(lines: Iterable[bytes | str | Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Span dicts for :func:`spans_frame` from collector JSON lines (real SDK output).

    Each attribute keeps its OTLP type: ``intValue`` stays an int, a count the SDK recorded
    as a string stays a string (and so does not match ``> 0``, as in Tempo).
    """
    out: list[dict[str, Any]] = []
    for line in lines:
        request = line if isinstance(line, Mapping) else json.loads(line)
        for rs in request.get("resourceSpans", []):
            resource = {kv["key"]: _plain_value(kv.get("value", {}))
                        for kv in (rs.get("resource") or {}).get("attributes", [])}
            for ss in rs.get("scopeSpans", []):
                for sp in ss.get("spans", []):
                    start = int(sp["startTimeUnixNano"])
                    out.append({
                        "trace_id": sp["traceId"], "span_id": sp["spanId"], "start_ns": start,
                        "end_ns": int(sp.get("endTimeUnixNano", start)),
                        "name": sp.get("name", ""), "trace_state": sp.get("traceState", ""),
                        "attributes": {kv["key"]: v for kv in sp.get("attributes", [])
                                       if (v := _plain_value(kv.get("value", {}))) is not None},
                        "resource": {k: v for k, v in resource.items() if v is not None}})
    return out


def synthetic_frame(n: int, first_day: date, days: int, seed: int = 7) -> pl.DataFrame:
    """``n`` LLM spans spread over ``days`` UTC days, generated column-wise (cheap at 1M).

    Shaped like an organisation rather than noise: a dozen teams (one without a team
    attribute), each with three projects, four features, two providers with two models
    each, a batch tier on a tenth of the spans, cached input tokens. All counts numeric.
    """
    day0 = int(datetime(first_day.year, first_day.month, first_day.day, tzinfo=UTC).timestamp())
    idx = pl.int_range(0, n, dtype=pl.UInt64, eager=True)
    frame = pl.DataFrame({"i": idx})

    def h(k: int) -> pl.Expr:
        return pl.col("i").hash(seed * 1000 + k)

    models = {0: "gpt-4o", 1: "gpt-4o-mini", 2: "claude-sonnet-4-20250514", 3: "claude-3-5-haiku"}
    frame = frame.with_columns(
        start_ns=(pl.lit(day0 * NS, pl.Int64)
                  + (h(1) % (days * 86400 * NS - 1)).cast(pl.Int64) + 1),
        prov=(h(2) % 2).cast(pl.Int64),
        m=(h(3) % 2).cast(pl.Int64),
        team=(h(4) % 12).cast(pl.Int64),
        project=(h(5) % 3).cast(pl.Int64),
        feature=(h(6) % 4).cast(pl.Int64),
        inp=(h(7) % 4000 + 200).cast(pl.Int64),
        cr=(h(8) % 150).cast(pl.Int64),
        out=(h(9) % 800 + 10).cast(pl.Int64),
        batch=(h(10) % 10 == 0),
    ).sort("start_ns")
    provider = pl.when(pl.col("prov") == 0).then(pl.lit("openai")).otherwise(pl.lit("anthropic"))
    return frame.select(
        trace_id=(pl.col("i") // 3).cast(pl.String).str.zfill(32),
        span_id=(pl.col("i") + 1).cast(pl.String).str.zfill(16),
        start_ns="start_ns",
        end_ns=pl.col("start_ns") + NS,
        name=pl.lit("chat"),
        **{
            col("span", "gen_ai.provider.name", "s"): provider,
            col("span", "gen_ai.response.model", "s"):
                (pl.col("prov") * 2 + pl.col("m")).replace_strict(models, return_dtype=pl.String),
            col("span", "team.id", "s"):
                pl.when(pl.col("team") == 11).then(None)
                .otherwise(pl.format("team-{}", pl.col("team"))),
            col("span", "project.id", "s"):
                pl.format("project-{}-{}", pl.col("team"), pl.col("project")),
            col("span", "feature.id", "s"): pl.format("feature-{}", pl.col("feature")),
            col("span", "gen_ai.openai.response.service_tier", "s"):
                pl.when(pl.col("batch")).then(pl.lit("batch")).otherwise(pl.lit("default")),
            col("span", "gen_ai.usage.input_tokens", "i"): pl.col("inp"),
            col("span", "gen_ai.usage.cache_read.input_tokens", "i"): pl.col("cr"),
            col("span", "gen_ai.usage.output_tokens", "i"): pl.col("out"),
        })


# --------------------------------------------------------------------------- TraceQL subset

class TraceQLError(Exception):
    """A parse error: Tempo answers 400 ``invalid TraceQL query: ...``."""


_TOKEN = re.compile(r"""\s*(?:
    (?P<str>"(?:[^"\\]|\\.)*")
  | (?P<attr>(?:span|resource)?\.(?:"(?:[^"\\]|\\.)*"|[A-Za-z0-9_][A-Za-z0-9_.\-]*))
  | (?P<num>-?\d+(?:\.\d+)?)
  | (?P<op>&&|\|\||!=|>=|<=|=~|!~|[{}()|,=<>])
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
  )""", re.X)


@dataclass(frozen=True)
class AttrRef:
    """An attribute as written: scope ("" = unscoped), key, and the raw text."""

    scope: str
    key: str
    raw: str


@dataclass
class Query:
    """A parsed query: condition tree, optional metrics function, by(), select()."""

    cond: Any
    fn: str | None = None
    fn_arg: AttrRef | None = None
    by: list[AttrRef] = field(default_factory=list)
    select: list[AttrRef] = field(default_factory=list)
    hints: dict[str, str] = field(default_factory=dict)

    def attrs(self) -> list[AttrRef]:
        """Every attribute the query fetches (conditions, select, by, the summed one)."""
        out: list[AttrRef] = []

        def walk(node: Any) -> None:
            if node is None:
                return
            if node[0] in ("and", "or"):
                walk(node[1])
                walk(node[2])
            else:
                out.append(node[1])
        walk(self.cond)
        return out + self.select + self.by + ([self.fn_arg] if self.fn_arg else [])


def _unescape(s: str) -> str:
    return re.sub(r"\\(.)", r"\1", s[1:-1])


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks: list[tuple[str, str, int]] = []
        pos = 0
        text = text.rstrip()
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if not m or m.end() == pos:
                raise TraceQLError(f"parse error at line 1, col {pos + 1}: syntax error")
            kind = m.lastgroup or ""
            self.toks.append((kind, m.group(kind), m.start(kind) + 1))
            pos = m.end()
        self.i = 0

    def peek(self) -> tuple[str, str, int]:
        return self.toks[self.i] if self.i < len(self.toks) else ("eof", "", 0)

    def take(self, value: str | None = None, kind: str | None = None) -> tuple[str, str, int]:
        tok = self.peek()
        if (value is not None and tok[1] != value) or (kind is not None and tok[0] != kind):
            raise TraceQLError(f"parse error at line 1, col {tok[2]}: syntax error: "
                               f"unexpected {tok[1] or 'end of input'!r}")
        self.i += 1
        return tok

    def attr(self) -> AttrRef:
        raw = self.take(kind="attr")[1]
        scope, _, key = raw.partition(".")
        if key.startswith('"'):
            key = _unescape(key)
        return AttrRef(scope, key, raw)

    def query(self) -> Query:
        self.take("{")
        cond = None if self.peek()[1] == "}" else self.expr()
        self.take("}")
        q = Query(cond)
        while self.peek()[1] == "|":
            self.take("|")
            word = self.take(kind="word")[1]
            self.take("(")
            if word == "select":
                q.select.append(self.attr())
                while self.peek()[1] == ",":
                    self.take(",")
                    q.select.append(self.attr())
            elif word in ("count_over_time", "sum_over_time"):
                q.fn = word
                if word == "sum_over_time":
                    q.fn_arg = self.attr()
            else:
                raise TraceQLError(f"parse error: unknown function {word!r}")
            self.take(")")
            if self.peek()[1] == "by":
                self.take("by")
                self.take("(")
                q.by.append(self.attr())
                while self.peek()[1] == ",":
                    self.take(",")
                    q.by.append(self.attr())
                self.take(")")
            if self.peek()[1] == "with":
                self.take("with")
                self.take("(")
                while self.peek()[1] != ")":
                    k = self.take(kind="word")[1]
                    self.take("=")
                    q.hints[k] = self.take()[1]
                    if self.peek()[1] == ",":
                        self.take(",")
                self.take(")")
        if self.peek()[0] != "eof":
            raise TraceQLError(f"parse error at line 1, col {self.peek()[2]}: syntax error")
        return q

    def expr(self) -> Any:
        node = self.conj()
        while self.peek()[1] == "||":
            self.take("||")
            node = ("or", node, self.conj())
        return node

    def conj(self) -> Any:
        node = self.atom()
        while self.peek()[1] == "&&":
            self.take("&&")
            node = ("and", node, self.atom())
        return node

    def atom(self) -> Any:
        if self.peek()[1] == "(":
            self.take("(")
            node = self.expr()
            self.take(")")
            return node
        a = self.attr()
        op = self.take(kind="op")[1]
        if op not in ("=", "!=", ">", ">=", "<", "<=", "=~", "!~"):
            raise TraceQLError(f"parse error: unexpected {op!r}")
        kind, text, _ = self.take()
        if op in ("=~", "!~") and kind != "str":
            raise TraceQLError(f"parse error: a regex must be a string, not {text!r}")
        value: Any
        if kind == "str":
            value = _unescape(text)
        elif kind == "num":
            value = float(text) if "." in text else int(text)
        elif kind == "word" and text in ("nil", "true", "false"):
            value = None if text == "nil" else text == "true"
        else:
            raise TraceQLError(f"parse error: unexpected {text!r}")
        return ("cmp", a, op, value)


def parse(text: str) -> Query:
    """Parse the TraceQL subset (raises :class:`TraceQLError`)."""
    return _Parser(text).query()


# --------------------------------------------------------------------------- evaluation

def tempo_sum(values: Iterable[float | None]) -> float:
    """Tempo's compensated sum as #7857 describes it: a NaN poisons the compensation.

    A NaN input makes the running sum NaN; the next value restarts the sum while the
    compensation stays NaN, so every other value after that is lost. Without NaN this is
    an ordinary (Kahan) sum.
    """
    total, comp = math.nan, 0.0
    for x in values:
        x = math.nan if x is None else float(x)
        if math.isnan(total):
            total = x
            continue
        y = x - comp
        t = total + y
        comp = (t - total) - y
        total = t
    return total


def _go_duration(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}h{s % 3600 // 60}m{s % 60}s"


def _parse_time(value: str | None, name: str) -> int:
    """Unix seconds (≤ 10 digits), nanoseconds, fractional seconds or RFC3339 → ns."""
    if value is None:
        raise ValueError(f"invalid {name}: missing")
    if re.fullmatch(r"\d{1,10}", value):
        return int(value) * NS
    if re.fullmatch(r"\d{11,}", value):
        return int(value)
    if re.fullmatch(r"\d+\.\d+", value):
        return int(float(value) * NS)
    try:
        return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * NS)
    except ValueError:
        raise ValueError(f"invalid {name}: could not parse {value!r}") from None


def _parse_step(value: str) -> int:
    m = re.fullmatch(r"((?:\d+(?:\.\d+)?(?:ms|h|m|s))+)", value)
    if m:
        total = 0.0
        for num, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", value):
            total += float(num) * {"h": 3600, "m": 60, "s": 1, "ms": 0.001}[unit]
        return int(total * NS)
    return int(float(value) * NS)


@dataclass
class Fault:
    """A queued misbehaviour for requests whose path contains ``match``."""

    match: str
    status: int | None = None
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    transform: Callable[[str], str] | None = None
    content_type: str = "text/plain; charset=utf-8"
    times: int = 1


class FakeTempo:
    """The fake server. ``install(httpserver)`` returns the base URL to configure."""

    def __init__(self, spans: Iterable[Mapping[str, Any]] | pl.DataFrame = (), *,
                 version: str = "3.0.3", max_duration: float | None = None,
                 max_series: int | None = None, tenant: str | None = None,
                 basic: tuple[str, str] | None = None, bearer: str | None = None,
                 prefix: str = "", max_result_limit: int = 262144, pad_trace_ids: bool = False,
                 metrics: bool = True, check_aligned_range: bool = False) -> None:
        self.frame = spans if isinstance(spans, pl.DataFrame) else spans_frame(spans)
        self.version = version
        major = int(re.match(r"v?(\d+)", version).group(1)) if re.match(r"v?\d", version) else 3
        self.max_duration = max_duration or (86400 if major >= 3 else 3 * 3600)
        self.max_series = max_series
        self.tenant = tenant
        self.basic = basic
        self.bearer = bearer
        self.prefix = prefix.rstrip("/")
        self.max_result_limit = max_result_limit
        self.pad_trace_ids = pad_trace_ids
        self.metrics = metrics
        self.check_aligned_range = check_aligned_range
        self.faults: list[Fault] = []
        self.log: list[tuple[str, dict[str, str]]] = []
        self.bytes_sent = 0
        self._starts = self.frame["start_ns"]

    # ---- plumbing

    def install(self, server: HTTPServer) -> str:
        """Serve on ``server`` (every path); return the base URL (with the prefix)."""
        server.clear_all_handlers()  # one fake per server at a time
        server.expect_request(re.compile(r"^/.*")).respond_with_handler(self.handle)
        return server.url_for(self.prefix or "/").rstrip("/")

    def fail(self, match: str, status: int, body: str = "", *, times: int = 1,
             headers: dict[str, str] | None = None,
             content_type: str = "text/plain; charset=utf-8") -> None:
        """Answer the next ``times`` requests matching ``match`` with an error."""
        self.faults.append(Fault(match, status, body, headers or {}, None, content_type, times))

    def mangle(self, match: str, transform: Callable[[str], str], *, times: int = 1) -> None:
        """Transform the next ``times`` good bodies for ``match`` (truncate, retype...)."""
        self.faults.append(Fault(match, None, "", {}, transform, times=times))

    def queries(self, path: str = "/api/metrics/query_range") -> list[str]:
        """The ``q`` of every logged request to ``path``."""
        return [args.get("q", "") for p, args in self.log if p == path]

    def handle(self, request: Request) -> Response:
        """The werkzeug handler: auth, faults, routing."""
        path = request.path
        args = {k: v for k, v in request.args.items()}
        if self.prefix:
            if not path.startswith(self.prefix + "/"):
                return self._text(404, "404 page not found\n")
            path = path[len(self.prefix):]
        self.log.append((path, args))
        fault = next((f for f in self.faults if f.match in path and f.times > 0), None)
        if fault and fault.status is not None:
            fault.times -= 1
            resp = Response(fault.body, status=fault.status, headers=fault.headers,
                            content_type=fault.content_type)
            self.bytes_sent += len(fault.body.encode())
            return resp
        auth = request.headers.get("Authorization", "")
        if self.basic and auth != "Basic " + base64.b64encode(
                f"{self.basic[0]}:{self.basic[1]}".encode()).decode():
            return self._text(401, "Unauthorized")
        if self.bearer and auth != f"Bearer {self.bearer}":
            return self._text(401, "Unauthorized")
        frame = self.frame
        if self.tenant and path != "/api/status/buildinfo":
            org = request.headers.get("X-Scope-OrgID")
            if not org:
                return self._text(401, "no org id")
            if org != self.tenant:
                frame = self.frame.clear()
        try:
            status, body = self._route(path, args, frame)
        except TraceQLError as e:
            status, body = 400, f"invalid TraceQL query: {e}"
        except ValueError as e:
            status, body = 400, str(e)
        if isinstance(body, str):
            return self._text(status, body)
        text = json.dumps(body, separators=(",", ":"))
        if fault and fault.transform is not None:
            fault.times -= 1
            text = fault.transform(text)
        self.bytes_sent += len(text.encode())
        return Response(text, status=status, content_type="application/json")

    def _text(self, status: int, body: str) -> Response:
        self.bytes_sent += len(body.encode())
        return Response(body, status=status, content_type="text/plain; charset=utf-8")

    def _route(self, path: str, args: dict[str, str], frame: pl.DataFrame
               ) -> tuple[int, Any]:
        if path == "/api/status/buildinfo":
            return 200, {"version": self.version, "revision": "fake", "branch": "HEAD",
                         "buildUser": "", "buildDate": "", "goVersion": "go1.24"}
        if path == "/api/echo":
            return 200, "echo"
        if path in ("/api/metrics/query_range", "/api/metrics/query"):
            if not self.metrics:
                return 500, "localblocks processor not found"
            return 200, self._metrics(args, frame, instant=path.endswith("/query"))
        if path == "/api/search":
            return 200, self._search(args, frame)
        m = re.fullmatch(r"/api/v2/traces/([0-9a-fA-F]+)", path)
        if m:
            return 200, self._trace(m.group(1), frame)
        return 404, "404 page not found\n"

    # ---- attribute access (polars expressions)

    def _scopes(self, a: AttrRef) -> list[str]:
        return [a.scope] if a.scope else ["span", "resource"]

    def _typed(self, scope: str, key: str, t: str) -> pl.Expr | None:
        c = col(scope, key, t)
        return pl.col(c) if c in self.frame.columns else None

    def _numeric(self, a: AttrRef) -> pl.Expr:
        parts = []
        for scope in self._scopes(a):
            for t in ("i", "f"):
                e = self._typed(scope, a.key, t)
                if e is not None:
                    parts.append(e.cast(pl.Float64))
        return pl.coalesce(parts) if parts else pl.lit(None, pl.Float64)

    def _label(self, a: AttrRef) -> tuple[pl.Expr, pl.Expr]:
        """(type tag, value as text): the first typed value, span scope first."""
        tag: Any = None
        text: Any = None
        for scope in self._scopes(a):
            for t in TYPES:
                e = self._typed(scope, a.key, t)
                if e is None:
                    continue
                if tag is None:
                    tag = pl.when(e.is_not_null()).then(pl.lit(t))
                    text = pl.when(e.is_not_null()).then(e.cast(pl.String))
                else:
                    tag = tag.when(e.is_not_null()).then(pl.lit(t))
                    text = text.when(e.is_not_null()).then(e.cast(pl.String))
        if tag is None:
            return pl.lit(None, pl.String), pl.lit(None, pl.String)
        return tag.otherwise(None), text.otherwise(None)

    def _cond(self, node: Any) -> pl.Expr:
        if node is None:
            return pl.lit(True)
        if node[0] == "and":
            return self._cond(node[1]) & self._cond(node[2])
        if node[0] == "or":
            return self._cond(node[1]) | self._cond(node[2])
        _, a, op, value = node
        parts = []
        for scope in self._scopes(a):
            if value is None:
                present = [e.is_not_null() for t in TYPES
                           if (e := self._typed(scope, a.key, t)) is not None]
                any_present = pl.any_horizontal(present) if present else pl.lit(False)
                parts.append(any_present if op == "!=" else ~any_present)
                continue
            if op in ("=~", "!~"):  # Go RE2 semantics: unanchored search, strings only
                e = self._typed(scope, a.key, "s")
                if e is None:
                    parts.append(pl.lit(False))
                    continue
                hit = e.str.contains(value)
                parts.append((hit if op == "=~" else ~hit).fill_null(False))
                continue
            if isinstance(value, bool):
                e = self._typed(scope, a.key, "b")
            elif isinstance(value, str):
                e = self._typed(scope, a.key, "s")
            else:
                e = self._numeric(AttrRef(scope, a.key, a.raw))
            if e is None:
                parts.append(pl.lit(False))
                continue
            cmp = {"=": e == value, "!=": e != value, ">": e > value, ">=": e >= value,
                   "<": e < value, "<=": e <= value}[op]
            parts.append(cmp.fill_null(False))
        if value is None and op == "=":
            return pl.all_horizontal(parts)
        return pl.any_horizontal(parts)

    # ---- metrics

    def _metrics(self, args: dict[str, str], frame: pl.DataFrame, *, instant: bool
                 ) -> dict[str, Any]:
        text = args.get("q") or args.get("query") or ""
        q = parse(text)
        if q.fn is None:
            raise TraceQLError("parse error: a metrics query needs a metrics function")
        if q.fn == "sum_over_time" and tuple(
                int(x) for x in re.findall(r"\d+", self.version)[:2]) < (2, 8):
            raise TraceQLError("parse error at line 1: syntax error: unexpected IDENTIFIER "
                               "(sum_over_time)")
        if len(q.by) > 5:
            raise TraceQLError("parse error: by() accepts at most 5 attributes")
        start = _parse_time(args.get("start"), "start")
        end = _parse_time(args.get("end"), "end")
        if end <= start:
            raise ValueError("end must be greater than start")
        if (end - start) / NS > self.max_duration:
            raise ValueError("metrics query time range exceeds the maximum allowed duration "
                             f"of {_go_duration(self.max_duration)}")
        if instant:
            lo, hi, step, n = start - 1, end, end - start + 1, 1
            bucket = pl.lit(1, pl.Int64)
        else:
            step = _parse_step(args.get("step", "0") or "0")
            if step <= 0:
                raise ValueError("step must be greater than 0")
            lo = (start // step) * step - step  # aligned, plus the extra leading bucket
            hi = -(-end // step) * step
            if self.check_aligned_range and (hi - lo) / NS > self.max_duration:
                raise ValueError("metrics query time range exceeds the maximum allowed "
                                 f"duration of {_go_duration(self.max_duration)}")
            n = (hi - lo) // step
            if n > 10000:
                raise ValueError(f"step of {args.get('step')} is too small")
            # right-closed buckets (t - step, t]: index 1..n, timestamp lo + index * step
            bucket = (pl.col("start_ns") - lo + step - 1) // step
        a = self._starts.search_sorted(lo, side="right")
        b = self._starts.search_sorted(hi, side="right")
        data = frame.slice(a, b - a) if frame.height else frame
        data = data.filter(self._cond(q.cond))
        by_cols = []
        exprs = {}
        for i, ref in enumerate(q.by):
            tag, value = self._label(ref)
            exprs[f"_t{i}"], exprs[f"_v{i}"] = tag, value
            by_cols += [f"_t{i}", f"_v{i}"]
        exprs["_b"] = bucket
        if q.fn == "sum_over_time":
            assert q.fn_arg is not None
            exprs["_x"] = self._numeric(q.fn_arg)
        data = data.select(**exprs)
        if q.fn == "sum_over_time":
            agg = data.group_by([*by_cols, "_b"], maintain_order=True).agg(
                pl.col("_x").sum().alias("sum"), pl.col("_x").is_null().any().alias("nan"),
                pl.col("_x").alias("xs"))
        else:
            agg = data.group_by([*by_cols, "_b"], maintain_order=True).agg(pl.len().alias("sum"))
        series: dict[tuple[Any, ...], dict[int, float]] = {}
        for row in agg.iter_rows(named=True):
            key = tuple(row[c] for c in by_cols)
            value = row["sum"]
            if q.fn == "sum_over_time" and row["nan"]:
                value = tempo_sum(row["xs"])  # grafana/tempo#7857
            series.setdefault(key, {})[row["_b"]] = float(value)
        out = []
        for key in sorted(series, key=lambda k: tuple("" if x is None else x for x in k)):
            buckets = series[key]
            labels = self._labels(q, key)
            if instant:
                v = buckets.get(1, 0.0)
                entry: dict[str, Any] = {"labels": labels}
                if math.isnan(v):
                    continue
                if v:
                    entry["value"] = _num(v)
                out.append(entry)
                continue
            samples = []
            for i in range(1, n + 1):
                v = buckets.get(i)
                if q.fn == "count_over_time":
                    v = v or 0.0
                if v is None or math.isnan(v):
                    continue  # empty (or NaN) buckets of a sum have no sample
                sample: dict[str, Any] = {"timestampMs": str((lo + i * step) // 1_000_000)}
                if v:
                    sample["value"] = _num(v)
                samples.append(sample)
            if samples:
                out.append({"labels": labels, "samples": samples})
        body: dict[str, Any] = {"series": out, "metrics": {
            "inspectedSpans": str(frame.height), "inspectedBytes": str(frame.height * 300),
            "completedJobs": 1, "totalJobs": 1}}
        if self.max_series is not None and len(out) > self.max_series:
            body["series"] = out[: self.max_series]
            body["status"] = "PARTIAL"
            body["message"] = (f"Response exceeds maximum series limit of {self.max_series}, "
                               "a partial response is returned. Warning: the accuracy of each "
                               "individual value is not guaranteed.")
        return body

    def _labels(self, q: Query, key: tuple[Any, ...]) -> list[dict[str, Any]]:
        if not q.by:
            return [{"key": "__name__", "value": {"stringValue": q.fn}}]
        labels = []
        for i, ref in enumerate(q.by):
            t, v = key[2 * i], key[2 * i + 1]
            if t is None:
                continue  # a nil group-by value is dropped from the label list
            labels.append({"key": ref.raw, "value": _any_value_text(t, v)})
        if not labels:
            labels = [{"key": q.by[0].raw, "value": {"stringValue": "nil"}}]
        return labels

    # ---- search and traces

    def _search(self, args: dict[str, str], frame: pl.DataFrame) -> dict[str, Any]:
        q = parse(args.get("q", "{}"))
        if q.fn is not None:
            raise TraceQLError("parse error: metrics functions are not allowed in search")
        limit = int(args.get("limit", "20"))
        if limit <= 0:
            raise ValueError("invalid limit: must be a positive number")
        if limit > self.max_result_limit:
            raise ValueError(f"limit {limit} exceeds max limit {self.max_result_limit}")
        spss = int(args.get("spss", "3")) or 3
        if spss > 100:
            raise ValueError(f"spans per span set exceeds 100. received {spss}")
        for name in ("start", "end"):
            if not re.fullmatch(r"\d{1,10}", args.get(name, "0")):
                raise ValueError(f"invalid {name}: strconv.ParseUint: parsing "
                                 f"{args.get(name)!r}: invalid syntax")
        start, end = int(args.get("start", "0")) * NS, int(args.get("end", "0")) * NS
        if end <= start:
            raise ValueError("http parameter start must be before end. "
                             f"received start={start // NS} end={end // NS}")
        bounds = frame.group_by("trace_id").agg(pl.col("start_ns").min().alias("t0"),
                                                 pl.col("end_ns").max().alias("t1"))
        ids = bounds.filter((pl.col("t0") <= end) & (pl.col("t1") >= start))["trace_id"]
        hits = frame.filter(pl.col("trace_id").is_in(ids.implode()) & self._cond(q.cond))
        order = (hits.select("trace_id").unique()
                 .with_columns(h=pl.col("trace_id").hash(11)).sort("h")["trace_id"].to_list())
        fetched = list(dict.fromkeys(q.attrs()))
        traces = []
        for tid in order[:limit]:
            spans = hits.filter(pl.col("trace_id") == tid).sort("start_ns").to_dicts()
            out_spans = []
            for s in spans[:spss]:
                attrs = []
                for ref in fetched:
                    v = self._value(s, ref)
                    if v is not None and ref.key not in {a["key"] for a in attrs}:
                        attrs.append({"key": ref.key, "value": _any_value(v)})
                entry: dict[str, Any] = {"spanID": s["span_id"],
                                         "startTimeUnixNano": str(s["start_ns"]),
                                         "durationNanos": str(s["end_ns"] - s["start_ns"])}
                if attrs:
                    entry["attributes"] = attrs
                out_spans.append(entry)
            spanset = {"spans": out_spans, "matched": len(spans)}
            t0 = min(s["start_ns"] for s in spans)
            shown = tid if self.pad_trace_ids else (tid.lstrip("0") or "0")
            traces.append({"traceID": shown, "rootServiceName": "llm-gateway",
                           "rootTraceName": "chat", "startTimeUnixNano": str(t0),
                           "durationMs": 1000, "spanSet": spanset, "spanSets": [spanset]})
        return {"traces": traces, "metrics": {"inspectedTraces": len(order),
                                              "inspectedBytes": "1000", "completedJobs": 1,
                                              "totalJobs": 1}}

    def _value(self, row: Mapping[str, Any], ref: AttrRef) -> Any:
        for scope in self._scopes(ref):
            for t in TYPES:
                v = row.get(col(scope, ref.key, t))
                if v is not None:
                    return v
        return None

    def _trace(self, trace_id: str, frame: pl.DataFrame) -> dict[str, Any]:
        tid = trace_id.lower().rjust(32, "0")
        rows = frame.filter(pl.col("trace_id") == tid).to_dicts()
        if not rows:
            return {"trace": {}}
        batches: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
        res_attrs: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
        for r in rows:
            res = [(c.split("|")[1], v) for c, v in r.items()
                   if c.startswith("resource|") and v is not None]
            key = tuple(sorted(res))
            res_attrs[key] = [{"key": k, "value": _any_value(v)} for k, v in sorted(res)]
            span_attrs = [{"key": c.split("|")[1], "value": _any_value(v)}
                          for c, v in r.items() if c.startswith("span|") and v is not None]
            batches.setdefault(key, []).append({
                "traceId": _b64(tid), "spanId": _b64(r["span_id"]), "name": r["name"],
                "kind": "SPAN_KIND_CLIENT", "startTimeUnixNano": str(r["start_ns"]),
                "endTimeUnixNano": str(r["end_ns"]), "attributes": span_attrs, "status": {},
                **({"traceState": r["trace_state"]} if r.get("trace_state") else {})})
        return {"trace": {"resourceSpans": [
            {"resource": {"attributes": res_attrs[k]},
             "scopeSpans": [{"scope": {"name": "llm-gateway"}, "spans": spans}]}
            for k, spans in batches.items()]}}


def _b64(hex_id: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_id)).decode()


def _num(v: float) -> int | float:
    return int(v) if float(v).is_integer() else v


def _any_value(v: Any) -> dict[str, Any]:
    if isinstance(v, bool):
        return {"boolValue": v}
    if isinstance(v, int):
        return {"intValue": str(v)}
    if isinstance(v, float):
        return {"doubleValue": v}
    return {"stringValue": str(v)}


def _any_value_text(t: str, v: str) -> dict[str, Any]:
    if t == "i":
        return {"intValue": v}
    if t == "f":
        return {"doubleValue": float(v)}
    if t == "b":
        return {"boolValue": v == "true"}
    return {"stringValue": v}


def start_server() -> HTTPServer:
    """A started loopback server (port 0) for scripts outside pytest."""
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    return server
