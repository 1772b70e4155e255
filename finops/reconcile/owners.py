"""Which team a billed charge belongs to by what the bill says: ``[teams.X] resources``, ``tags``.

README "Tags and resources". A charge's ``ResourceId`` listed by a team's ``resources`` names that team; otherwise the first
``tags`` table (teams in config order) whose pairs the charge's FOCUS ``Tags`` all hold. Only
the owner is decided here; the money is split in SQL (``sql/reconcile/32_bill_charges.sql``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

import polars as pl

from finops.config import ChargeRule

OWNERS_SCHEMA: dict[str, pl.DataType] = {
    "resource_id": pl.String(), "tags": pl.String(), "team": pl.String(), "rule": pl.String(),
}


def owner(rules: Sequence[ChargeRule], resource_id: str, tags: str) -> tuple[str, str] | None:
    """``(team, 'resource' | 'tag')`` for a charge's ResourceId and Tags JSON, or ``None``."""
    rid = resource_id.strip().lower()
    held: dict[str, str] = json.loads(tags) if tags else {}
    for r in rules:  # resource rules come first (Config.charge_rules)
        if r.resource is not None:
            if rid and r.resource.lower() == rid:
                return r.team, "resource"
        elif all(held.get(k) == v for k, v in r.tags):
            return r.team, "tag"
    return None


def owners(rules: Sequence[ChargeRule], charges: Iterable[tuple[str, str]]) -> pl.DataFrame:
    """``OWNERS_SCHEMA``: the owned ones of the distinct (resource_id, tags) of the charges."""
    rows = []
    for rid, tags in charges:
        got = owner(rules, rid, tags) if rules else None
        if got is not None:
            rows.append({"resource_id": rid, "tags": tags, "team": got[0], "rule": got[1]})
    return pl.DataFrame(rows, schema=OWNERS_SCHEMA)


__all__ = ["OWNERS_SCHEMA", "owner", "owners"]
