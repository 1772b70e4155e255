"""A provider's Admin API usage and cost reports, read live or from saved pages: one plumbing for both.

OpenAI and Anthropic each describe themselves as an :class:`AdminApi`: where the API is, how
the key goes into a header, how an error response reads as a sentence, which reports to
page through (the cost report first: it holds the money; the usage report then fills billed
tokens) and how the rows become a :class:`~finops.frames.BillingPull`. Two kinds come out of
one description:

* ``<provider>`` calls the Admin API with the key named by ``admin_key_env``, paging each
  report by cursor (retries, ``Retry-After`` and timeouts are :class:`~finops.http.HttpClient`'s);
* ``<provider>_files`` reads the same reports from saved response pages (``costs`` and
  ``usage``: lists of files, each one page or a JSON array of pages).

Configuration (``finops.toml``), the API kind::

    [[billing]]
    name = "openai"
    kind = "openai"                        # or "anthropic"
    admin_key_env = "OPENAI_ADMIN_KEY"     # the variable holding the Admin API key
                                           # (default OPENAI_ADMIN_KEY / ANTHROPIC_ADMIN_KEY)
    base_url = "https://api.openai.com"    # default: the provider's API (a proxy may go here)
    timeout = 30                           # seconds per request
    attempts = 5                           # tries on 429/5xx/connection errors
    page_limit = 31                        # buckets per page (capped at the endpoint's maximum)

the saved-files kind::

    [[billing]]
    name = "anthropic"
    kind = "anthropic_files"               # or "openai_files"
    costs = ["billing/anthropic/cost_report_page*.json"]   # required: the cost report pages
    usage = ["billing/anthropic/usage_report_page*.json"]  # optional: billed token counts

Any other key is refused when ``finops.toml`` is loaded (with a did-you-mean), so a typo such
as ``base_ur`` never silently sends the key to the default host. ``finops sources check``
makes one small request per report for yesterday (API kind: key set, authorised) or parses
the saved pages (files kind), and fails on any error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import requests

from finops.billing.reader import read_pages
from finops.config import BillingSource
from finops.errors import ConfigError, DataError, redact
from finops.frames import BillingPull, ProgressFn
from finops.http import CursorPaginator, HttpClient
from finops.options import OptionReader

__all__ = ["AdminApi", "Report", "SecretHeaders", "error_message"]

API_OPTIONS = ("admin_key_env", "base_url", "timeout", "attempts", "page_limit")
FILE_OPTIONS = ("costs", "usage")
DEFAULT_PAGE_LIMIT = 31  # 1d buckets per page


class SecretHeaders(dict[str, str]):
    """Request headers whose ``repr`` hides the values (one of them carries the key)."""

    def __repr__(self) -> str:
        return "{" + ", ".join(f"{k!r}: '***'" for k in self) + "}"

    __str__ = __repr__


@dataclass(frozen=True)
class Report:
    """One report endpoint: its name in messages, its path, its own params, how to read a page.

    ``option`` is the files kind's option listing its saved pages; ``max_limit`` the most
    buckets the endpoint returns per page.
    """

    name: str
    path: str
    params: dict[str, Any]
    parse: Callable[..., list[Any]]  # (page, where[, base path]) -> rows
    option: str
    max_limit: int = DEFAULT_PAGE_LIMIT


@dataclass(frozen=True)
class AdminApi:
    """How one provider's Admin API is reached and read."""

    provider: str
    base_url: str
    key_env: str  # default environment variable of the admin key
    headers: Callable[[str], dict[str, str]]  # the key -> request headers
    explain: Callable[[str], Callable[[requests.Response], str | None]]  # key env -> explainer
    reports: tuple[Report, ...]  # the cost report first
    window_params: Callable[[date, date], dict[str, Any]]  # the window as the API asks for it
    assemble: Callable[[list[Any], list[Any], str, date, date], BillingPull]
    should_retry: Callable[[requests.Response], bool] | None = None

    @property
    def kinds(self) -> tuple[str, str]:
        """The API kind and the saved-files kind (``openai``, ``openai_files``)."""
        return self.provider, f"{self.provider}_files"

    def options(self, source: BillingSource) -> OptionReader:
        """The source's options, unknown keys refused (they differ between the two kinds)."""
        allowed = FILE_OPTIONS if source.kind.endswith("_files") else API_OPTIONS
        return OptionReader(source.options, f"billing source {source.name}", allowed)

    def validate(self, source: BillingSource) -> None:
        """Check every option of the source without reading its key (``finops.toml`` load)."""
        o = self.options(source)
        if source.kind.endswith("_files"):
            for i, r in enumerate(self.reports):
                o.paths(r.option, required=i == 0)
            return
        o.secret("admin_key_env", self.key_env)  # a name, not read while checking
        o.url("base_url", example=self.base_url, default=self.base_url)
        o.seconds("timeout", 30.0)
        o.positive_int("attempts", 5)
        o.positive_int("page_limit", DEFAULT_PAGE_LIMIT, what="≥ 1")

    def client(self, source: BillingSource, sleep: Callable[[float], None] | None = None) -> HttpClient:
        """An :class:`HttpClient` for the Admin API; the key only ever goes into its headers."""
        o = self.options(source)
        key = o.secret("admin_key_env", self.key_env)
        assert key is not None
        kwargs: dict[str, Any] = {"attempts": o.positive_int("attempts", 5)} if "attempts" in o else {}
        if sleep is not None:
            kwargs["sleep"] = sleep
        return HttpClient(
            name=source.name, base_url=o.url("base_url", example=self.base_url, default=self.base_url),
            headers=SecretHeaders(self.headers(key)), timeout=o.seconds("timeout", 30.0),
            should_retry=self.should_retry, **kwargs)

    def pull(self, source: BillingSource, window_start: date, window_end: date, *,
             progress: ProgressFn | None = None,
             sleep: Callable[[float], None] | None = None) -> BillingPull:
        """Billing rows for ``[window_start, window_end)`` from the Admin API or saved pages.

        ``sleep`` is for tests (retries without waiting).
        """
        api_kind, files_kind = self.kinds
        if source.kind == files_kind:
            rows, files = self._read_files(source, progress)
            pulled = self.assemble(*rows, source.name, window_start, window_end)
            pulled.stats["files"] = files
            return pulled
        if source.kind == api_kind:
            http = self.client(source, sleep)
            rows, pages = self._page(source, http, window_start, window_end, progress)
            pulled = self.assemble(*rows, source.name, window_start, window_end)
            pulled.stats.update(pages=pages, requests=http.requests_made)
            return pulled
        raise ConfigError(f"billing source {source.name}: kind {source.kind!r} is not one of {self.kinds}")

    def check(self, source: BillingSource, today: date | None = None,
              sleep: Callable[[float], None] | None = None) -> list[tuple[str, str]]:
        """What ``finops sources check`` shows; any failure raises (the check fails).

        API kind: the key is set, and one small request per report for yesterday is
        authorised and parses. Files kind: every listed file is read and parses; the days
        its rows cover are shown.
        """
        api_kind, files_kind = self.kinds
        o = self.options(source)
        self.validate(source)
        if source.kind == files_kind:
            out = []
            for i, r in enumerate(self.reports):
                paths = o.paths(r.option, required=i == 0)
                days: list[date] = []
                for path in paths:
                    where = f"{source.name} {r.name} {path}"
                    for base, page in read_pages(path, where):
                        days += [row.day for row in r.parse(page, where, base)]
                span = f", days {min(days)}..{max(days)}" if days else ", no rows"
                out.append((r.option, f"{len(paths)} file(s) parse{span}" if paths else "none listed"))
            return out
        env = o.get("admin_key_env", self.key_env)
        http = self.client(source, sleep or (lambda s: None))  # a missing key is a config error here
        http.attempts = 1
        out = [("url", redact(http.base_url)), ("key", f"{env} is set")]
        day = (today or date.today()) - timedelta(days=1)
        explain = self.explain(env)
        for r in self.reports:
            params = {**self.window_params(day, day + timedelta(days=1)), **r.params, "limit": 1}
            page = http.get_json(r.path, where=f"{r.name} check {day}", params=params, explain=explain)
            if not isinstance(page, dict):
                raise DataError(f"{source.name} {r.name} check {day}: expected a JSON object")
            rows = r.parse(page, f"{source.name} {r.name} check {day}")
            out.append((r.name, f"authorised; {len(rows)} row(s) for {day} on the first page"))
        return out

    def _page(self, source: BillingSource, http: HttpClient, window_start: date, window_end: date,
              progress: ProgressFn | None) -> tuple[list[list[Any]], int]:
        """Page through each report; returns the parsed rows of each and the pages read."""
        o = self.options(source)
        limit = o.get("page_limit", DEFAULT_PAGE_LIMIT)
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise o.fail("page_limit", "must be ≥ 1")
        explain = self.explain(o.get("admin_key_env", self.key_env))
        window = f"{window_start}..{window_end}"
        base = self.window_params(window_start, window_end)
        out: list[list[Any]] = []
        pages = 0
        for r in self.reports:
            rows: list[Any] = []
            params = {**base, **r.params, "limit": min(limit, r.max_limit)}
            for where, page in _api_pages(http, r.path, params, f"{r.name} {window}", explain=explain,
                                          progress=progress, label=f"{source.name} {r.name}"):
                rows.extend(r.parse(page, where))
                pages += 1
            out.append(rows)
        return out, pages

    def _read_files(self, source: BillingSource, progress: ProgressFn | None) -> tuple[list[list[Any]], int]:
        """Parse the saved pages of each report; the cost report's option must list files."""
        o = self.options(source)
        out: list[list[Any]] = []
        files = 0
        for i, r in enumerate(self.reports):
            paths = o.paths(r.option)
            if i == 0 and not paths:
                raise ConfigError(f"billing source {source.name}: '{r.option}' lists no files")
            rows: list[Any] = []
            for path in paths:
                where = f"{source.name} {r.name} {path}"
                for base, page in read_pages(path, where):
                    rows.extend(r.parse(page, where, base))
                files += 1
                if progress:
                    progress(f"{source.name} files", files, None)
            out.append(rows)
        return out, files


def _api_pages(client: HttpClient, path: str, params: dict[str, Any], where: str, *,
               explain: Callable[[requests.Response], str | None],
               progress: ProgressFn | None = None, label: str = "") -> Iterator[tuple[str, Any]]:
    """Yield ``(where, page)`` for each cursor page of ``path`` (``where`` names the page).

    A repeated cursor stops with an error (:class:`CursorPaginator`);
    ``progress(label, pages, None)`` after each page.
    """
    state = {"n": 0}

    def fetch(p: dict[str, Any]) -> Any:
        state["n"] += 1
        return client.get_json(path, where=f"{where} page {state['n']}", params=p, explain=explain)

    for page in CursorPaginator().pages(fetch, params, where, client.name):
        yield f"{client.name} {where} page {state['n']}", page
        if progress:
            progress(label or f"{client.name} {path}", state["n"], None)


def error_message(resp: requests.Response) -> str:
    """The ``error.message`` of an OpenAI/Anthropic error body, redacted, or ``""``."""
    try:
        body = resp.json()
    except ValueError:
        return ""
    err = body.get("error") if isinstance(body, dict) else None
    msg = err.get("message") if isinstance(err, dict) else None
    return redact(" ".join(str(msg).split()))[:300] if msg else ""  # redact whole, then cut
