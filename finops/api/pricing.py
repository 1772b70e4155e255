"""The price tables as finops applies them (``finops pricing show``) and models left unpriced (``check``)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, NamedTuple

import duckdb
import polars as pl

from finops.config import Config
from finops.errors import DataError, ExitCode
from finops.warehouse import open_warehouse
from finops.warehouse.db import define_macros, migrate, register_frame
from finops.warehouse.prices import load_overrides, load_prices, refresh_prices
from finops.warehouse.sql import run_query, run_sql

__all__ = ["PricingCheck", "pricing_check", "pricing_table"]


def pricing_table(config: Config, on: date) -> pl.DataFrame:
    """The list prices in force on ``on``, one row per model entry · tier, a column per token type.

    With overrides, ``discount_pct`` is the discount reconciliation applies to a model named
    like the entry on that day (the same SQL rule: the most specific override wins).
    """
    prices = load_prices(config.pricing_dir)
    overrides = load_overrides(config.overrides)
    live = prices.filter((pl.col("effective_from") <= on) &
                         (pl.col("effective_to").is_null() | (pl.col("effective_to") > on)))
    wide = (live.pivot(on="token_type", index=["provider", "model_id", "model_match", "match_kind",
                                                "service_tier", "effective_from", "checked"],
                       values="usd_per_mtok")
            .sort(["provider", "model_id", "model_match", "service_tier"]))
    if not overrides.height:
        return wide
    con = duckdb.connect(":memory:")
    try:
        migrate(con)
        define_macros(con)
        refresh_prices(con, prices, overrides)
        register_frame(con, "price_entries", wide.select("provider", "model_match", "match_kind").unique())
        discounts = pl.DataFrame(run_query(con, "pricing/entry_discounts", {"day": on}),
                                 schema={"provider": pl.String, "model_match": pl.String, "match_kind": pl.String,
                                         "discount_pct": pl.Decimal(9, 4)})
    finally:
        con.close()
    return wide.join(discounts, on=["provider", "model_match", "match_kind"], how="left", maintain_order="left")


class PricingCheck(NamedTuple):
    """``finops pricing check``: every (provider, model, tier, token type) with tokens and no price."""

    rows: list[dict[str, Any]]

    @property
    def exit_code(self) -> ExitCode:
        """1 (a finding) when a model has no price."""
        return ExitCode.GATE_FAILED if self.rows else ExitCode.OK


def pricing_check(config: Config) -> PricingCheck:
    """Every (provider, model, tier, token type) in usage or billing with tokens and no price."""
    with open_warehouse(config.warehouse, "pricing check", create=False, settings=config.warehouse_settings) as con:
        refresh_prices(con, load_prices(config.pricing_dir), load_overrides(config.overrides))
        lo, hi = con.execute(
            "SELECT min(d), max(d) FROM (SELECT min(day) AS d FROM usage_daily UNION ALL "
            "SELECT max(day) FROM usage_daily UNION ALL SELECT min(day) FROM billing_daily "
            "UNION ALL SELECT max(day) FROM billing_daily)").fetchone()
        if lo is None:
            raise DataError(f"warehouse {config.warehouse}: no usage or billing loaded: run 'finops pull' first")
        params = {"window_start": lo, "window_end": hi + timedelta(days=1)}
        run_sql(con, "reconcile/10_price_keys", params)
        return PricingCheck(run_query(con, "pricing/unpriced_models", params))
