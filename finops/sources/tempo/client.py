"""Tempo connection: options, auth, version, and HTTP errors turned into sentences."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests

from finops.config import AttributeMap, SpanSource
from finops.errors import ConfigError, SourceError, did_you_mean, redact
from finops.http import HttpClient, api_headers, body_excerpt
from finops.options import OptionReader
from finops.sources.tempo.decode import Ctx, json_body
from finops.sources.tempo.traceql import (
    DEFAULT_GROUP_BY,
    GROUP_FIELDS,
    MAX_BY,
    SCOPE_CHOICES,
    TOKEN_FIELDS,
    Attr,
    attr_for,
    parse_duration,
)

HOUR = 3600
DAY = 86400
MODES = ("auto", "pushdown", "search")
OPTIONS = {
    "url", "tenant", "user_env", "password_env", "token_env", "verify_tls", "mode", "scope",
    "keys", "timeout", "attempts", "step", "max_duration", "search_step", "search_limit",
    "spss", "group_by",
}


@dataclass(frozen=True)
class TempoOptions:
    """A Tempo source's options, checked."""

    url: str
    tenant: str | None
    basic: tuple[str, str] | None
    bearer: str | None
    verify: bool | str
    mode: str
    timeout: float
    attempts: int
    step: int | None  # pushdown tile length in seconds (None: the server's maximum)
    max_duration: int | None  # override of the server's metrics maximum, seconds
    search_step: int
    search_limit: int
    spss: int
    # canonical field -> the attributes read for it, first present wins: every key of the
    # mapping on the span, then every key on the resource (scope "any", the default)
    candidates: Mapping[str, tuple[Attr, ...]]
    group_by: tuple[str, ...]


def _seconds(value: Any, key: str, where: str) -> int:
    secs = parse_duration(value) if isinstance(value, str) else (
        float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None)
    if secs is None or secs <= 0 or not float(secs).is_integer():
        raise ConfigError(f"{where}: {key} must be a duration such as \"3h\" or \"30m\", "
                          f"not {value!r}")
    return int(secs)


FIELDS = (*GROUP_FIELDS, *TOKEN_FIELDS, "operation")


def parse_mapping(source: SpanSource, attributes: AttributeMap
                  ) -> tuple[dict[str, tuple[Attr, ...]], tuple[str, ...]]:
    """The attributes read per field and the ``by()`` fields: what can be checked at config load.

    ``scope.<field>`` is ``any`` (default: the span's keys, then the resource's, as the OTLP
    file source reads them), ``span`` or ``resource``; ``keys.<field>`` replaces the mapping's
    keys for that field (a name or a list). An attribute name TraceQL cannot carry is refused.
    """
    where = f"sources.{source.name}"
    o = OptionReader(source.options, where, OPTIONS)
    scope = o.table("scope", example='{ team = "resource" }')
    keys = o.table("keys", example='{ model = "gen_ai.request.model" }')
    for name, table in (("scope", scope), ("keys", keys)):
        for f in table:
            if f not in FIELDS:
                hint = did_you_mean(f, FIELDS)
                raise ConfigError(f"{where}: {name}.{f}: not a canonical field{hint}")
    candidates: dict[str, tuple[Attr, ...]] = {}
    for f in FIELDS:
        names = keys.get(f)
        if names is None:
            names = list(attributes[f]) if f in attributes.keys else []
        elif isinstance(names, str):
            names = [names]
        if not isinstance(names, list) or not all(isinstance(k, str) for k in names):
            raise ConfigError(f"{where}: keys.{f} must be an attribute name or a list of them")
        if not names and f != "operation":
            raise ConfigError(f"{where}: no attribute mapped for {f}")
        sc = scope.get(f, "any")
        if sc not in SCOPE_CHOICES:
            raise ConfigError(f"{where}: scope.{f} must be 'any', 'span' or 'resource', not {sc!r}")
        scopes = ("span", "resource") if sc == "any" else (sc,)
        candidates[f] = tuple(dict.fromkeys(attr_for(f, k, s, where) for s in scopes for k in names))

    group_by = tuple(o.get("group_by", DEFAULT_GROUP_BY))
    bad = [g for g in group_by if g not in GROUP_FIELDS or g == "provider"]
    if bad or len(group_by) > MAX_BY or len(set(group_by)) != len(group_by):
        raise ConfigError(
            f"{where}: group_by takes up to {MAX_BY} distinct fields of "
            f"{', '.join(g for g in GROUP_FIELDS if g != 'provider')} (provider is always a "
            f"filter; fields left out are split through filters), not {list(group_by)}")
    return candidates, group_by


def _static_options(o: OptionReader, where: str) -> tuple[str, int | None, int, int, int]:
    mode = o.get("mode", "auto")
    if mode not in MODES:
        raise ConfigError(f"{where}: mode must be one of {', '.join(MODES)}, not {mode!r}")
    step = _seconds(o.get("step"), "step", where) if "step" in o else None
    if step is not None and DAY % step:
        raise ConfigError(f"{where}: step must divide a day (e.g. 1h, 3h, 24h), not {o.get('step')!r}")
    search_step = _seconds(o.get("search_step", "1h"), "search_step", where)
    if DAY % search_step:
        raise ConfigError(f"{where}: search_step must divide a day, not {o.get('search_step')!r}")
    spss = o.get("spss", 100)
    if not isinstance(spss, int) or not 1 <= spss <= 100:
        raise ConfigError(f"{where}: spss must be between 1 and 100 (Tempo's maximum), "
                          f"not {spss!r}")
    limit = o.positive_int("search_limit", 5000)
    return mode, step, search_step, spss, limit


def parse_options(source: SpanSource, attributes: AttributeMap) -> TempoOptions:
    """Check a Tempo source's options (errors name ``sources.<name>.<key>``)."""
    where = f"sources.{source.name}"
    o = OptionReader(source.options, where, OPTIONS)
    url = o.url(example="https://tempo-prod-01-eu-west-0.grafana.net/tempo")
    basic, bearer = o.credentials()
    verify = o.verify_tls()
    mode, step, search_step, spss, limit = _static_options(o, where)
    candidates, group_by = parse_mapping(source, attributes)
    timeout = o.seconds("timeout", 60)
    attempts = o.positive_int("attempts", 5)
    tenant = o.string("tenant", what="a non-empty string (the X-Scope-OrgID)")
    return TempoOptions(
        url=url, tenant=tenant, basic=basic, bearer=bearer, verify=verify, mode=mode,
        timeout=timeout, attempts=attempts, step=step,
        max_duration=_seconds(o.get("max_duration"), "max_duration", where)
        if "max_duration" in o else None,
        search_step=search_step, search_limit=limit, spss=spss, candidates=candidates,
        group_by=group_by)


def parse_version(text: str | None) -> tuple[int, int, int] | None:
    """``v2.10.1`` / ``3.0.0-rc.1`` → (2, 10, 1); None if it is not a release version."""
    m = re.match(r"v?(\d+)\.(\d+)(?:\.(\d+))?", (text or "").strip())
    if not m:
        return None
    return int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)


@dataclass(frozen=True)
class ServerInfo:
    """What ``/api/status/buildinfo`` told us."""

    version: str | None

    @property
    def parsed(self) -> tuple[int, int, int] | None:
        """The version as a tuple, if it is a release."""
        return parse_version(self.version)

    @property
    def has_sum_over_time(self) -> bool:
        """sum_over_time arrived in 2.8; an unknown version is assumed recent."""
        v = self.parsed
        return v is None or v >= (2, 8, 0)

    @property
    def metrics_max(self) -> int:
        """The default metrics max_duration: 3h on 2.x, 24h from 3.0 (unknown: 3h, safe)."""
        v = self.parsed
        return DAY if v is not None and v >= (3, 0, 0) else 3 * HOUR


class QueryTooLong(Exception):
    """400: the range exceeds the server's metrics maximum (its value in seconds)."""

    def __init__(self, seconds: float | None) -> None:
        super().__init__(seconds)
        self.seconds = seconds


class TooRecent(Exception):
    """400: the window lies entirely within ``query_end_cutoff`` (nothing to count yet)."""


class MetricsUnavailable(Exception):
    """The server answers no TraceQL metrics (404, or no local-blocks processor)."""

    def __init__(self, line: str) -> None:
        super().__init__(line)
        self.line = line


def tile_label(start: int, end: int) -> str:
    """``2026-10-03T00:00Z..03:00Z`` for a tile given in unix seconds."""
    s = datetime.fromtimestamp(start, UTC)
    e = datetime.fromtimestamp(end, UTC)
    fmt = "%H:%M:%S" if s.second or e.second else "%H:%M"
    head = s.strftime("%Y-%m-%dT") + s.strftime(fmt) + "Z"
    if e.date() == s.date():
        tail = e.strftime(fmt)
    elif end - start <= DAY and e.time() == datetime.min.time():
        tail = "24:00" + (":00" if fmt.endswith("%S") else "")
    else:
        tail = e.strftime("%Y-%m-%dT") + e.strftime(fmt)
    return f"{head}..{tail}Z"


def _worth_retrying(resp: requests.Response) -> bool:
    # A 2.x frontend without the local-blocks processor answers 500 for every metrics query.
    return "localblocks processor not found" not in (resp.text or "")


@dataclass
class TempoClient:
    """HTTP to one Tempo: auth headers, retries (HttpClient), error explanations."""

    opts: TempoOptions
    prefix: str
    sleep: Callable[[float], None] = time.sleep
    http: HttpClient = field(init=False)

    def __post_init__(self) -> None:
        self.http = HttpClient(
            name=self.prefix, base_url=self.opts.url, headers=api_headers(self.opts.tenant, self.opts.bearer),
            auth=self.opts.basic, timeout=self.opts.timeout, attempts=self.opts.attempts, verify=self.opts.verify,
            sleep=self.sleep, should_retry=_worth_retrying)

    def get(self, path: str, params: Mapping[str, Any] | None, ctx: Ctx, *,
            query: str | None = None, metrics: bool = False) -> dict[str, Any]:
        """GET a Tempo JSON endpoint; any non-200 becomes one explained error line."""
        resp = self.http.request("GET", path, where=ctx.where, params=params)
        if resp.status_code != 200:
            raise self.error(resp, ctx, query=query, metrics=metrics)
        return json_body(resp, ctx)

    def error(self, resp: requests.Response, ctx: Ctx, *, query: str | None,
              metrics: bool) -> Exception:
        """Turn an error response (plain-text body) into an exception with a sentence."""
        code = resp.status_code
        text = body_excerpt(resp)
        head = f"{self.prefix} {ctx.where}: HTTP {code}"
        low = text.lower()
        if code == 400 and "exceeds the maximum allowed duration" in low:
            m = re.search(r"duration of ([0-9hms.]+)", text)
            return QueryTooLong(parse_duration(m.group(1)) if m else None)
        if code == 400 and "query_end_cutoff" in low:
            return TooRecent(text)
        if metrics and ("localblocks processor not found" in low or code == 404):
            return MetricsUnavailable(
                f"{head}: {text or 'not found'}: this Tempo serves no TraceQL metrics "
                "(2.x needs the metrics-generator local-blocks processor)")
        if code == 401 and "no org id" in low:
            return SourceError(
                f"{head}: no org id: this Tempo is multi-tenant and needs the tenant: set "
                "tenant = \"<org id>\" in the source options (sent as X-Scope-OrgID)")
        if code == 401:
            return SourceError(
                f"{head}: unauthorized ({text or 'no body'}): check user_env/password_env "
                "(Grafana Cloud: the stack's numeric user id and an access policy token with "
                "traces:read) or token_env")
        if code == 403:
            return SourceError(f"{head}: forbidden ({text or 'no body'}): the credentials "
                               "lack traces:read for this tenant")
        if code == 404:
            return SourceError(
                f"{head}: not found at {redact(resp.url.split('?')[0])}: check url and its "
                "path prefix (Grafana Cloud serves Tempo under /tempo)")
        suffix = f" (query: {query})" if query and code == 400 else ""
        return SourceError(f"{head}: {text or 'no body'}{suffix}")

    def buildinfo(self) -> tuple[ServerInfo, str | None]:
        """The server version, or (unknown, a note) when buildinfo is not served."""
        ctx = Ctx(self.prefix, "buildinfo")
        resp = self.http.request("GET", "/api/status/buildinfo", where=ctx.where)
        if resp.status_code in (404, 405):
            return ServerInfo(None), ("/api/status/buildinfo not served: version unknown, "
                                      "assuming TraceQL metrics with 3h windows")
        if resp.status_code != 200:
            raise self.error(resp, ctx, query=None, metrics=False)
        body = json_body(resp, ctx)
        version = body.get("version")
        if version is not None and not isinstance(version, str):
            raise ctx.fail("version", f"expected a string, got {version!r}")
        return ServerInfo(version or None), None
