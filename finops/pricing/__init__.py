"""Effective-dated price tables (``pricing/*.toml``) and negotiated overrides."""

from finops.pricing.tables import load_overrides, load_prices, refresh_prices

__all__ = ["load_prices", "load_overrides", "refresh_prices"]
