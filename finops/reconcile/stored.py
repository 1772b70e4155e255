"""Reconcile once: a window's stored results are reused while their inputs are unchanged.

Each reconciliation stores, beside its results, a fingerprint of everything they depend on
(``recon_state``): the finops version, the reconciliation SQL and its macros and the schema
version; the price files and the overrides file (their bytes: a changed price file re-prices
history); the allocation rules (accounts, API keys, tags and resources); the window's loads
(``load_windows``: every source load of an overlapping window, with its row count and time);
the provisional cutoff (clamped to the window, so a past month does not change with the
date); the currency. ``report``, ``gate``,
``anomalies`` and ``email`` read the stored results while the fingerprint matches and
reconcile when an input changed; :class:`Outcome` says which, and why.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import duckdb

from finops import __version__
from finops.canonical import CACHE_WRITE_AT_INPUT_RATE
from finops.config import Config
from finops.paths import data_dir
from finops.reconcile.run import provisional_from, reconcile
from finops.warehouse.db import schema_version
from finops.warehouse.sql import sql, sql_names
from finops.windows import Window

__all__ = ["Outcome", "ensure_reconciled", "fingerprint_inputs"]

# part -> how a change is named in "reconciled 2026-10 (prices changed)"
_CHANGED = {
    "finops": "finops or its SQL changed",
    "prices": "prices changed",
    "overrides": "price overrides changed",
    "rules": "allocation rules changed",
    "loads": "data loaded",
    "cutoff": "provisional cutoff moved",
    "currency": "currency changed",
}


@dataclass
class Outcome:
    """What happened to a window's results: ``reconciled`` (and why) or read from storage."""

    window: Window
    reconciled: bool
    reason: str  # "prices changed", "first reconcile", "--force"; "" when stored results were used
    since: datetime | None = None  # when the stored results were computed

    @property
    def message(self) -> str:
        """One line for stderr and the ledger."""
        if self.reconciled:
            return f"reconciled {self.window.label()} ({self.reason})"
        when = self.since.strftime("%Y-%m-%dT%H:%MZ") if self.since else "?"
        return f"using stored results for {self.window.label()} (inputs unchanged since {when})"


def _digest(*chunks: bytes | str) -> str:
    h = hashlib.sha256()
    for c in chunks:
        b = c.encode("utf-8") if isinstance(c, str) else c
        h.update(len(b).to_bytes(8, "big"))
        h.update(b)
    return h.hexdigest()[:32]


def _files_digest(paths: list[Path]) -> str:
    return _digest(*(part for p in paths for part in (p.name, p.read_bytes())))


def fingerprint_inputs(con: duckdb.DuckDBPyConnection, config: Config, window: Window,
                       today: date) -> dict[str, str]:
    """Each input of ``window``'s results, hashed (a part's change names why it re-ran)."""
    code = [__version__, str(schema_version(con)), ",".join(sorted(CACHE_WRITE_AT_INPUT_RATE)),
            sql("warehouse/macros")]
    code += [part for name in sql_names("reconcile") for part in (name, sql(name))]
    price_dir = config.pricing_dir or data_dir("pricing")
    price_files = sorted(p for p in price_dir.glob("*.toml") if p.name != "overrides.toml")
    overrides = config.overrides
    rules = [sorted((r.provider, r.account, r.team) for r in config.account_rules),
             sorted((r.provider, r.api_key, r.team) for r in config.key_rules),
             [(r.team, r.resource, list(r.tags)) for r in config.charge_rules]]  # in their order of use
    loads = con.execute(
        "SELECT source, kind, provider, window_start, window_end, rows, loaded_at, run_id "
        "FROM load_windows WHERE window_start < ? AND window_end > ? "
        "ORDER BY source, kind, provider, window_start, window_end",
        [window.window_end, window.window_start]).fetchall()
    cutoff = min(max(provisional_from(config, today), window.window_start), window.window_end)
    return {
        "finops": _digest(*code),
        "prices": f"{price_dir}:{_files_digest(price_files)}",
        "overrides": (_digest(str(overrides), overrides.read_bytes())
                      if overrides is not None and overrides.exists() else "none"),
        "rules": _digest(json.dumps(rules)),
        "loads": _digest(json.dumps(loads, default=str)),
        "cutoff": cutoff.isoformat(),
        "currency": config.currency,
    }


def _stored(con: duckdb.DuckDBPyConnection, window: Window) -> tuple[str, dict[str, str], datetime] | None:
    row = con.execute(
        "SELECT fingerprint, inputs, reconciled_at FROM recon_state WHERE window_start = ? AND window_end = ? "
        "ORDER BY reconciled_at DESC LIMIT 1", [window.window_start, window.window_end]).fetchone()
    if row is None:
        return None
    return row[0], json.loads(row[1]), row[2]


def ensure_reconciled(con: duckdb.DuckDBPyConnection, config: Config, window: Window, today: date, *,
                      force: bool = False, run_id: str | None = None) -> Outcome:
    """Reconcile ``window`` unless its stored results were computed from the same inputs.

    With ``force`` it reconciles regardless. The fingerprint is stored in the same transaction
    as the results, so stored results and their fingerprint never disagree.
    """
    inputs = fingerprint_inputs(con, config, window, today)
    fp = _digest(json.dumps(inputs, sort_keys=True))
    stored = _stored(con, window)
    if stored is not None and not force and stored[0] == fp:
        return Outcome(window, False, "", stored[2])
    if force:
        reason = "--force"
    elif stored is None:
        reason = "no stored results"
    else:
        changed = [_CHANGED[k] for k in _CHANGED if stored[1].get(k) != inputs.get(k)]
        reason = ", ".join(changed) or "inputs changed"

    def store(c: duckdb.DuckDBPyConnection) -> None:  # after reconcile() cleared the month's state
        c.execute("INSERT INTO recon_state VALUES (?, ?, ?, ?, now()::TIMESTAMP, ?)",
                  [window.window_start, window.window_end, fp, json.dumps(inputs, sort_keys=True), run_id])

    reconcile(con, config, window, today, then=store)
    return Outcome(window, True, reason)
