"""The one HTTP helper every remote source uses.

Timeout on every call; bounded retries with backoff on 429, 5xx and connection errors,
honouring ``Retry-After``; an injectable ``sleep`` so tests run in milliseconds; errors
that name the source and window with secrets redacted; cursor pagination that refuses
to loop on a repeated cursor.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

import requests
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from finops.errors import SourceError, redact

RETRY_STATUS = frozenset({429, 500, 502, 503, 504, 529})


class RetryableHTTPError(Exception):
    """A response worth retrying (429/5xx); carries the server's Retry-After, if any."""

    def __init__(self, response: requests.Response, retry_after: float | None) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response
        self.retry_after = retry_after


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - (now if now is not None else time.time()))


def api_headers(tenant: str | None, bearer: str | None) -> dict[str, str]:
    """A JSON API's headers: the tenant (``X-Scope-OrgID``, as Tempo and Mimir read it) and a bearer token."""
    headers = {"Accept": "application/json"}
    if tenant:
        headers["X-Scope-OrgID"] = tenant
    if bearer:
        headers["Authorization"] = f"Bearer {bearer}"
    return headers


def body_excerpt(response: requests.Response, limit: int = 300) -> str:
    """A short, redacted, single-line excerpt of a response body for error lines.

    Redacted whole, then cut: a key straddling the cut would otherwise leak its first part.
    """
    text = response.text or ""
    text = " ".join(text.split())
    if text.lstrip().lower().startswith(("<!doctype", "<html")):
        return "an HTML page (not the API: check the base URL or proxy)"
    text = redact(text)
    return text[:limit] + ("…" if len(text) > limit else "")


class CrossHostRedirect(requests.RequestException):
    """A server redirected a request that carries credentials to another host."""


class GuardedSession(requests.Session):
    """A session that never forwards credentials to another host.

    requests strips ``Authorization`` on a redirect to another host but keeps every other
    header, so a key sent as ``x-api-key`` (Anthropic) or ``X-Scope-OrgID`` would follow a
    302 anywhere. A cross-host redirect of a request carrying credentials is refused.
    """

    def rebuild_auth(self, prepared_request: requests.PreparedRequest, response: requests.Response) -> None:
        """Refuse a cross-host redirect of an authenticated request (else requests' own rules)."""
        original = response.request
        if original is not None and self.should_strip_auth(original.url or "", prepared_request.url or ""):
            if _carries_credentials(original):
                raise CrossHostRedirect(f"redirected to another host "
                                        f"({redact(_host(prepared_request.url))}); credentials are not sent there")
        super().rebuild_auth(prepared_request, response)


_CREDENTIAL_HEADERS = ("authorization", "proxy-authorization", "x-api-key", "api-key", "cookie")


def _carries_credentials(request: requests.PreparedRequest) -> bool:
    names = {k.lower() for k in request.headers}
    return bool(names & set(_CREDENTIAL_HEADERS)) or any("token" in n or "key" in n for n in names)


def _host(url: str | None) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url or "")
    return f"{parts.scheme}://{parts.netloc}"


@dataclass
class HttpClient:
    """A requests session with retries; one per source.

    ``name`` prefixes every error (``openai costs``), ``should_retry`` may veto a retry for
    a response (Anthropic's spend-cap 429 has no ``retry-after`` and must not be retried).
    """

    name: str
    base_url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    auth: tuple[str, str] | None = None
    timeout: float = 30.0
    attempts: int = 5
    backoff_initial: float = 1.0
    backoff_max: float = 60.0
    max_retry_after: float = 300.0
    verify: bool | str = True
    sleep: Callable[[float], None] = time.sleep
    should_retry: Callable[[requests.Response], bool] | None = None
    session: requests.Session = field(default_factory=GuardedSession)
    requests_made: int = 0
    bytes_received: int = 0

    def url(self, path: str) -> str:
        """Join the base URL (which may carry a path prefix) and ``path``.

        An empty ``path`` is the base URL exactly as given: a webhook URL may end in a signed
        query string (Teams workflows) that a trailing ``/`` would break.
        """
        if not path:
            return self.base_url
        return self.base_url.rstrip("/") + "/" + path.lstrip("/")

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RetryableHTTPError) and exc.retry_after is not None:
            return min(exc.retry_after, self.max_retry_after)
        return wait_exponential_jitter(initial=self.backoff_initial, max=self.backoff_max)(state)

    def request(self, method: str, path: str, *, where: str, params: Any = None,
                json: Any = None, headers: Mapping[str, str] | None = None,
                data: Any = None) -> requests.Response:
        """Send a request with retries; return a 2xx response or raise :class:`SourceError`.

        ``where`` names the window or page for error lines (``2026-10-01..2026-10-08``);
        ``data`` is a form body (a long PromQL query is POSTed, not put in the URL).
        """
        url = self.url(path)
        hdrs = {**self.headers, **(headers or {})}

        def once() -> requests.Response:
            self.requests_made += 1
            resp = self.session.request(method, url, params=params, json=json, data=data, headers=hdrs,
                                        auth=self.auth, timeout=self.timeout, verify=self.verify)
            self.bytes_received += len(resp.content or b"")
            if resp.status_code in RETRY_STATUS:
                if self.should_retry is None or self.should_retry(resp):
                    raise RetryableHTTPError(resp, parse_retry_after(resp.headers.get("Retry-After")))
            return resp

        retrying = Retrying(
            stop=stop_after_attempt(self.attempts),
            wait=self._wait,
            sleep=self.sleep,
            retry=retry_if_exception(lambda e: isinstance(
                e, RetryableHTTPError | requests.ConnectionError | requests.Timeout)),
            reraise=True,
        )
        try:
            resp = retrying(once)
        except CrossHostRedirect as e:
            raise SourceError(f"{self.name} {where}: {e}") from None
        except RetryableHTTPError as e:
            raise SourceError(
                f"{self.name} {where}: HTTP {e.response.status_code} after {self.attempts} "
                f"attempts: {body_excerpt(e.response)}") from None
        except requests.Timeout:
            raise SourceError(
                f"{self.name} {where}: timed out after {self.timeout:g}s "
                f"({self.attempts} attempts)") from None
        except requests.ConnectionError as e:
            raise SourceError(
                f"{self.name} {where}: cannot connect to {redact(self.base_url)} "
                f"({self.attempts} attempts): {redact(type(e).__name__)}") from None
        return resp

    def get_json(self, path: str, *, where: str, params: Any = None,
                 explain: Callable[[requests.Response], str | None] | None = None) -> Any:
        """GET ``path`` and decode JSON; non-2xx or a non-JSON body raise :class:`SourceError`.

        ``explain`` may turn a known error response into a sentence (e.g. 401 → wrong key type).
        """
        resp = self.request("GET", path, where=where, params=params)
        return self.decode(resp, where=where, explain=explain)

    def decode(self, resp: requests.Response, *, where: str,
               explain: Callable[[requests.Response], str | None] | None = None) -> Any:
        """Check the status and decode a JSON body, with clear errors."""
        if not 200 <= resp.status_code < 300:
            hint = explain(resp) if explain else None
            detail = hint or body_excerpt(resp)
            raise SourceError(f"{self.name} {where}: HTTP {resp.status_code}: {detail}")
        try:
            return resp.json()
        except ValueError:
            raise SourceError(
                f"{self.name} {where}: response is not JSON: {body_excerpt(resp)}") from None


@dataclass
class CursorPaginator:
    """Cursor pagination (OpenAI, Anthropic): ``has_more`` + ``next_page`` → ``page`` param.

    Stops with an error when a cursor repeats, instead of looping, and after ``max_pages``.
    """

    cursor_field: str = "next_page"
    more_field: str = "has_more"
    param: str = "page"
    max_pages: int = 10_000

    def pages(self, fetch: Callable[[dict[str, Any]], Any], params: dict[str, Any],
              where: str, name: str) -> Iterator[Any]:
        """Yield each page body; ``fetch(params)`` returns a decoded page."""
        seen: set[str] = set()
        params = dict(params)
        for n in range(self.max_pages):
            body = fetch(params)
            if not isinstance(body, dict):
                raise SourceError(f"{name} {where}: page {n + 1}: expected a JSON object")
            yield body
            cursor = body.get(self.cursor_field)
            if not body.get(self.more_field) or not cursor:
                return
            if cursor in seen:
                raise SourceError(
                    f"{name} {where}: page {n + 1}: cursor {cursor!r} repeated; stopping "
                    "instead of looping")
            seen.add(cursor)
            params[self.param] = cursor
        raise SourceError(f"{name} {where}: more than {self.max_pages} pages; stopping")


