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
    list_keys = true                       # read the names of the API keys the usage names
                                           # (false: keys are shown by id only)

the saved-files kind::

    [[billing]]
    name = "anthropic"
    kind = "anthropic_files"               # or "openai_files"
    costs = ["billing/anthropic/cost_report_page*.json"]   # required: the cost report pages
    usage = ["billing/anthropic/usage_report_page*.json"]  # optional: billed token counts
    api_keys = ["billing/anthropic/api_keys_page*.json"]   # optional: the key listing's pages

The usage report is grouped by ``api_key_id`` too: billed tokens per API key split each billed
cell's money over its keys (README "Spend per API key"). Key names come from the provider's
key listing (``GET /v1/organization/projects/{project_id}/api_keys``, ``GET
/v1/organizations/api_keys``), paged by ``after``/``after_id``: only the id, the name and the
provider's own redacted hint are kept, never a key's value. A project the listing no longer
knows (HTTP 404) is a note; any other listing failure fails the source like a report's.

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
from urllib.parse import quote

import polars as pl
import requests

from finops.billing.keys import KeyListing, KeyRow, key_frame, parse_key_page
from finops.billing.reader import read_pages
from finops.config import BillingSource
from finops.errors import ConfigError, DataError, redact
from finops.frames import BillingPull, ProgressFn
from finops.http import CursorPaginator, HttpClient
from finops.options import OptionReader
from finops.schemas import DEFAULT_ACCOUNT

__all__ = ["AdminApi", "Report", "SecretHeaders", "error_message"]

API_OPTIONS = ("admin_key_env", "base_url", "timeout", "attempts", "page_limit", "list_keys")
FILE_OPTIONS = ("costs", "usage", "api_keys")
KEYS_OPTION = "api_keys"  # the files kind's option listing saved key-listing pages
DEFAULT_PAGE_LIMIT = 31  # 1d buckets per page
MISSING = "\x00missing"  # marks the stand-in page of an HTTP 404 (never a key of a real page)


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
    keys: KeyListing | None = None  # the key-listing endpoint (names of the keys usage names)

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
            o.paths(KEYS_OPTION)
            return
        o.secret("admin_key_env", self.key_env)  # a name, not read while checking
        o.url("base_url", example=self.base_url, default=self.base_url)
        o.seconds("timeout", 30.0)
        o.positive_int("attempts", 5)
        o.positive_int("page_limit", DEFAULT_PAGE_LIMIT, what="≥ 1")
        o.boolean("list_keys", True)

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
            self._key_files(source, pulled)
            return pulled
        if source.kind == api_kind:
            http = self.client(source, sleep)
            rows, pages = self._page(source, http, window_start, window_end, progress)
            pulled = self.assemble(*rows, source.name, window_start, window_end)
            if self.options(source).boolean("list_keys", True):
                self._list_keys(source, http, pulled, progress)
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
            if self.keys is not None:
                paths, n = o.paths(KEYS_OPTION), 0
                for path in paths:
                    for base, page in read_pages(path, f"{source.name} {KEYS_OPTION} {path}"):
                        n += len(parse_key_page(self.keys, page, f"{source.name} {KEYS_OPTION} {path}", base)[0])
                out.append((KEYS_OPTION, f"{len(paths)} file(s) parse, {n} key(s)" if paths
                            else "none listed (keys are shown by id only)"))
            return out
        env = o.get("admin_key_env", self.key_env)
        http = self.client(source, sleep or (lambda s: None))  # a missing key is a config error here
        http.attempts = 1
        out = [("url", redact(http.base_url)), ("key", f"{env} is set")]
        day = (today or date.today()) - timedelta(days=1)
        explain = self.explain(env)
        keyed: list[str] = []  # accounts whose usage names a key, from the usage report's page
        for r in self.reports:
            params = {**self.window_params(day, day + timedelta(days=1)), **r.params, "limit": 1}
            page = http.get_json(r.path, where=f"{r.name} check {day}", params=params, explain=explain)
            if not isinstance(page, dict):
                raise DataError(f"{source.name} {r.name} check {day}: expected a JSON object")
            rows = r.parse(page, f"{source.name} {r.name} check {day}")
            keyed += [x.account for x in rows if getattr(x, "api_key", None) and x.account != DEFAULT_ACCOUNT]
            out.append((r.name, f"authorised; {len(rows)} row(s) for {day} on the first page"))
        if self.keys is not None and self.options(source).boolean("list_keys", True):
            out.append((KEYS_OPTION, self._check_keys(source, http, explain, sorted(keyed))))
        return out

    def _check_keys(self, source: BillingSource, http: HttpClient,
                    explain: Callable[[requests.Response], str | None], keyed: list[str]) -> str:
        """One request of the key listing (for a project whose usage names a key, where per project)."""
        assert self.keys is not None
        account = keyed[0] if keyed else None
        if self.keys.per_account and account is None:
            return "listed per project at pull time (no project's usage named a key yesterday)"
        path = self.keys.path.format(account=quote(account or "", safe=""))
        page = http.get_json(path, where=f"{KEYS_OPTION} check", params={"limit": 1}, explain=explain)
        rows, _ = parse_key_page(self.keys, page, f"{source.name} {KEYS_OPTION} check")
        return f"authorised; {len(rows)} key(s) on the first page" + (f" of {account}" if account else "")

    def _key_files(self, source: BillingSource, pulled: BillingPull) -> None:
        """Key names from the saved listing pages the ``api_keys`` option lists (files kind)."""
        if self.keys is None or pulled.key_tokens is None:
            return
        rows: list[KeyRow] = []
        dropped = 0
        paths = self.options(source).paths(KEYS_OPTION)
        for path in paths:
            where = f"{source.name} {KEYS_OPTION} {path}"
            for base, page in read_pages(path, where):
                got, d = parse_key_page(self.keys, page, where, base)
                rows += got
                dropped += d
        self._named(source, pulled, rows, dropped, listed=bool(paths))

    def _list_keys(self, source: BillingSource, http: HttpClient, pulled: BillingPull,
                   progress: ProgressFn | None) -> None:
        """Key names from the key-listing endpoint for the keys the usage names (API kind).

        Per project where the endpoint is per project (OpenAI), once otherwise (Anthropic).
        A project the endpoint answers 404 for (deleted since) is a note; the default project
        (no project id in the usage report) cannot be listed and is said.
        """
        if self.keys is None or pulled.key_tokens is None:
            return
        frame = pulled.key_tokens.filter(pl.col("api_key") != "")
        if frame.is_empty():
            pulled.api_keys = key_frame([], self.provider, source.name, f"{source.name} {KEYS_OPTION}")
            return
        explain = self.explain(self.options(source).get("admin_key_env", self.key_env))
        accounts: list[str | None] = [None]
        if self.keys.per_account:
            accounts = list(frame["account"].unique().sort())
        rows: list[KeyRow] = []
        dropped = 0
        for account in accounts:
            if account == DEFAULT_ACCOUNT and self.keys.per_account:
                pulled.notes.append(f"{source.name}: keys used in the default project (the usage report "
                                    "gives it no project id) cannot be listed: shown by id")
                continue
            path = self.keys.path.format(account=quote(account or "", safe=""))
            where = f"{KEYS_OPTION}" + (f" {account}" if account else "")
            for page_where, page in _api_pages(http, path, {"limit": self.keys.limit}, where, explain=explain,
                                               progress=progress, label=f"{source.name} {KEYS_OPTION}",
                                               paginator=CursorPaginator(cursor_field="last_id",
                                                                         param=self.keys.cursor),
                                               missing_ok=True):
                if page is None:
                    pulled.notes.append(f"{source.name}: {where}: HTTP 404 (a project deleted since?): "
                                        "its keys are shown by id")
                    continue
                got, d = parse_key_page(self.keys, page, page_where, account=account)
                rows += got
                dropped += d
        self._named(source, pulled, rows, dropped, listed=True)

    def _named(self, source: BillingSource, pulled: BillingPull, rows: list[KeyRow], dropped: int,
               *, listed: bool) -> None:
        """Attach the listed keys to the pull; say what the listing did not name."""
        pulled.api_keys = key_frame(rows, self.provider, source.name, f"{source.name} {KEYS_OPTION}")
        pulled.stats["api_keys"] = pulled.api_keys.height
        used = set() if pulled.key_tokens is None else set(pulled.key_tokens["api_key"].unique()) - {""}
        unnamed = sorted(used - set(pulled.api_keys["api_key"]))
        if dropped:
            pulled.notes.append(f"{source.name}: {dropped} key hint(s) did not look redacted and were "
                                "not stored (only a provider's redacted hint ever is)")
        if unnamed and not listed:
            pulled.notes.append(f"{source.name}: {len(unnamed)} API key(s) billed; no '{KEYS_OPTION}' "
                                "pages are listed, so they are shown by id only")
        elif unnamed:
            shown = ", ".join(unnamed[:3]) + (f" and {len(unnamed) - 3} more" if len(unnamed) > 3 else "")
            pulled.notes.append(f"{source.name}: {len(unnamed)} API key(s) billed in the window are not in "
                                f"the key listing (deleted since?): shown by id ({shown})")

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
               progress: ProgressFn | None = None, label: str = "",
               paginator: CursorPaginator | None = None,
               missing_ok: bool = False) -> Iterator[tuple[str, Any]]:
    """Yield ``(where, page)`` for each cursor page of ``path`` (``where`` names the page).

    A repeated cursor stops with an error (:class:`CursorPaginator`);
    ``progress(label, pages, None)`` after each page. With ``missing_ok`` an HTTP 404 yields
    one ``None`` page (the caller says so) instead of an error.
    """
    state = {"n": 0}

    def fetch(p: dict[str, Any]) -> Any:
        state["n"] += 1
        page_where = f"{where} page {state['n']}"
        if not missing_ok:
            return client.get_json(path, where=page_where, params=p, explain=explain)
        resp = client.request("GET", path, where=page_where, params=p)
        if resp.status_code == 404:
            return {"has_more": False, MISSING: True}
        return client.decode(resp, where=page_where, explain=explain)

    for page in (paginator or CursorPaginator()).pages(fetch, params, where, client.name):
        if missing_ok and page.get(MISSING) is True:
            yield f"{client.name} {where} page {state['n']}", None
            continue
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
