"""``--format csv``: one row per team · provider (the chargeback ledger finance imports)."""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING, Any

from finops.money import cents, drift_pct
from finops.report.model import Report

if TYPE_CHECKING:
    import polars as pl

# A text cell starting with one of these is a formula to a spreadsheet (OWASP "CSV Injection"):
# such cells get a leading apostrophe. Numbers are written as numbers (a negative amount is
# not text), so numeric columns are never touched.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_FORMULA = r"^[=+\-@\t\r]"


def safe_cell(value: Any) -> Any:
    """``value``, with a text cell that a spreadsheet would run as a formula made inert."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def safe_text_columns(frame: pl.DataFrame) -> pl.DataFrame:
    """:func:`safe_cell` on every text column of ``frame`` (numeric columns stay numeric)."""
    import polars as pl  # a FOCUS export's frames only

    text = [c for c, t in frame.schema.items() if t == pl.String]
    return frame.with_columns(
        pl.when(pl.col(c).str.contains(_FORMULA)).then(pl.lit("'") + pl.col(c)).otherwise(pl.col(c)).alias(c)
        for c in text)


COLUMNS = ["month", "team", "provider", "currency", "billed", "estimated", "drift_pct", "provisional"]


def render_csv(report: Report, team: str | None = None) -> str:
    """CSV text: team chargeback per provider; billed adds up to the invoice to the cent."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(COLUMNS)
    provisional = "true" if report.provisional_days else "false"
    for t in report.teams:
        if team is not None and t.team != team:
            continue
        for p in t.by_provider:
            d = drift_pct(p.estimated, p.billed)
            w.writerow([report.window.label(), safe_cell(t.team), safe_cell(p.name), report.currency, cents(p.billed),
                        cents(p.estimated), "" if d is None else d, provisional])
    return out.getvalue()
