"""Billing line items: OpenAI's ``line_item`` text, strict JSON field reads, and the frame.

Three small pieces shared by the OpenAI, Anthropic and FOCUS billing modules:

* :func:`parse_line_item` reads OpenAI's undocumented ``line_item`` text
  (``"gpt-4o-2024-08-06, input"``, ``"priority | gpt-4.1, cached input"``,
  ``"gpt-4.1-2025-04-14, output, long context"``) into model, token type and tier with a
  tolerant rule set. Anything else (``"web search tool calls"``, ``"Vector storage"``,
  ``"input_tokens"``) is *unmatched*: the caller keeps it as ``other`` with its money.
* :class:`Reader` reads one field of a decoded JSON page and raises a :class:`DataError`
  naming the source, the window or file, and the JSON path when it is missing or mistyped.
* :class:`Rows` accumulates billing rows (summing duplicates of one key) and builds the
  ``BILLING_SCHEMA`` frame.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import polars as pl
import requests

from finops.config import BillingSource, secret_from_env
from finops.errors import ConfigError, DataError, redact
from finops.http import CursorPaginator, HttpClient
from finops.schemas import (
    BILLING_SCHEMA,
    CURRENCIES,
    OTHER,
    SERVICE_TIERS,
    BillingDaily,
    validate,
)
from finops.sources.base import ProgressFn
from finops.tokens import canonical_tier

# DECIMAL(18, 6): six decimal places, twelve integer digits.
MONEY_QUANTUM = Decimal("0.000001")
MONEY_LIMIT = Decimal(10) ** 12


# --------------------------------------------------------------------------- line items

@dataclass(frozen=True, slots=True)
class LineItem:
    """What a line item's text says. ``matched`` False means: keep the money as ``other``."""

    model: str
    token_type: str
    service_tier: str
    long_context: bool = False
    matched: bool = True


# Piece text (after the model's comma) -> token type. Matching is case-insensitive and
# ignores a trailing "tokens", so "Cached input tokens" reads like "cached input".
_PIECES = {
    "input": "input",
    "uncached input": "input",
    "output": "output",
    "cached input": "cache_read",
    "cache read": "cache_read",
    "cache reads": "cache_read",
    "cache write": "cache_write",
    "cache writes": "cache_write",
}
_TIER_PREFIXES = {"priority", "flex", "batch", "scale", "default", "standard"}
_SUFFIXES = {"long context", "batch"}
# A model snapshot: starts with a letter or digit, no spaces except a trailing
# modality word ("gpt-audio-mini-2025-12-15 audio, input"), which is dropped.
_MODEL = re.compile(r"(?P<model>[A-Za-z0-9][A-Za-z0-9._:/-]*)(?: (?:audio|text|image))?")
_UNMATCHED = LineItem("", OTHER, "standard", matched=False)


def parse_line_item(text: str | None) -> LineItem:
    """Read an OpenAI costs ``line_item`` into model, token type and canonical tier.

    Accepted: ``"[tier | ]<model>, <piece>[, long context][, batch]"`` where ``piece`` is
    ``input``, ``output``, ``cached input`` or ``cache writes`` (an optional ``batch``
    before the piece, and a trailing ``tokens``, are allowed). The tier prefix
    (``priority | ``) or a batch marker sets the tier; otherwise ``standard``.
    Anything else returns an unmatched item (token type ``other``, model ``""``).
    """
    if not text or not text.strip():
        return _UNMATCHED
    rest = text.strip()
    tier = "standard"
    if "|" in rest:
        prefix, _, rest = rest.partition("|")
        prefix = prefix.strip().lower()
        if prefix not in _TIER_PREFIXES:
            return _UNMATCHED
        tier = canonical_tier(prefix)
        rest = rest.strip()
    parts = [p.strip() for p in rest.split(",")]
    if len(parts) < 2:
        return _UNMATCHED
    m = _MODEL.fullmatch(parts[0])
    if not m:
        return _UNMATCHED
    piece = parts[1].lower()
    if piece.startswith("batch "):
        tier, piece = "batch", piece[len("batch "):]
    if piece.endswith(" tokens"):
        piece = piece[: -len(" tokens")]
    token_type = _PIECES.get(piece)
    if token_type is None:
        return _UNMATCHED
    long_context = False
    for suffix in parts[2:]:
        s = suffix.lower()
        if s not in _SUFFIXES:
            return _UNMATCHED
        if s == "batch":
            tier = "batch"
        else:
            long_context = True
    return LineItem(m.group("model"), token_type, tier, long_context)


# Units of OpenAI's 2026 ``quantity_unit`` that count tokens, and their multiplier.
_TOKEN_UNITS = {"tokens": 1, "1000_tokens": 1000}


def quantity_tokens(quantity: Decimal | None, unit: str | None) -> int | None:
    """Billed tokens from a costs row's ``quantity`` and ``quantity_unit`` (2026 fields).

    ``tokens`` counts as is, ``1000_tokens`` times 1000 (rounded half-even to a whole
    token). Other units (images, seconds, ...) and a quantity without a unit give
    ``None``: older responses have no unit, and guessing one could be off by 1000.
    """
    if quantity is None or unit is None:
        return None
    mult = _TOKEN_UNITS.get(unit.strip().lower())
    if mult is None:
        return None
    return int((quantity * mult).to_integral_value(rounding=ROUND_HALF_EVEN))


# --------------------------------------------------------------------------- JSON reads

_TYPE_NAMES = {
    dict: "object", list: "array", str: "string", bool: "boolean", int: "integer",
    float: "number", type(None): "null",
}


def _type_name(value: Any) -> str:
    return _TYPE_NAMES.get(type(value), type(value).__name__)


class Reader:
    """Reads fields of a decoded JSON page; every error names ``where`` and the JSON path.

    ``where`` is the source and the window or file, e.g.
    ``openai costs 2026-10-01..2026-10-08 page 2`` or ``anthropic cost_report costs.json``.
    """

    def __init__(self, where: str) -> None:
        self.where = where

    def fail(self, path: str, problem: str) -> DataError:
        """A :class:`DataError` for ``path`` (``data[2].results[3].amount.value``)."""
        return DataError(f"{self.where}: {path} {problem}" if path else f"{self.where}: {problem}")

    def obj(self, value: Any, path: str) -> dict[str, Any]:
        """``value`` must be a JSON object."""
        if not isinstance(value, dict):
            raise self.fail(path, f"expected an object, got {_type_name(value)}")
        return value

    def get(self, obj: dict[str, Any], key: str, path: str, kind: str, *,
            required: bool = True) -> Any:
        """``obj[key]`` checked against ``kind``.

        Kinds: object, array, string, boolean, integer, number, and ``count`` (a
        non-negative integer: a token count). A missing key or a JSON null gives
        ``None`` when not ``required``, else an error ``<path>.<key> missing``.
        """
        p = f"{path}.{key}" if path else key
        if key not in obj or obj[key] is None:
            if required:
                raise self.fail(p, "missing")
            return None
        v = obj[key]
        ok = {
            "object": isinstance(v, dict),
            "array": isinstance(v, list),
            "string": isinstance(v, str),
            "boolean": isinstance(v, bool),
            "integer": isinstance(v, int) and not isinstance(v, bool),
            "count": isinstance(v, int) and not isinstance(v, bool),
            "number": isinstance(v, int | float) and not isinstance(v, bool),
        }[kind]
        if not ok:
            shown = json.dumps(v)[:40] if not isinstance(v, dict | list) else _type_name(v)
            raise self.fail(p, f"expected {'an' if kind[0] in 'aeio' else 'a'} {kind}, "
                               f"got {_type_name(v)} {shown}")
        if kind == "count" and v < 0:
            raise self.fail(p, f"is negative ({v}); token counts cannot be")
        if kind == "number" and isinstance(v, float) and not math.isfinite(v):
            raise self.fail(p, f"is not a finite number ({v})")
        return v

    def currency(self, value: str, path: str) -> str:
        """Upper-cased ISO 4217 code; an unknown code is an error, never guessed."""
        code = value.strip().upper()
        if code not in CURRENCIES:
            raise self.fail(path, f"unknown currency {value!r}")
        return code

    def tier(self, name: str | None, path: str, batch: bool | None = None) -> str:
        """Canonical service tier; an unknown tier is an error (it would be mispriced)."""
        tier = canonical_tier(name, batch)
        if tier not in SERVICE_TIERS:
            raise self.fail(path, f"unknown service tier {name!r}")
        return tier

    def money(self, value: Decimal, path: str) -> Decimal:
        """``value`` quantised half-even to 6 dp, checked to fit DECIMAL(18, 6)."""
        q = value.quantize(MONEY_QUANTUM, rounding=ROUND_HALF_EVEN)
        if abs(q) >= MONEY_LIMIT:
            raise self.fail(path, f"amount {value} does not fit DECIMAL(18,6)")
        return q

    def decimal(self, text: str, path: str) -> Decimal:
        """A finite decimal from a string (``"123.78912"``)."""
        try:
            d = Decimal(text.strip())
        except InvalidOperation:
            raise self.fail(path, f"is not a decimal number: {text[:40]!r}") from None
        if not d.is_finite():
            raise self.fail(path, f"is not a finite decimal number: {text[:40]!r}")
        return d

    def unix_day(self, seconds: int, path: str) -> date:
        """The UTC day of a Unix timestamp in seconds."""
        try:
            return datetime.fromtimestamp(seconds, UTC).date()
        except (OverflowError, OSError, ValueError):
            raise self.fail(path, f"is not a Unix time in seconds ({seconds})") from None

    def rfc3339_day(self, text: str, path: str) -> date:
        """The UTC day of an RFC 3339 timestamp (``2025-08-01T00:00:00Z``)."""
        try:
            ts = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise self.fail(path, f"is not an RFC 3339 time: {text[:40]!r}") from None
        if ts.tzinfo is None:
            ts = ts.replace(tzinfo=UTC)
        return ts.astimezone(UTC).date()

    def buckets(self, page: Any, path: str = "") -> list[tuple[str, dict[str, Any], list[Any]]]:
        """``(path, bucket, results)`` for each bucket of a page's ``data``.

        Accepts ``results`` and the 2025 OpenAI spec's ``result`` spelling.
        """
        page = self.obj(page, path or "page")
        data = self.get(page, "data", path, "array")
        out = []
        for i, bucket in enumerate(data):
            bp = f"{path}.data[{i}]" if path else f"data[{i}]"
            bucket = self.obj(bucket, bp)
            key = "results" if "results" in bucket or "result" not in bucket else "result"
            out.append((bp, bucket, self.get(bucket, key, bp, "array")))
        return out


def read_pages(path: str | Path, where: str) -> list[tuple[str, Any]]:
    """Pages saved in a file: one page object, or an array of pages. Returns ``(path, page)``.

    The path prefix is ``""`` for a single page and ``"[i]"`` for the i-th page of an array.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{where}: file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{where}: cannot read: {type(e).__name__}") from None
    try:
        body = json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(f"{where}: not valid JSON: {e.msg} at line {e.lineno} column {e.colno}") \
            from None
    if isinstance(body, list):
        return [(f"[{i}]", page) for i, page in enumerate(body)]
    return [("", body)]


# --------------------------------------------------------------------------- frame

@dataclass(slots=True)
class _Acc:
    amount: Decimal
    billed_tokens: int | None


class Rows:
    """Billing rows keyed by ``BILLING_KEYS``; rows of one key are summed.

    Billed tokens are summed over the rows that carry them; ``None`` only when none does.
    """

    def __init__(self, provider: str, source: str) -> None:
        self.provider = provider
        self.source = source
        self._rows: dict[tuple[Any, ...], _Acc] = {}
        self._currency: dict[tuple[Any, ...], str] = {}

    def add(self, day: date, account: str, model: str, service_tier: str, token_type: str,
            line_item: str, amount: Decimal, currency: str, billed_tokens: int | None,
            where: str = "") -> None:
        """Add one row (amount already in the billing currency, 6 dp)."""
        key = (day, account, model, service_tier, token_type, line_item)
        acc = self._rows.get(key)
        if acc is None:
            self._rows[key] = _Acc(amount, billed_tokens)
            self._currency[key] = currency
            return
        if self._currency[key] != currency:
            raise DataError(f"{where or self.source}: {line_item!r} on {day} is billed in both "
                            f"{self._currency[key]} and {currency}")
        acc.amount += amount
        if billed_tokens is not None:
            acc.billed_tokens = (acc.billed_tokens or 0) + billed_tokens

    def __len__(self) -> int:
        return len(self._rows)

    def frame(self, where: str) -> pl.DataFrame:
        """The ``BILLING_SCHEMA`` frame, sorted by key and validated (errors name ``where``)."""
        records = [
            {"day": k[0], "provider": self.provider, "account": k[1], "model": k[2],
             "service_tier": k[3], "token_type": k[4], "source": self.source,
             "line_item": k[5], "amount": acc.amount, "currency": self._currency[k],
             "billed_tokens": acc.billed_tokens}
            for k, acc in sorted(self._rows.items(), key=lambda kv: kv[0])
        ]
        frame = pl.DataFrame(records, schema=BILLING_SCHEMA) if records \
            else pl.DataFrame(schema=BILLING_SCHEMA)
        return validate(frame, BillingDaily, where)


def in_window(day: date, window_start: date, window_end: date) -> bool:
    """Whether ``day`` lies in the half-open window ``[window_start, window_end)``."""
    return window_start <= day < window_end


# --------------------------------------------------------------------------- API paging

class SecretHeaders(dict[str, str]):
    """Request headers whose ``repr`` hides the values (one of them carries the key)."""

    def __repr__(self) -> str:
        return "{" + ", ".join(f"{k!r}: '***'" for k in self) + "}"

    __str__ = __repr__


def admin_client(source: BillingSource, *, default_key_env: str, default_base_url: str,
                 headers: Callable[[str], dict[str, str]],
                 should_retry: Callable[[requests.Response], bool] | None = None,
                 sleep: Callable[[float], None] | None = None) -> HttpClient:
    """An :class:`HttpClient` for a provider's Admin API; the key only goes into ``headers(key)``.

    Reads ``admin_key_env``, ``base_url``, ``timeout`` and ``attempts`` from the source options.
    """
    opts = source.options
    key = secret_from_env(opts.get("admin_key_env", default_key_env),
                          f"billing source {source.name}: admin_key_env")
    assert key is not None
    kwargs: dict[str, Any] = {}
    if sleep is not None:
        kwargs["sleep"] = sleep
    if "attempts" in opts:
        kwargs["attempts"] = int(opts["attempts"])
    return HttpClient(
        name=source.name, base_url=str(opts.get("base_url", default_base_url)),
        headers=SecretHeaders(headers(key.reveal())), timeout=float(opts.get("timeout", 30.0)),
        should_retry=should_retry, **kwargs)


def api_pages(client: HttpClient, path: str, params: dict[str, Any], where: str, *,
              explain: Callable[[requests.Response], str | None],
              progress: ProgressFn | None = None, label: str = "") -> Iterator[tuple[str, Any]]:
    """Yield ``(where, page)`` for each cursor page of ``path`` (``where`` names the page).

    Retries, Retry-After and timeouts are :class:`HttpClient`'s; a repeated cursor stops
    with an error (:class:`CursorPaginator`). ``progress(label, pages, None)`` after each page.
    """
    state = {"n": 0}

    def fetch(p: dict[str, Any]) -> Any:
        state["n"] += 1
        return client.get_json(path, where=f"{where} page {state['n']}", params=p,
                               explain=explain)

    for page in CursorPaginator().pages(fetch, params, where, client.name):
        yield f"{client.name} {where} page {state['n']}", page
        if progress:
            progress(label or f"{client.name} {path}", state["n"], None)


@dataclass(frozen=True)
class Report:
    """One report endpoint of a provider's Admin API: where it is and how to read a page."""

    name: str  # for messages: "costs", "usage_report"
    path: str
    params: dict[str, Any]  # endpoint-specific: group_by[], limit
    parse: Callable[[Any, str], list[Any]]


def pull_reports(client: HttpClient, reports: list[Report], base: dict[str, Any], window: str, *,
                 explain: Callable[[requests.Response], str | None], source: str,
                 progress: ProgressFn | None = None) -> tuple[list[list[Any]], int]:
    """Page through each report with the shared ``base`` params.

    Returns the parsed rows of each report (in order) and the number of pages read.
    """
    out: list[list[Any]] = []
    pages = 0
    for r in reports:
        rows: list[Any] = []
        for where, page in api_pages(client, r.path, {**base, **r.params}, f"{r.name} {window}",
                                     explain=explain, progress=progress, label=f"{source} {r.name}"):
            rows.extend(r.parse(page, where))
            pages += 1
        out.append(rows)
    return out, pages


def read_saved_reports(source: BillingSource, reports: list[tuple[str, str, Callable[..., list[Any]]]], *,
                       progress: ProgressFn | None = None) -> tuple[list[list[Any]], int]:
    """Parse saved response pages for each ``(option key, report name, parse)``.

    The first report's option (the cost report) must list files; the others may be empty.
    Returns the parsed rows of each report (in order) and the number of files read.
    """
    out: list[list[Any]] = []
    files = 0
    for i, (key, name, parse) in enumerate(reports):
        paths = source.options.get(key, [])
        paths = [paths] if isinstance(paths, str) else list(paths)
        if i == 0 and not paths:
            raise ConfigError(f"billing source {source.name}: '{key}' lists no files")
        rows: list[Any] = []
        for path in paths:
            where = f"{source.name} {name} {path}"
            for base, page in read_pages(path, where):
                rows.extend(parse(page, where, base))
            files += 1
            if progress:
                progress(f"{source.name} files", files, None)
        out.append(rows)
    return out, files


def error_message(resp: requests.Response) -> str:
    """The ``error.message`` of an OpenAI/Anthropic error body, redacted, or ``""``."""
    try:
        body = resp.json()
    except ValueError:
        return ""
    err = body.get("error") if isinstance(body, dict) else None
    msg = err.get("message") if isinstance(err, dict) else None
    return redact(" ".join(str(msg).split())[:300]) if msg else ""
