"""HTTP to one OpenObserve org: auth, retries, completeness checks, error codes turned into sentences."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import requests

from finops.errors import SourceError, redact
from finops.http import HttpClient, body_excerpt
from finops.sources.openobserve import sql as q
from finops.sources.openobserve.options import Options

US = 1_000_000
HOUR_US = 3600 * US
DAY_US = 24 * HOUR_US

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
