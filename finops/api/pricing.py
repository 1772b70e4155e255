"""The price tables as finops applies them (``finops pricing show``) and models left unpriced (``check``)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, NamedTuple

import polars as pl

from finops.config import Config
from finops.errors import ExitCode
from finops.warehouse import connect
from finops.warehouse.prices import load_overrides, load_prices, refresh_prices
from finops.warehouse.sql import run_query, run_sql

__all__ = ["PricingCheck", "pricing_check", "pricing_table"]


def pricing_table(config: Config, on: date) -> pl.DataFrame:
    """The list prices (and overrides) in force on ``on``, one row per model match · tier · type."""
    prices = load_prices(config.pricing_dir)
    live = prices.filter((pl.col("effective_from") <= on) &
                         (pl.col("effective_to").is_null() | (pl.col("effective_to") > on)))
    ov = load_overrides(config.overrides).filter(
        (pl.col("effective_from") <= on) &
        (pl.col("effective_to").is_null() | (pl.col("effective_to") > on)))
    wide = (live.pivot(on="token_type", index=["provider", "model_id", "model_match", "match_kind",
                                                "service_tier", "effective_from", "checked"],
                       values="usd_per_mtok")
            .sort(["provider", "model_id", "model_match", "service_tier"]))
    if ov.height:
        wide = wide.with_columns(pl.lit(None, pl.Decimal(9, 4)).alias("discount_pct"))
        for o in ov.iter_rows(named=True):
            cond = pl.col("provider") == o["provider"]
            if o["match_kind"] == "exact":
                cond &= pl.col("model_match") == o["model_match"]
            elif o["match_kind"] == "prefix":
                cond &= pl.col("model_match").str.starts_with(o["model_match"])
            wide = wide.with_columns(
                pl.when(cond).then(pl.lit(o["discount_pct"])).otherwise(pl.col("discount_pct"))
                .alias("discount_pct"))
    return wide


class PricingCheck(NamedTuple):
    """``finops pricing check``: every (provider, model, tier, token type) with tokens and no price."""

    rows: list[dict[str, Any]]

    @property
    def exit_code(self) -> ExitCode:
        """1 (a finding) when a model has no price."""
        return ExitCode.GATE_FAILED if self.rows else ExitCode.OK


def pricing_check(config: Config) -> PricingCheck:
    """Every (provider, model, tier, token type) in usage or billing with tokens and no price."""
    con = connect(config.warehouse)
    try:
        refresh_prices(con, load_prices(config.pricing_dir), load_overrides(config.overrides))
        lo, hi = con.execute(
            "SELECT min(d), max(d) FROM (SELECT min(day) AS d FROM usage_daily UNION ALL "
            "SELECT max(day) FROM usage_daily UNION ALL SELECT min(day) FROM billing_daily "
            "UNION ALL SELECT max(day) FROM billing_daily)").fetchone()
        if lo is None:
            return PricingCheck([])
        params = {"window_start": lo, "window_end": hi + timedelta(days=1)}
        run_sql(con, "reconcile/10_price_keys", params)
        return PricingCheck(run_query(con, "pricing/unpriced_models", params))
    finally:
        con.close()
