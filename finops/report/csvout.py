"""``--format csv``: one row per team · provider (the chargeback ledger finance imports)."""

from __future__ import annotations

import csv
import io

from finops.money import cents, drift_pct
from finops.report.model import Report

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
            w.writerow([report.window.label(), t.team, p.name, report.currency, cents(p.billed),
                        cents(p.estimated), "" if d is None else d, provisional])
    return out.getvalue()
