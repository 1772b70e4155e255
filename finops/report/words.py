"""How the report and the emails say money and periods: what a reader means, not engineering terms.

Every amount carries its currency (``$1,234.56``; a currency with no common symbol is written
``1,234.56 CHF``), and a window is said as days (``1–31 October 2026``), never as a half-open
range with its exclusive end.
"""

from __future__ import annotations

from decimal import Decimal

from finops.money import cents
from finops.windows import days_label  # noqa: F401  (the report's words; defined beside Window)

__all__ = ["SYMBOLS", "amount", "days_label", "rate", "signed_amount"]

# Currencies written with a symbol; any other ISO code is written after the amount.
SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}


def amount(value: Decimal | None, currency: str) -> str:
    """Money to the cent with its currency: ``$1,234.56``, ``-$25.00``, ``1,234.56 CHF``; ``—`` for None."""
    if value is None:
        return "—"
    v = cents(value)
    sym = SYMBOLS.get(currency)
    if sym is None:
        return f"{v:,} {currency}"
    return f"-{sym}{-v:,}" if v < 0 else f"{sym}{v:,}"


def signed_amount(value: Decimal | None, currency: str) -> str:
    """A change in money, always signed: ``+$12.30``, ``-$4.00``, ``$0.00``."""
    if value is None:
        return "—"
    text = amount(value, currency)
    return text if cents(value) <= 0 else f"+{text}"


def rate(value: Decimal | None, currency: str, places: int = 4) -> str:
    """A unit cost (money per unit of work) with enough places for small rates: ``$0.0123``."""
    if value is None:
        return "—"
    q = Decimal(1).scaleb(-places)
    v = value.quantize(q)
    if abs(v) >= 100:
        v = value.quantize(Decimal("0.01"))
    sym = SYMBOLS.get(currency)
    text = f"{abs(v):,}"
    if sym is None:
        return f"{'-' if v < 0 else ''}{text} {currency}"
    return f"{'-' if v < 0 else ''}{sym}{text}"


