"""HTTP to a Prometheus-compatible query API, and its answers checked.

Prometheus, Grafana Mimir, Thanos Query and VictoriaMetrics (single node or vmselect) all
answer ``/api/v1/query_range``, ``/api/v1/labels`` and ``/api/v1/label/<name>/values`` with
the same envelope::

    {"status": "success", "data": {"resultType": "matrix", "result": [...]},
     "warnings": [...], "infos": [...], "isPartial": false}

Differences that matter here: VictoriaMetrics gives integer timestamps, ``isPartial`` (a
cluster with a storage node down) and no ``warnings``; Prometheus gives float timestamps
and puts "PromQL info:" annotations among its warnings (2.x) or in ``infos`` (3.x); Thanos
and Mimir report missing stores or partial data as warnings. Every query is sent with
``partial_response=false`` (Thanos) and ``deny_partial_response=1`` (VictoriaMetrics
cluster); an answer still marked partial is an error, and a warning is an error unless
``allow_warnings`` (a warning there means data may be missing, and money could be wrong).

Errors that mean "the server refuses this much work" (too many samples, series, points or
chunks, or a timeout) raise :class:`TooBig` so that the caller splits the query instead of
retrying it; they are not retried.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import requests

from finops.errors import DataError, SourceError, redact
from finops.http import HttpClient, api_headers, body_excerpt
from finops.sources.prometheus.options import PromOptions

# Limit errors, by server: Prometheus ("would load too many samples", "maximum resolution
# of 11,000 points", timeouts), VictoriaMetrics (-search.maxUniqueTimeseries,
# maxSamplesPerQuery/Series, maxPointsPerTimeseries, maxQueryDuration), Mimir/Cortex
# (max series/chunks per query, query time range), Thanos (series/samples limits).
_POINTS = re.compile(r"maximum resolution|too many points|maxPointsPerTimeseries|"
                     r"time range exceeds|max_total_query_length|max-query-length", re.I)
_TOO_BIG = re.compile(r"too many samples|maxUniqueTimeseries|maxSamplesPer|maximum number of "
                      r"(series|chunks|samples)|max[-_ ]?(fetched[-_ ])?(series|chunks|samples)|"
                      r"series limit|samples limit|chunk[a-z ]*limit|number of matching timeseries exceeds|"
                      r"exceeded the limit|timed out|timeout exceeded|maxQueryDuration|"
                      r"context deadline exceeded|query processing would load", re.I)
_MANY_TO_MANY = re.compile(r"many-to-many|duplicate series|found duplicate", re.I)


class TooBig(Exception):
    """The server refused a query for one of its limits; ``points``: a time-range limit."""

    def __init__(self, message: str, *, points: bool) -> None:
        super().__init__(message)
        self.message = message
        self.points = points


Series = tuple[dict[str, str], list[tuple[int, float]]]


def _worth_retrying(resp: requests.Response) -> bool:
    # A query that timed out or hit a limit will do so again: split it instead.
    text = resp.text or ""
    return not (_TOO_BIG.search(text) or _POINTS.search(text))


@dataclass
class PromClient:
    """One Prometheus-compatible API: auth, retries (HttpClient), checked answers."""

    opts: PromOptions
    prefix: str
    sleep: Callable[[float], None] = time.sleep
    http: HttpClient = field(init=False)
    infos: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.http = HttpClient(
            name=self.prefix, base_url=self.opts.url, headers=api_headers(self.opts.tenant, self.opts.bearer),
            auth=self.opts.basic, timeout=self.opts.timeout, attempts=self.opts.attempts, verify=self.opts.verify,
            sleep=self.sleep, should_retry=_worth_retrying)

    # --- transport ------------------------------------------------------------------------

    def _get(self, path: str, params: Mapping[str, Any] | Sequence[tuple[str, Any]], where: str,
             query: str | None = None, *, post: bool = False) -> Any:
        if post:  # a form body: queries get long, and URLs have limits in proxies
            resp = self.http.request("POST", path, where=where, data=params)
        else:
            resp = self.http.request("GET", path, where=where, params=params)
        head = f"{self.prefix} {where}"
        try:
            body = resp.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise SourceError(self._http_error(resp, head))
        if body.get("status") != "success":
            raise self._api_error(resp, body, head, query)
        if body.get("isPartial") is True:
            raise SourceError(f"{head}: the server answered a partial response (a storage node "
                              "did not answer): refusing incomplete data; re-run when it is back")
        for w in body.get("warnings") or []:
            self._warning(str(w), head)
        for i in body.get("infos") or []:
            self._note_info(str(i))
        if "data" not in body:
            raise SourceError(f"{head}: answer has no 'data'")
        return body["data"]

    def _http_error(self, resp: requests.Response, head: str) -> str:
        code = resp.status_code
        text = body_excerpt(resp)
        if code == 401:
            return (f"{head}: HTTP 401 unauthorized ({text or 'no body'}): check user_env/"
                    "password_env or token_env")
        if code == 403:
            return f"{head}: HTTP 403 forbidden ({text or 'no body'}): the credentials cannot read metrics"
        if code == 404:
            return (f"{head}: HTTP 404 at {redact(resp.url.split('?')[0])}: check url and its path "
                    "prefix (Mimir: /prometheus, vmselect: /select/<tenant>/prometheus)")
        if 200 <= code < 300:
            return f"{head}: answer is not a JSON object: {text}"
        return f"{head}: HTTP {code}: {text or 'no body'}"

    def _api_error(self, resp: requests.Response, body: dict[str, Any], head: str,
                   query: str | None) -> Exception:
        kind = str(body.get("errorType") or resp.status_code)
        msg = redact(str(body.get("error") or body_excerpt(resp)))
        if resp.status_code in (401, 403, 404) and not body.get("error"):
            return SourceError(self._http_error(resp, head))
        if _POINTS.search(msg):
            return TooBig(f"{head}: {msg}", points=True)
        if _TOO_BIG.search(msg) or kind == "timeout":
            return TooBig(f"{head}: {msg}", points=False)
        if _MANY_TO_MANY.search(msg):
            return SourceError(
                f"{head}: target_info has more than one series for a process on one day ({msg}); "
                "its resource attributes changed: set join_on to labels that name one process "
                "(for example [\"job\", \"instance\", \"service_instance_id\"]) or resource = \"labels\"")
        shown = f" (query: {query})" if query and kind == "bad_data" else ""
        return SourceError(f"{head}: {kind}: {msg}{shown}")

    def _warning(self, text: str, head: str) -> None:
        if text.startswith("PromQL info:"):
            self._note_info(text)
            return
        if not self.opts.allow_warnings:
            raise SourceError(f"{head}: the server warned that the answer may be incomplete: "
                              f"{redact(text)} (set allow_warnings = true to accept such answers)")
        if text not in self.warnings:
            self.warnings.append(redact(text))

    def _note_info(self, text: str) -> None:
        if text not in self.infos and len(self.infos) < 20:
            self.infos.append(redact(text))

    # --- endpoints --------------------------------------------------------------------------

    def query_range(self, query: str, start: int, end: int, where: str) -> list[Series]:
        """Evaluate ``query`` at every UTC day end from ``start`` to ``end`` (unix seconds)."""
        params = {"query": query, "start": start, "end": end, "step": 86400,
                  "partial_response": "false", "deny_partial_response": "1", "nocache": "1"}
        data = self._get("/api/v1/query_range", params, where, query, post=True)
        head = f"{self.prefix} {where}"
        if not isinstance(data, dict) or data.get("resultType") != "matrix":
            got = data.get("resultType") if isinstance(data, dict) else type(data).__name__
            raise SourceError(f"{head}: data.resultType: expected \"matrix\", got {got!r}")
        result = data.get("result")
        if not isinstance(result, list):
            raise SourceError(f"{head}: data.result: expected a list")
        return [_series(item, i, head) for i, item in enumerate(result)]

    def label_values(self, label: str, match: Sequence[str], start: int, end: int,
                     where: str) -> list[str]:
        """Values of ``label`` on series matching ``match`` with samples in [start, end]."""
        params = [("start", start), ("end", end), *(("match[]", m) for m in match)]
        data = self._get(f"/api/v1/label/{label}/values", params, where)
        return _strings(data, f"{self.prefix} {where}: data")

    def label_names(self, match: Sequence[str], start: int, end: int, where: str) -> list[str]:
        """Label names on series matching ``match`` with samples in [start, end]."""
        params = [("start", start), ("end", end), *(("match[]", m) for m in match)]
        data = self._get("/api/v1/labels", params, where)
        return _strings(data, f"{self.prefix} {where}: data")

    def version(self) -> str | None:
        """The server's version from ``/api/v1/status/buildinfo`` (VictoriaMetrics: none)."""
        resp = self.http.request("GET", "/api/v1/status/buildinfo", where="buildinfo")
        if resp.status_code in (404, 405):
            return None
        try:
            body = resp.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or body.get("status") != "success":
            raise SourceError(self._http_error(resp, f"{self.prefix} buildinfo"))
        data = body.get("data")
        version = data.get("version") if isinstance(data, dict) else None
        return str(version) if version else None


def _strings(data: Any, where: str) -> list[str]:
    if not isinstance(data, list) or not all(isinstance(x, str) for x in data):
        raise SourceError(f"{where}: expected a list of strings")
    return data


def _series(item: Any, i: int, head: str) -> Series:
    where = f"{head}: data.result[{i}]"
    if not isinstance(item, dict) or not isinstance(item.get("metric"), dict):
        raise SourceError(f"{where}.metric: expected an object of labels")
    labels = item["metric"]
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
        raise SourceError(f"{where}.metric: label values must be strings")
    values = item.get("values")
    if not isinstance(values, list):
        raise SourceError(f"{where}.values: expected a list of [time, \"value\"] pairs")
    points = []
    for j, pair in enumerate(values):
        if (not isinstance(pair, list) or len(pair) != 2 or not isinstance(pair[0], int | float)
                or isinstance(pair[0], bool) or not isinstance(pair[1], str)):
            raise SourceError(f"{where}.values[{j}]: expected a [time, \"value\"] pair, got {pair!r}")
        try:
            value = float(pair[1])
        except ValueError:
            raise SourceError(f"{where}.values[{j}]: value {pair[1]!r} is not a number") from None
        if math.isnan(value) or math.isinf(value):
            raise DataError(f"{where}.values[{j}]: value is {pair[1]} for {labels}: a counter "
                            "sample is not finite")
        points.append((int(round(pair[0])), value))
    return labels, points
