"""The one line that says which billed money is not LLM billing.

A cloud FOCUS export is the whole cloud bill; only the rows a rule matches are LLM billing.
The rest is excluded from reconciliation and chargeback, never silently: ``finops pull``
prints this line, and the report repeats it for its month from the ``billing_excluded``
table (``sql/report/excluded.sql``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import polars as pl


def excluded_schema() -> dict[str, pl.DataType]:
    """``EXCLUDED_SCHEMA``: built on use, so the report's notes (below) do not import polars."""
    import polars as pl

    from finops.schemas import MONEY

    return {"day": pl.Date(), "reason": pl.String(), "service": pl.String(), "rows": pl.Int64(),
            "amount": MONEY, "currency": pl.String()}


def __getattr__(name: str) -> Any:
    if name == "EXCLUDED_SCHEMA":
        return excluded_schema()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


UNMATCHED = "unmatched"  # no rule matched the charge
RULE = "rule"  # an exclude rule matched it
_WHY = {UNMATCHED: "not matched by any rule", RULE: "by exclude rules"}
TOP = 3


def _money(amounts: Mapping[str, Decimal]) -> str:
    return " + ".join(f"{v:,.2f} {c}" for c, v in sorted(amounts.items()))


def notes(rows: Iterable[Mapping[str, Any]], prefix: str = "") -> list[str]:
    """One line per reason from rows of ``reason, service, rows, amount, currency``.

    ``excluded 2,000 rows, 44,238.88 USD not matched by any rule (top services: AmazonEC2
    40,010.00 USD, AmazonRDS 3,000.00 USD, AmazonS3 1,000.00 USD)``; nothing when nothing
    was excluded.
    """
    count: dict[str, int] = defaultdict(int)
    total: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    by_service: dict[str, dict[str, dict[str, Decimal]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(Decimal)))
    for r in rows:
        reason = str(r["reason"])
        count[reason] += int(r["rows"])
        total[reason][r["currency"]] += r["amount"]
        by_service[reason][r["service"]][r["currency"]] += r["amount"]
    out = []
    for reason in (UNMATCHED, RULE):
        if not count[reason]:
            continue
        services = sorted(by_service[reason].items(),
                          key=lambda kv: (-sum(abs(v) for v in kv[1].values()), kv[0]))
        top = ", ".join(f"{name or '(no ServiceName)'} {_money(amt)}" for name, amt in services[:TOP])
        more = f" and {len(services) - TOP} more" if len(services) > TOP else ""
        rows_ = "row" if count[reason] == 1 else "rows"
        out.append(f"{prefix}excluded {count[reason]:,} {rows_}, {_money(total[reason])} "
                   f"{_WHY[reason]} (top services: {top}{more})")
    return out


def report_notes(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """The notes of rows that also carry ``source``: one set per source, named."""
    by_source: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for r in rows:
        by_source[r["source"]].append(r)
    return [n for src in sorted(by_source) for n in notes(by_source[src], f"{src}: ")]


def frame(acc: Mapping[tuple[Any, str, str, str], tuple[int, Decimal]]) -> pl.DataFrame:
    """The ``EXCLUDED_SCHEMA`` frame from ``{(day, reason, service, currency): (rows, amount)}``."""
    records = [{"day": k[0], "reason": k[1], "service": k[2], "currency": k[3], "rows": v[0],
                "amount": v[1]} for k, v in sorted(acc.items())]
    import polars as pl

    schema = excluded_schema()
    return pl.DataFrame(records, schema=schema) if records else pl.DataFrame(schema=schema)
