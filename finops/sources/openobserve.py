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
See :mod:`finops.sources.openobserve_sql`.

Token conventions: the per-span ``auto`` decision is made inside the SQL (see
:mod:`finops.sources.openobserve_sql`), so the rows equal the OTLP file source's rows for
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

Secrets are read from the named environment variables only; errors never print them.
"""

from __future__ import annotations

import difflib
import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote

import polars as pl
import requests

from finops.config import AttributeMap, SpanSource, secret_from_env
from finops.errors import ConfigError, DataError, FinopsError, SourceError, redact
from finops.http import HttpClient, body_excerpt
from finops.schemas import (
    DEFAULT_ACCOUNT,
    UNATTRIBUTED,
    UNKNOWN,
    USAGE_KEYS,
    USAGE_SCHEMA,
    USAGE_TOKENS,
    UsageDaily,
    validate,
)
from finops.sources import openobserve_sql as q
from finops.sources.base import ProgressFn, SpanPull
from finops.tokens import (
    AUTO,
    EXCLUSIVE,
    INCLUSIVE,
    canonical_provider,
    canonical_tier,
    convention_for,
)

__all__ = ["check", "pull"]

US = 1_000_000
HOUR_US = 3600 * US
DAY_US = 24 * HOUR_US
MIN_WINDOW_US = 60 * US
MAX_PAGES = 10_000
OPTIONS = {
    "url", "org", "stream", "user_env", "password_env", "timeout", "attempts", "page_size",
    "window_hours", "verify_counts", "verify_tls", "scope", "only",
}

# OpenObserve's JSON error codes (infra/src/errors, stable since v0.14; the code wins over
# the HTTP status, which was 500 for every search error up to v0.14).
CODES = {
    10001: "server internal error",
    20001: "SQL not valid",
    20002: "stream not found",
    20003: "full-text search field not found",
    20004: "field not found",
    20005: "function not defined",
    20006: "parquet file not found",
    20007: "field has no compatible data type",
    20008: "SQL execution error",
    20009: "search cancelled",
    20010: "search timed out",
    20011: "invalid parameters",
    20012: "rate limit exceeded",
    20013: "histogram not available",
}
RETRY_CODES = frozenset({10001, 20006, 20009, 20010, 20012, 429, 500, 503})
TIMEOUT_CODES = frozenset({20010})


# --------------------------------------------------------------------------- options

@dataclass(frozen=True)
class Options:
    """An OpenObserve source's options, checked."""

    url: str
    org: str
    stream: str
    basic: tuple[str, str] | None
    user_env: str | None
    password_env: str | None
    timeout: float
    attempts: int
    page_size: int
    window_us: int
    verify_counts: bool
    verify: bool | str
    scopes: Mapping[str, str]
    only: Mapping[str, tuple[str, ...]]


def _unknown(key: str, allowed: Sequence[str], what: str, where: str) -> ConfigError:
    near = difflib.get_close_matches(key, sorted(allowed), n=1)
    hint = f" (did you mean {near[0]!r}?)" if near else ""
    return ConfigError(f"{where}: unknown {what} {key!r}{hint}")


def parse_options(source: SpanSource) -> Options:
    """Check an OpenObserve source's options (errors name ``sources.<name>.<key>``)."""
    where = f"sources.{source.name}"
    o = dict(source.options)
    for key in o:
        if key not in OPTIONS:
            raise _unknown(key, sorted(OPTIONS), "option", where)
    url = o.get("url")
    if not isinstance(url, str) or not re.match(r"https?://", url):
        raise ConfigError(f"{where}: url must be an http(s) URL such as "
                          "\"https://openobserve.example.com\"")
    org = o.get("org", "default")
    stream = o.get("stream", "default")
    for key, value in (("org", org), ("stream", stream)):
        if not isinstance(value, str) or not value or "\x00" in value:
            raise ConfigError(f"{where}: {key} must be a non-empty string")
    user_env, password_env = o.get("user_env"), o.get("password_env")
    basic = None
    if user_env or password_env:
        if not (user_env and password_env):
            raise ConfigError(f"{where}: basic auth needs both user_env and password_env")
        u = secret_from_env(user_env, f"{where}.user_env")
        p = secret_from_env(password_env, f"{where}.password_env")
        assert u is not None and p is not None
        basic = (u.reveal(), p.reveal())
    timeout = o.get("timeout", 300)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise ConfigError(f"{where}: timeout must be a positive number of seconds")
    attempts = o.get("attempts", 5)
    if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
        raise ConfigError(f"{where}: attempts must be a positive integer")
    page_size = o.get("page_size", 10_000)
    if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
        raise ConfigError(f"{where}: page_size must be a positive integer")
    hours = o.get("window_hours", 24)
    if isinstance(hours, bool) or not isinstance(hours, int) or hours < 1 or 24 % hours:
        raise ConfigError(f"{where}: window_hours must divide 24 (1, 2, 3, 4, 6, 8, 12, 24), "
                          f"not {hours!r}")
    verify_counts = o.get("verify_counts", True)
    if not isinstance(verify_counts, bool):
        raise ConfigError(f"{where}: verify_counts must be true or false")
    verify = o.get("verify_tls", True)
    if not isinstance(verify, bool | str):
        raise ConfigError(f"{where}: verify_tls must be true, false or a CA bundle path")
    fields = (*q.DIMS, *q.TOKENS)
    scope = o.get("scope", {})
    if not isinstance(scope, Mapping):
        raise ConfigError(f"{where}: scope must be a table, e.g. {{ team = \"resource\" }}")
    for f, s in scope.items():
        if f not in fields:
            raise _unknown(f, fields, "field in scope:", where)
        if s not in q.SCOPES:
            raise ConfigError(f"{where}: scope.{f} must be one of {', '.join(q.SCOPES)}, "
                              f"not {s!r}")
    only_raw = o.get("only", {})
    if not isinstance(only_raw, Mapping):
        raise ConfigError(f"{where}: only must be a table, e.g. {{ provider = [\"openai\"] }}")
    only: dict[str, tuple[str, ...]] = {}
    for f, values in only_raw.items():
        if f not in q.DIMS:
            raise _unknown(f, q.DIMS, "field in only:", where)
        if isinstance(values, str):
            values = [values]
        if not isinstance(values, list) or not values or not all(
                isinstance(v, str) for v in values):
            raise ConfigError(f"{where}: only.{f} must be a non-empty list of strings")
        only[f] = tuple(values)
    return Options(
        url=url, org=org, stream=stream, basic=basic, user_env=user_env,
        password_env=password_env, timeout=float(timeout), attempts=attempts,
        page_size=page_size, window_us=hours * HOUR_US, verify_counts=verify_counts,
        verify=verify, scopes=dict(scope), only=only)


# --------------------------------------------------------------------------- errors

def _json_error(resp: requests.Response) -> dict[str, Any] | None:
    try:
        body = resp.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) and "code" in body else None


def _code(resp: requests.Response) -> int | None:
    body = _json_error(resp)
    code = body.get("code") if body else None
    return code if isinstance(code, int) else None


def _should_retry(resp: requests.Response) -> bool:
    """Retry 429/5xx unless the JSON code says the query itself is wrong (≤v0.14: 500s)."""
    code = _code(resp)
    return code is None or code in RETRY_CODES


class Incomplete(Exception):
    """An answer that does not cover the window (clamped, partial, capped)."""

    def __init__(self, reason: str, new_start: int | None = None,
                 new_range: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.new_start = new_start
        self.new_range = new_range


def window_label(start_us: int, end_us: int) -> str:
    """``2026-10-01`` for a whole UTC day, else ``2026-10-01T06:00:00Z..12:00:00Z``."""
    s = datetime.fromtimestamp(start_us / US, UTC)
    e = datetime.fromtimestamp(end_us / US, UTC)
    if end_us - start_us == DAY_US and start_us % DAY_US == 0:
        return s.date().isoformat()
    head = s.strftime("%Y-%m-%dT%H:%M:%SZ")
    tail = e.strftime("%H:%M:%SZ") if e.date() == s.date() else e.strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    return f"{head}..{tail}"


@dataclass
class Client:
    """HTTP to one OpenObserve org: auth, retries, error codes turned into sentences."""

    opts: Options
    prefix: str
    sleep: Callable[[float], None] = time.sleep
    http: HttpClient = field(init=False)
    schema_columns: dict[str, str] = field(default_factory=dict)  # name -> Arrow type
    max_range_us: int | None = None  # the stream's max_query_range, when it sets one

    def __post_init__(self) -> None:
        self.http = HttpClient(
            name=self.prefix, base_url=self.opts.url, auth=self.opts.basic,
            timeout=self.opts.timeout + 10, attempts=self.opts.attempts, sleep=self.sleep,
            verify=self.opts.verify, should_retry=_should_retry,
            headers={"Accept": "application/json"})

    # ---- error explanations

    def explain(self, resp: requests.Response, columns: Mapping[str, str] | None = None) -> str:
        """A sentence for an error answer: keyed on the JSON ``code``, then the status."""
        status = resp.status_code
        if status in (401, 403) and _json_error(resp) is None:
            who = (f"{self.opts.user_env}/{self.opts.password_env}" if self.opts.user_env
                   else "no credentials configured (user_env/password_env)")
            text = body_excerpt(resp, 80) or "(empty body)"
            if status == 401:
                return (f"HTTP 401 {text}: OpenObserve rejected the credentials ({who}): use "
                        "the user's e-mail with its password, or a service account with its "
                        "token; an ingestion token or passcode cannot search")
            return (f"HTTP 403 {text}: the user in {who} may not search stream "
                    f"{self.opts.stream!r} in org {self.opts.org!r}")
        body = _json_error(resp)
        if body is None:
            return f"HTTP {status}: {body_excerpt(resp)}"
        code = body.get("code")
        message = redact(str(body.get("message", "")))
        label = CODES.get(code, "error") if isinstance(code, int) else "error"
        line = f"{label} (code {code}, HTTP {status}): {message}"
        if code == 20004:
            line += self._field_hint(body, message, columns or {})
        elif code == 20002:
            line += (f"; stream {self.opts.stream!r} has no traces in org {self.opts.org!r} "
                     "(check org and stream)")
        elif code == 20001:
            line += " (finops built this SQL: please report it)"
        elif code in TIMEOUT_CODES:
            line += "; lower window_hours or raise timeout"
        for key in ("hint", "error_detail"):
            if body.get(key):
                line += f"; {key}: {redact(str(body[key]))}"
        return line

    def _field_hint(self, body: Mapping[str, Any], message: str,
                    columns: Mapping[str, str]) -> str:
        m = re.search(r"'([^']+)'|named ([\w.\"]+)|not found: ([\w.]+)", message)
        name = next((g for g in m.groups() if g), "").strip('"') if m else ""
        parts = []
        if name in columns:
            parts.append(f"column {name!r} is configured attribute {columns[name]}")
        sugg = [str(s) for s in body.get("suggestions") or []]
        sugg += [s for s in q.similar_columns([name], self.schema_columns) if s not in sugg]
        if sugg:
            parts.append(f"similar columns: {', '.join(sugg[:5])}")
        parts.append("the stream schema changed during the pull, or the column is not "
                     "searchable")
        return "; " + "; ".join(parts)

    # ---- calls

    def healthz(self) -> str:
        """``GET /healthz`` (no auth): the status string."""
        resp = self.http.request("GET", "/healthz", where="healthz")
        if resp.status_code != 200:
            raise SourceError(f"{self.prefix} healthz: {self.explain(resp)}")
        try:
            body = resp.json()
        except ValueError:
            raise SourceError(f"{self.prefix} healthz: not JSON: {body_excerpt(resp)}") from None
        return str(body.get("status", body)) if isinstance(body, dict) else str(body)

    def schema(self) -> dict[str, Any]:
        """``GET /api/{org}/streams/{stream}/schema?type=traces``; fills ``schema_columns``."""
        path = (f"/api/{quote(self.opts.org, safe='')}/streams/"
                f"{quote(self.opts.stream, safe='')}/schema")
        where = f"stream {self.opts.stream!r} schema"
        resp = self.http.request("GET", path, where=where, params={"type": "traces"})
        if resp.status_code == 404 or _code(resp) in (20002, 404):
            raise SourceError(
                f"{self.prefix} {where}: stream {self.opts.stream!r} not found in org "
                f"{self.opts.org!r} (type=traces): {self.explain(resp)}")
        if not 200 <= resp.status_code < 300:
            raise SourceError(f"{self.prefix} {where}: {self.explain(resp)}")
        try:
            body = resp.json()
        except ValueError:
            raise SourceError(f"{self.prefix} {where}: not JSON: {body_excerpt(resp)}") from None
        fields = body.get("schema") if isinstance(body, dict) else None
        if not isinstance(fields, list):
            raise SourceError(f"{self.prefix} {where}: no 'schema' list in the answer")
        cols: dict[str, str] = {}
        for i, f in enumerate(fields):
            if not isinstance(f, dict) or not isinstance(f.get("name"), str):
                raise SourceError(f"{self.prefix} {where}: schema[{i}].name missing")
            cols[f["name"]] = str(f.get("type", ""))
        if body.get("stream_type") not in (None, "traces"):
            raise SourceError(f"{self.prefix} {where}: stream_type is "
                              f"{body.get('stream_type')!r}, not traces")
        self.schema_columns = cols
        return body

    def search(self, sql: str, start_us: int, end_us: int, offset: int, size: int,
               columns: Mapping[str, str]) -> list[dict[str, Any]]:
        """One page of ``_search?type=traces``; raises :class:`Incomplete` unless complete."""
        where = window_label(start_us, end_us)
        path = f"/api/{quote(self.opts.org, safe='')}/_search"
        body = {
            "query": {"sql": sql, "start_time": start_us, "end_time": end_us,
                      "from": offset, "size": size},
            "timeout": int(self.opts.timeout),
        }
        params = {"type": "traces", "use_cache": "false"}
        for attempt in range(1, self.opts.attempts + 1):
            resp = self.http.request("POST", path, where=where, params=params, json=body)
            code = _code(resp)
            if (resp.status_code == 408 or code in TIMEOUT_CODES) and \
                    attempt < self.opts.attempts:
                self.sleep(min(60.0, 2.0 ** attempt))  # the server gave up: back off, retry
                continue
            break
        if not 200 <= resp.status_code < 300:
            raise SourceError(f"{self.prefix} {where}: {self.explain(resp, columns)}")
        try:
            answer = resp.json()
        except ValueError:
            raise SourceError(f"{self.prefix} {where}: not JSON: {body_excerpt(resp)}") from None
        if not isinstance(answer, dict) or not isinstance(answer.get("hits"), list):
            raise SourceError(f"{self.prefix} {where}: no 'hits' list in the answer")
        _check_complete(answer, start_us, end_us)
        hits = answer["hits"]
        if len(hits) > size:
            raise SourceError(f"{self.prefix} {where}: {len(hits)} rows for size {size}: the "
                              "server did not apply from/size; cannot page safely")
        for i, h in enumerate(hits):
            if not isinstance(h, dict):
                raise SourceError(f"{self.prefix} {where}: hits[{offset + i}] is not an object")
        return hits


def _check_complete(answer: Mapping[str, Any], start_us: int, end_us: int) -> None:
    errors = answer.get("function_error") or []
    if isinstance(errors, str):  # a string up to v0.14, a list since
        errors = [errors]
    text = "; ".join(str(e) for e in errors)
    new_start, new_end = answer.get("new_start_time"), answer.get("new_end_time")
    clamped = (isinstance(new_start, int) and new_start > start_us) or (
        isinstance(new_end, int) and new_end < end_us)
    if clamped:
        ns = new_start if isinstance(new_start, int) else start_us
        ne = new_end if isinstance(new_end, int) else end_us
        raise Incomplete(f"range clamped to {window_label(ns, ne)}"
                         + (f" ({text})" if text else ""), ns, ne - ns)
    if answer.get("is_partial"):
        raise Incomplete(f"partial result{': ' + text if text else ''}")
    if errors:
        raise Incomplete(f"function_error: {text}")


# --------------------------------------------------------------------------- pull

def _prefix(source: SpanSource) -> str:
    return "openobserve" if source.name in ("", "openobserve") else f"openobserve {source.name}"


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _provider_of(model: str) -> str:
    m = model.strip().lower()
    if m.startswith(("gpt-", "o1", "o3", "o4", "chatgpt")):
        return "openai"
    if "claude" in m:
        return "anthropic"
    return UNKNOWN


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


Key = tuple[date, str, str, str, str, str, str, str]


class Puller:
    """Pulls one window day by day, splitting windows the server will not answer whole."""

    def __init__(self, client: Client, cols: Mapping[str, q.FieldColumns],
                 conventions: Mapping[str, str]) -> None:
        self.client = client
        self.opts = client.opts
        self.prefix = client.prefix
        self.cols = cols
        self.conventions = dict(conventions)
        self.sql = q.rollup_sql(self.opts.stream, cols, self.opts.only)
        self.count_sql = q.count_sql(self.opts.stream, cols, self.opts.only)
        # column -> "team.id (span) for team", for error lines
        self.labels = {c.column: f"{c.key} ({c.scope}) for {f}" for f, fc in cols.items()
                       for c in fc.candidates if c.column in fc.columns}
        self.rows: dict[Key, list[int]] = {}
        self.stats = {"windows": 0, "splits": 0, "pages": 0, "llm_spans": 0,
                      "exclusive_detected": 0, "late_spans": 0}
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
            total = sum(_int(h, q.REQUESTS, where) for h in hits)
            if total < expected:
                raise Incomplete(f"rows add up to {total} spans but the window has {expected}: "
                                 "the result was cut")
            self.stats["late_spans"] += total - expected
        return hits

    def add(self, hit: Mapping[str, Any], label: str) -> None:
        """One result row: canonical key, per-span conventions, accumulated."""
        where = f"{self.prefix} {label}"
        raw = {f: _text(hit.get(q.alias(f))) for f in q.DIMS}
        day_us = _int(hit, q.DAY, where)
        day = date(1970, 1, 1) + timedelta(days=day_us // DAY_US)
        model = raw["model"] or UNKNOWN
        provider = canonical_provider(raw["provider"]) if raw["provider"] else _provider_of(model)
        key: Key = (day, provider, raw["account"] or DEFAULT_ACCOUNT, model,
                    canonical_tier(raw["service_tier"]), raw["team"] or UNATTRIBUTED,
                    raw["project"] or UNKNOWN, raw["feature"] or UNKNOWN)
        for f in q.TOKENS:
            bad = _int(hit, q.bad_alias(f), where)
            if bad:
                cols = ", ".join(self.cols[f].columns)
                raise DataError(f"{where}: {bad} span(s) of {'/'.join(key[1:])} have a "
                                f"{f} value ({cols}) that is not a non-negative integer")
        requests_ = _int(hit, q.REQUESTS, where)
        input_raw = _int(hit, q.INPUT_RAW, where)
        inside = _int(hit, q.CACHE_INSIDE, where)
        over = _int(hit, q.OVER, where)
        conv = convention_for(self.conventions, provider, AUTO)
        if conv == EXCLUSIVE:
            input_tokens = input_raw
        else:
            if over and conv == INCLUSIVE:
                raise DataError(
                    f"{where}: {over} span(s) of {'/'.join(key[1:])} have cache tokens above "
                    f"their input count (input_convention for {provider} is inclusive); the "
                    f"spans look exclusive: set input_convention.{provider} = \"exclusive\"")
            input_tokens = input_raw - inside
            self.stats["exclusive_detected"] += over
        counts = [requests_, input_tokens] + [_int(hit, q.alias(f), where) for f in q.TOKENS[1:]]
        if any(n < 0 for n in counts):
            raise DataError(f"{where}: negative token sum for {'/'.join(key[1:])}")
        acc = self.rows.setdefault(key, [0] * 6)
        for i, n in enumerate(counts):
            acc[i] += n
        self.stats["llm_spans"] += requests_

    def frame(self, source: str, where: str) -> pl.DataFrame:
        """The accumulated rows as a validated ``USAGE_SCHEMA`` frame, sorted by key."""
        rows = [(*k, source, *c) for k, c in sorted(self.rows.items())]
        cols = [*USAGE_KEYS, "requests", *USAGE_TOKENS]
        frame = pl.DataFrame(rows, schema={c: USAGE_SCHEMA[c] for c in cols}, orient="row")
        return validate(frame.select(list(USAGE_SCHEMA)), UsageDaily, where)


def resolve(client: Client, attributes: AttributeMap) -> tuple[dict[str, q.FieldColumns],
                                                               list[str]]:
    """Fetch the schema and map fields to columns; notes for fields without a column."""
    body = client.schema()
    keys = {f: tuple(attributes[f]) if f in attributes.keys else () for f in
            (*q.DIMS, *q.TOKENS)}
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
    cols, notes = resolve(client, attributes)
    puller = Puller(client, cols, source.input_convention)
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
    stats = {**st, "rows": frame.height, "http_requests": client.http.requests_made,
             "http_bytes": client.http.bytes_received}
    return SpanPull(frame, stats, notes)


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
    return out
