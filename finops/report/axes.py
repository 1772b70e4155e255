"""Chart axes people can read: "nice" ticks (1, 2, 2.5, 5 × 10ⁿ) and labels with the currency.

Shared by the report's SVG charts and the email's PNG chart, so a small team's axis reads
``$0 / $0.25 / $0.50 / $0.75`` rather than ``0 / 0 / 1``.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal

from finops.report.words import SYMBOLS

__all__ = ["axis_label", "nice_ticks"]

_STEPS = (Decimal(1), Decimal(2), Decimal("2.5"), Decimal(5), Decimal(10))


def nice_ticks(top: Decimal, count: int = 4) -> list[Decimal]:
    """Ticks from 0 to at least ``top`` in about ``count`` equal nice steps (``[0, 1]`` for nothing)."""
    if top <= 0:
        return [Decimal(0), Decimal(1)]
    raw = top / count
    exp = raw.adjusted()  # raw = m × 10^exp, 1 <= m < 10
    base = Decimal(1).scaleb(exp)
    step = next(s * base for s in _STEPS if s * base >= raw)
    n = int((top / step).to_integral_value(rounding=ROUND_CEILING))
    return [(step * i).normalize() for i in range(n + 1)]


def axis_label(value: Decimal, ticks: list[Decimal], currency: str) -> str:
    """A tick as money with only the decimals the step needs: ``$0``, ``$0.25``, ``$0.10``, ``$1,500``, ``20 CHF``."""
    step = ticks[1] - ticks[0] if len(ticks) > 1 else Decimal(1)
    exp = int(step.normalize().as_tuple().exponent)
    places = 0 if exp >= 0 else max(2, -exp)  # whole amounts bare, else at least cents
    text = f"{value:,.{places}f}"
    sym = SYMBOLS.get(currency)
    return f"{sym}{text}" if sym else f"{text} {currency}"
