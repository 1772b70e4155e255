"""Money and percentages as every output shows them: rounded once, to the cent, half away from zero.

Providers round their invoices half away from zero, so display does too. Team chargeback is
already in cents (largest remainder in SQL) and is shown as it is.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

__all__ = ["CENT", "cents", "drift_pct", "fmt_money", "fmt_pct", "json_money"]

CENT = Decimal("0.01")


def cents(value: Decimal | None) -> Decimal:
    """Round to the cent, half away from zero (None is 0; never a negative zero)."""
    return (value or Decimal(0)).quantize(CENT, rounding=ROUND_HALF_UP) + 0


def drift_pct(estimated: Decimal, billed: Decimal) -> Decimal | None:
    """(E − B) / B in percent, two decimals; None when nothing was billed."""
    if not billed:
        return None
    return ((estimated - billed) / billed * 100).quantize(CENT, rounding=ROUND_HALF_UP)


def fmt_money(value: Decimal | None) -> str:
    """Money to the cent with thousands separators: ``1,234.56``."""
    return f"{cents(value):,}"


def fmt_pct(value: Decimal | None) -> str:
    """A signed percentage, or a dash when there is none: ``+1.23 %``."""
    return "—" if value is None else f"{value:+.2f} %"


def json_money(value: Decimal | None) -> str:
    """Money in the JSON contract: a decimal string with two decimals, ``1234.56``."""
    return str(cents(value))
