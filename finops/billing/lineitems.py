"""OpenAI's ``line_item`` text: model, token type and tier of a costs row.

:func:`parse_line_item` reads OpenAI's undocumented ``line_item`` text
(``"gpt-4o-2024-08-06, input"``, ``"priority | gpt-4.1, cached input"``,
``"gpt-4.1-2025-04-14, output, long context"``) into model, token type and tier with a
tolerant rule set. Anything else (``"web search tool calls"``, ``"Vector storage"``,
``"input_tokens"``) is *unmatched*: the caller keeps it as ``other`` with its money.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from finops.canonical import canonical_tier
from finops.schemas import OTHER

__all__ = ["LineItem", "parse_line_item", "quantity_tokens"]


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
