"""Billing rows for one provider and source, summed per key, as the validated ``BILLING_SCHEMA`` frame."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import polars as pl

from finops.errors import DataError
from finops.schemas import BILLING_SCHEMA, BillingDaily, validate

__all__ = ["Rows", "in_window"]


@dataclass(slots=True)
class _Acc:
    amount: Decimal
    billed_tokens: int | None
    billed_requests: int | None = None
    premium: frozenset[str] = frozenset()


class Rows:
    """Billing rows keyed by ``BILLING_KEYS``; rows of one key are summed.

    Billed tokens and requests are summed over the rows that carry them; ``None`` only when
    none does. A key's premium kinds are the union of its rows'.
    """

    def __init__(self, provider: str, source: str) -> None:
        self.provider = provider
        self.source = source
        self._rows: dict[tuple[Any, ...], _Acc] = {}
        self._currency: dict[tuple[Any, ...], str] = {}

    def add(self, day: date, account: str, model: str, service_tier: str, token_type: str,
            line_item: str, amount: Decimal, currency: str, billed_tokens: int | None,
            where: str = "", *, requests: int | None = None, premium: Iterable[str] = ()) -> None:
        """Add one row (amount already in the billing currency, 6 dp).

        ``requests``: the provider's request count for the row's day · account · model · tier,
        given on one row of that key only; ``premium``: surcharge kinds the bill names.
        """
        key = (day, account, model, service_tier, token_type, line_item)
        acc = self._rows.get(key)
        if acc is None:
            self._rows[key] = _Acc(amount, billed_tokens, requests, frozenset(premium))
            self._currency[key] = currency
            return
        if self._currency[key] != currency:
            raise DataError(f"{where or self.source}: {line_item!r} on {day} is billed in both "
                            f"{self._currency[key]} and {currency}")
        acc.amount += amount
        if billed_tokens is not None:
            acc.billed_tokens = (acc.billed_tokens or 0) + billed_tokens
        if requests is not None:
            acc.billed_requests = (acc.billed_requests or 0) + requests
        acc.premium |= frozenset(premium)

    def __len__(self) -> int:
        return len(self._rows)

    def frame(self, where: str) -> pl.DataFrame:
        """The ``BILLING_SCHEMA`` frame, sorted by key and validated (errors name ``where``)."""
        records = [
            {"day": k[0], "provider": self.provider, "account": k[1], "model": k[2],
             "service_tier": k[3], "token_type": k[4], "source": self.source,
             "line_item": k[5], "amount": acc.amount, "currency": self._currency[k],
             "billed_tokens": acc.billed_tokens, "billed_requests": acc.billed_requests,
             "premium": ",".join(sorted(acc.premium)) or None}
            for k, acc in sorted(self._rows.items(), key=lambda kv: kv[0])
        ]
        frame = pl.DataFrame(records, schema=BILLING_SCHEMA) if records \
            else pl.DataFrame(schema=BILLING_SCHEMA)
        return validate(frame, BillingDaily, where)


def in_window(day: date, window_start: date, window_end: date) -> bool:
    """Whether ``day`` lies in the half-open window ``[window_start, window_end)``."""
    return window_start <= day < window_end


def credit_note(source: str, costs: Iterable[Any]) -> str | None:
    """The pull's note that credits arrived (negative amounts; README "Credits" allocates them)."""
    credits = [c for c in costs if c.amount < 0]
    if not credits:
        return None
    return (f"{source}: {len(credits)} credit line(s) (negative amounts) totalling "
            f"{sum((c.amount for c in credits), Decimal(0)):.2f}: "
            + ", ".join(sorted({repr(c.line_item) for c in credits})[:3]))
