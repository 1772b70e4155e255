"""API keys in billing: billed tokens per key (usage reports) and the keys' names (key listings).

The providers' cost reports carry no API key (OpenAI's costs endpoint refuses
``group_by=api_key_id``; Anthropic's cost report has no such dimension), but their usage
reports do. :class:`KeyTokens` keeps a pull's billed tokens per day · account · model · tier ·
token type · key, the weights that later split each billed cell's money over its keys
(``sql/reconcile/33_bill_keys.sql``). :class:`KeyListing` describes a provider's key-listing
endpoint; :func:`key_frame` turns its rows into the ``API_KEYS_SCHEMA`` frame.

Secrets: a listing returns only the provider's own redacted hint (``sk-abc...def``,
``sk-ant-api03-R2D...igAA``); the key's value is never read. A hint that does not look
redacted (no ``...``/``…``/``*``, too long, or shaped like a whole key) is not stored.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

import polars as pl

from finops.billing.reader import Reader
from finops.errors import redact
from finops.schemas import API_KEYS_SCHEMA, KEY_TOKENS_SCHEMA, NO_API_KEY, ApiKeys, BillingKeyTokens, validate

__all__ = ["KeyListing", "KeyRow", "KeyTokens", "key_frame", "parse_key_page", "safe_hint"]

HINT_MAX = 40  # a redacted hint is short: "sk-ant-api03-R2D...igAA" is 23 characters


@dataclass(frozen=True, slots=True)
class KeyRow:
    """One key of a listing: its id, name, redacted hint and account (None when not said)."""

    api_key: str
    name: str | None
    hint: str | None
    account: str | None


@dataclass(frozen=True)
class KeyListing:
    """A provider's key-listing endpoint.

    ``path`` may hold ``{account}`` (OpenAI lists keys per project); ``cursor`` is the query
    parameter that takes the previous page's ``last_id``; ``hint_field`` names the redacted
    hint; ``account_field`` the item's account (``workspace_id``), if it has one.
    """

    path: str
    cursor: str
    hint_field: str
    account_field: str | None = None
    limit: int = 100

    @property
    def per_account(self) -> bool:
        """Whether the endpoint lists one account's keys (a request per account)."""
        return "{account}" in self.path


def safe_hint(hint: str | None) -> str | None:
    """The provider's redacted hint if it looks redacted, else ``None`` (never store a secret)."""
    if not hint:
        return None
    hint = hint.strip()
    redacted = "..." in hint or "…" in hint or "*" in hint
    if not redacted or len(hint) > HINT_MAX or redact(hint) != hint:
        return None
    return hint


def parse_key_page(listing: KeyListing, page: Any, where: str, base: str = "",
                   account: str | None = None) -> tuple[list[KeyRow], int]:
    """The keys of one decoded listing page, and how many hints were dropped as not redacted.

    Each item needs an ``id`` (string); ``name`` and the hint may be null. ``account`` is the
    account the request was for (OpenAI's per-project listing); else the item's own
    ``account_field``. Errors name ``where`` and the JSON path (``data[3].id missing``).
    """
    r = Reader(where)
    page = r.obj(page, base or "page")
    rows, dropped = [], 0
    for i, item in enumerate(r.get(page, "data", base, "array")):
        p = f"{base}.data[{i}]" if base else f"data[{i}]"
        item = r.obj(item, p)
        raw = r.get(item, listing.hint_field, p, "string", required=False)
        hint = safe_hint(raw)
        dropped += raw is not None and hint is None
        acc = account
        if acc is None and listing.account_field:
            acc = r.get(item, listing.account_field, p, "string", required=False)
        rows.append(KeyRow(api_key=r.get(item, "id", p, "string"),
                           name=r.get(item, "name", p, "string", required=False),
                           hint=hint, account=acc))
    return rows, dropped


def key_frame(rows: Iterable[KeyRow], provider: str, source: str, where: str) -> pl.DataFrame:
    """The ``API_KEYS_SCHEMA`` frame of listed keys (a key listed twice: its last row)."""
    by_id: dict[str, KeyRow] = {}
    for k in rows:
        by_id[k.api_key] = k
    records = [{"provider": provider, "api_key": k.api_key, "name": k.name, "hint": k.hint,
                "account": k.account, "source": source}
               for _, k in sorted(by_id.items())]
    frame = pl.DataFrame(records, schema=API_KEYS_SCHEMA) if records else pl.DataFrame(schema=API_KEYS_SCHEMA)
    return validate(frame, ApiKeys, where)


class KeyTokens:
    """Billed tokens per day · account · model · tier · token type · API key, summed.

    ``api_key`` ``None`` (the report names no key) is kept as ``NO_API_KEY``. :attr:`keyed`
    says whether any row named a key: usage pages saved without ``group_by=api_key_id`` name
    none, and then nothing per key is known (:meth:`frame` is empty; the pull notes it).
    """

    def __init__(self) -> None:
        self._tokens: dict[tuple[Any, ...], int] = defaultdict(int)
        self.rows = 0
        self.keyed = False

    def add(self, day: date, account: str, model: str, service_tier: str, token_type: str,
            api_key: str | None, tokens: int) -> None:
        """Count ``tokens`` for the key (a row of the usage report, one token type)."""
        self.keyed |= api_key is not None
        if tokens:
            self._tokens[(day, account, model, service_tier, token_type, api_key or NO_API_KEY)] += tokens

    def accounts(self) -> list[str]:
        """Accounts with usage by a named key, sorted."""
        return sorted({k[1] for k in self._tokens if k[5] != NO_API_KEY})

    def ids(self) -> set[str]:
        """The key ids the usage names."""
        return {k[5] for k in self._tokens if k[5] != NO_API_KEY}

    def frame(self, provider: str, source: str, where: str) -> pl.DataFrame:
        """The ``KEY_TOKENS_SCHEMA`` frame (empty when no row named a key), validated."""
        records = [
            {"day": k[0], "provider": provider, "account": k[1], "model": k[2], "service_tier": k[3],
             "token_type": k[4], "api_key": k[5], "source": source, "billed_tokens": n}
            for k, n in sorted(self._tokens.items()) if self.keyed
        ]
        frame = pl.DataFrame(records, schema=KEY_TOKENS_SCHEMA) if records \
            else pl.DataFrame(schema=KEY_TOKENS_SCHEMA)
        return validate(frame, BillingKeyTokens, where)

    def note(self, source: str, usage_rows: int) -> str | None:
        """What the pull should say about keys: none named at all, or usage without a key."""
        if usage_rows and not self.keyed:
            return (f"{source}: the usage report names no API key (pages saved without "
                    "group_by api_key_id?): spend per API key is not known for this window")
        unkeyed = sum(n for k, n in self._tokens.items() if k[5] == NO_API_KEY)
        if self.keyed and unkeyed:
            return (f"{source}: {unkeyed:,} billed tokens carry no API key (usage the provider "
                    "attributes to no key, such as Anthropic's Console and Workbench): their money "
                    "is shown as 'no API key'")
        return None
