"""Strict reads of decoded billing JSON: every error names the source, the window or file, and the path.

:class:`Reader` reads one field of a decoded JSON page and raises a :class:`DataError`
naming the source, the window or file, and the JSON path (``data[2].results[3].amount.value``)
when it is missing or mistyped. :func:`read_pages` reads saved response pages from a file.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from finops.canonical import canonical_tier
from finops.errors import DataError
from finops.schemas import CURRENCIES, SERVICE_TIERS

__all__ = ["MONEY_LIMIT", "MONEY_QUANTUM", "Reader", "read_pages"]

# DECIMAL(18, 6): six decimal places, twelve integer digits.
MONEY_QUANTUM = Decimal("0.000001")
MONEY_LIMIT = Decimal(10) ** 12


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

    def results(self, page: Any, path: str, start: str) -> Iterator[tuple[date, str, dict[str, Any]]]:
        """``(day, path, result)`` for each result of each daily bucket of a page's ``data``.

        The bucket's day is read from its ``start`` key: ``start_time`` in Unix seconds
        (OpenAI) or ``starting_at`` as an RFC 3339 time (Anthropic). Accepts ``results`` and the
        2025 OpenAI spec's ``result`` spelling.
        """
        page = self.obj(page, path or "page")
        for i, bucket in enumerate(self.get(page, "data", path, "array")):
            bp = f"{path}.data[{i}]" if path else f"data[{i}]"
            bucket = self.obj(bucket, bp)
            if start == "starting_at":
                day = self.rfc3339_day(self.get(bucket, start, bp, "string"), f"{bp}.{start}")
            else:
                day = self.unix_day(self.get(bucket, start, bp, "integer"), f"{bp}.{start}")
            key = "results" if "results" in bucket or "result" not in bucket else "result"
            for j, res in enumerate(self.get(bucket, key, bp, "array")):
                rp = f"{bp}.results[{j}]"
                yield day, rp, self.obj(res, rp)


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
