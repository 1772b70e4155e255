"""Spend per API key and workspace, billed: the rows the report, the JSON and the CSV show.

``sql/report/key_spend.sql`` splits each billed cell's money over its API keys by their billed
tokens (the cost reports carry no key) and rounds each account's rows to the cent; here they
are shaped for display: per provider · account, its top keys by billed money, the rest summed
as one ``others`` row, then usage no key made (``no_key``) and money no key split can reach
(``no_key_usage``, ``not_tokens``, ``credit``). Keys are shown by id and name, never by secret.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from finops.money import CENT

__all__ = ["KEYS_SHOWN", "KINDS", "KeyLine", "key_dict", "key_lines"]

KEYS_SHOWN = 10  # keys shown per account; the rest are summed as one 'others' row

# What each kind of row is (the JSON's ``kind``).
KINDS = {
    "key": "an API key",
    "no_key": "usage the provider attributes to no key (Console, Workbench)",
    "others": "the account's other keys, summed",
    "no_key_usage": "billed tokens whose usage names no key (usage pages without api_key_id)",
    "not_tokens": "charges that are not tokens (web search, storage)",
    "credit": "credits and refunds",
}


@dataclass(frozen=True)
class KeyLine:
    """One row of the section: ``billed`` in cents, ``share_pct`` of the account's charges.

    The charges are the account's billed money before credits (a credit row has no share).
    """

    provider: str
    account: str
    kind: str
    api_key: str | None
    name: str | None
    billed: Decimal
    share_pct: Decimal | None
    tokens: int
    keys: int  # keys the row stands for (1 for a key, n for 'others', 0 otherwise)


def key_lines(rows: list[dict[str, Any]], shown: int = KEYS_SHOWN) -> list[KeyLine]:
    """Display rows from ``key_spend.sql`` rows, accounts that name no key left out.

    Per account (biggest first): up to ``shown`` keys by billed money, an ``others`` row for the
    rest, then the rows no key stands for. Σ rows of an account = its billed to the cent.
    """
    accounts: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        accounts.setdefault((r["provider"], r["account"]), []).append(r)
    out: list[KeyLine] = []
    order = sorted(accounts.items(), key=lambda kv: (-sum(r["billed"] for r in kv[1]), kv[0]))
    for (provider, account), rs in order:
        if not any(r["api_key"] is not None for r in rs):
            continue  # no key usage at all (a FOCUS export, usage pages without api_key_id)
        total = sum((r["billed"] for r in rs if r["reason"] != "credit"), Decimal("0.00"))  # the charges

        def line(kind: str, api_key: str | None, name: str | None, billed: Decimal, tokens: int,
                 keys: int, provider: str = provider, account: str = account,
                 total: Decimal = total) -> KeyLine:
            share = (billed / total * 100).quantize(CENT, rounding=ROUND_HALF_UP) \
                if total > 0 and kind != "credit" else None
            return KeyLine(provider, account, kind, api_key, name, billed, share, tokens, keys)

        keyed = sorted((r for r in rs if r["api_key"]), key=lambda r: (-r["billed_exact"], r["api_key"]))
        out += [line("key", r["api_key"], r["name"], r["billed"], int(r["tokens"]), 1) for r in keyed[:shown]]
        rest = keyed[shown:]
        if rest:
            out.append(line("others", None, None, sum((r["billed"] for r in rest), Decimal("0.00")),
                            sum(int(r["tokens"]) for r in rest), len(rest)))
        for r in rs:
            if r["api_key"] == "":
                out.append(line("no_key", "", None, r["billed"], int(r["tokens"]), 0))
        for r in rs:
            if r["api_key"] is None:
                out.append(line(r["reason"], None, None, r["billed"], 0, 0))
    return out


def key_dict(x: KeyLine) -> dict[str, Any]:
    """A row of the JSON's ``api_key_spend``."""
    return {"provider": x.provider, "account": x.account, "kind": x.kind, "api_key": x.api_key,
            "name": x.name, "billed": str(x.billed),
            "share_pct": None if x.share_pct is None else str(x.share_pct),
            "tokens": x.tokens, "keys": x.keys}
