"""``--format json``: the documented, stable contract for automation (README "JSON output").

Money is a decimal string with two decimals; percentages are decimal strings or null;
dates are ISO 8601. Keys are only ever added, never renamed or removed, within a major version.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from finops.money import json_money as _money
from finops.report.keys import key_dict
from finops.report.model import Report

SCHEMA_VERSION = 1


def _pct(v: Decimal | None) -> str | None:
    return None if v is None else str(v)


def report_dict(report: Report, team: str | None = None) -> dict[str, Any]:
    """The JSON document for ``report`` (only ``team``'s section when given)."""
    teams = [t for t in report.teams if team is None or t.team == team]
    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "month": report.window.label(),
        "window_start": report.window.window_start.isoformat(),
        "window_end": report.window.window_end.isoformat(),
        "currency": report.currency,
        "generated_at": report.generated_at.isoformat().replace("+00:00", "Z"),
        "billed_total": _money(report.billed_total),
        "estimated_total": _money(report.estimated_total),
        "drift_pct": _pct(report.drift_pct),
        "unattributed": _money(report.unattributed),
        "unattributed_parts": {k: _money(v) for k, v in report.unattributed_parts.items()},
        "drift_summary": report.drift_summary,
        "drift_named_pct": _pct(report.named_pct),
        "gate": {
            "max_drift_pct": str(report.max_drift_pct),
            "passed": report.gate_passed,
            "billing_missing": {p: [d.isoformat() for d in days]
                                for p, days in report.billing_gaps.items()},
        },
        "provisional_days": [d.isoformat() for d in report.provisional_days],
        "explanation": {k: _money(v) for k, v in report.explanation.items()},
        "drift_parts": [{"part": p.part, "amount": _money(p.amount), "pt": _pct(p.pt), "text": p.text,
                         "sources": [{"provider": x["provider"], "account": x["account"], "model": x["model"],
                                      "amount": _money(x["amount"])} for x in p.sources]}
                        for p in report.drift_parts],
        "coverage": {k: _money(v) for k, v in report.coverage.items()},
        "providers": [
            {"provider": p.name, "billed": _money(p.billed), "estimated": _money(p.estimated),
             "drift_pct": _pct(p.drift_pct),
             "explanation": {k: _money(v) for k, v in p.extra.items()}}
            for p in report.providers
        ],
        "teams": [
            {"team": t.team, "billed": _money(t.billed), "estimated": _money(t.estimated),
             "drift_pct": _pct(t.drift_pct), "unpriced_tokens": t.unpriced_tokens,
             "by_provider": [{"provider": p.name, "billed": _money(p.billed),
                              "estimated": _money(p.estimated)} for p in t.by_provider],
             "by_project": [_line(x) for x in t.by_project],
             "by_feature": [_line(x) for x in t.by_feature],
             "by_model": [_line(x) for x in t.by_model]}
            for t in teams
        ],
        "unpriced": [{"provider": u["provider"], "model": u["model"],
                      "token_type": u["token_type"], "tokens": int(u["tokens"])}
                     for u in report.unpriced],
        "other_line_items": [{"provider": o["provider"], "account": o["account"],
                              "line_item": o["line_item"], "amount": _money(o["amount"])}
                             for o in report.other_line_items],
        "unattributed_sources": [
            {"reason": u["reason"], "provider": u["provider"], "account": u["account"], "model": u["model"],
             "amount": _money(u["amount"]),
             "rule": u["rule"]}
            for u in report.unattributed_sources],
        "pooled_accounts": [{"provider": a["provider"], "account": a["account"], "billed": _money(a["billed"]),
                             "models": list(a["models"])} for a in report.pooled_accounts],
        "credits": [{"provider": c["provider"], "account": c["account"], "line_item": c["line_item"],
                     "amount": _money(c["amount"])} for c in report.credits],
        "restatements": [{"source": r["source"], "day": r["day"].isoformat(), "provider": r["provider"],
                          "account": r["account"], "line_item": r["line_item"],
                          "old_amount": str(r["old_amount"]), "new_amount": str(r["new_amount"]),
                          "detected_at": r["detected_at"].isoformat() + "Z"}
                         for r in report.restatements],
        "notes": report.notes,
        "api_key_spend": [key_dict(x) for x in report.api_keys] if team is None else [],
    }
    if report.anomalies is not None:  # README "Anomalies and budgets"
        from finops.reconcile.anomalies import anomalies_dict, budgets_list
        doc["anomalies"] = anomalies_dict(report.anomalies, team)
        doc["budgets"] = budgets_list(report.anomalies, team)
    return doc


def _line(x: Any) -> dict[str, Any]:
    return {"name": x.name, "billed": _money(x.billed), "estimated": _money(x.estimated),
            "tokens": x.tokens}


def render_json(report: Report, team: str | None = None) -> str:
    """The JSON text (indented, stable key order)."""
    return json.dumps(report_dict(report, team), indent=2) + "\n"
