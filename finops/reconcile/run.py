"""Run the reconciliation SQL for a window and persist the month's results.

Prices are reloaded from ``pricing/`` first, so a changed price file re-prices history.
Everything after the price refresh runs in one transaction: a failure leaves the previous
results in place.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import duckdb

from finops.config import Config
from finops.errors import DataError
from finops.warehouse.db import register_frame, transaction
from finops.warehouse.sql import run_sql, sql_names
from finops.windows import Window


def provisional_from(config: Config, today: date) -> date:
    """Days on or after this date are provisional (providers may still restate them)."""
    return today - timedelta(days=config.provisional_days)


def check_currency(con: duckdb.DuckDBPyConnection, config: Config, window: Window) -> None:
    """All billing in the window must be in the configured currency: never mixed silently."""
    rows = con.execute(
        "SELECT DISTINCT source, currency FROM billing_daily WHERE day >= ? AND day < ? AND currency <> ?",
        [window.window_start, window.window_end, config.currency],
    ).fetchall()
    if rows:
        src, cur = rows[0]
        raise DataError(
            f"billing {window}: source {src} bills in {cur}, the reports are in {config.currency} "
            "(set 'currency' in finops.toml or convert the source)")


def reconcile(con: duckdb.DuckDBPyConnection, config: Config, window: Window, today: date, *,
              then: Callable[[duckdb.DuckDBPyConnection], None] | None = None) -> None:
    """Recompute and store ``recon_lines``, ``recon_alloc`` and ``recon_team_provider`` for ``window``.

    ``window`` is normally a calendar month; results are keyed by its first day. The month's
    stored fingerprint (``recon_state``) is cleared in the same transaction; ``then`` runs last
    inside it (:func:`finops.reconcile.stored.ensure_reconciled` stores the new fingerprint there).
    """
    import polars as pl  # only when reconciling: a report of stored results does without it

    from finops.warehouse.prices import load_overrides, load_prices, refresh_prices

    check_currency(con, config, window)
    refresh_prices(con, load_prices(config.pricing_dir), load_overrides(config.overrides))
    rules = pl.DataFrame(
        [{"provider": r.provider, "account": r.account, "team": r.team} for r in config.account_rules],
        schema={"provider": pl.String, "account": pl.String, "team": pl.String},
    )
    key_rules = pl.DataFrame(
        [{"provider": r.provider, "api_key": r.api_key, "team": r.team} for r in config.key_rules],
        schema={"provider": pl.String, "api_key": pl.String, "team": pl.String},
    )
    params = {
        "window_start": window.window_start,
        "window_end": window.window_end,
        "provisional_from": provisional_from(config, today),
    }
    with transaction(con):
        register_frame(con, "_rules", rules)
        con.execute("CREATE OR REPLACE TEMP TABLE account_rules AS SELECT * FROM _rules")
        con.unregister("_rules")
        register_frame(con, "_key_rules", key_rules)
        con.execute("CREATE OR REPLACE TEMP TABLE key_rules AS SELECT * FROM _key_rules")
        con.unregister("_key_rules")
        _charge_owners(con, config, window)
        for name in sql_names("reconcile"):
            run_sql(con, name, params)
        con.execute("DELETE FROM recon_state WHERE window_start = ?", [window.window_start])
        if then is not None:
            then(con)


def _charge_owners(con: duckdb.DuckDBPyConnection, config: Config, window: Window) -> None:
    """Temp table ``charge_owners``: the window's billed resources and tags a team's rule owns."""
    from finops.reconcile.owners import owners  # polars

    keys = con.execute(
        "SELECT DISTINCT resource_id, tags FROM billing_charges WHERE day >= ? AND day < ?",
        [window.window_start, window.window_end]).fetchall() if config.charge_rules else []
    register_frame(con, "_owners", owners(config.charge_rules, keys))
    con.execute("CREATE OR REPLACE TEMP TABLE charge_owners AS SELECT * FROM _owners")
    con.unregister("_owners")

__all__ = ["check_currency", "provisional_from", "reconcile"]
