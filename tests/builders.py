"""Small builders for canonical frames and price files used across tests."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl

from finops.schemas import BILLING_SCHEMA, USAGE_SCHEMA

PRICES_TOML = """
provider = "openai"
source = "https://openai.com/api/pricing"

[[models]]
id = "gpt-4o"
match = ["gpt-4o", "gpt-4o-2024-08-06"]
checked = 2026-11-20
  [[models.prices]]
  effective_from = 2024-05-13
  standard = { input = 2.5, cache_read = 1.25, output = 10 }
  batch = { input = 1.25, output = 5 }

[[models]]
id = "gpt-4o-mini"
match = ["gpt-4o-mini"]
checked = 2026-11-20
  [[models.prices]]
  effective_from = 2024-07-18
  standard = { input = 0.15, cache_read = 0.075, output = 0.6 }
"""

ANTHROPIC_TOML = """
provider = "anthropic"
source = "https://www.anthropic.com/pricing#api"

[[models]]
id = "claude-sonnet-4"
match = ["claude-sonnet-4-20250514"]
checked = 2026-11-20
  [[models.prices]]
  effective_from = 2025-05-22
  standard = { input = 3, cache_read = 0.3, cache_write = 3.75, cache_write_1h = 6, output = 15 }
"""


def write_prices(directory: Path, openai: str = PRICES_TOML, anthropic: str = ANTHROPIC_TOML) -> Path:
    """Write a small price directory and return it."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "openai.toml").write_text(openai)
    (directory / "anthropic.toml").write_text(anthropic)
    return directory


def usage(rows: list[dict[str, Any]], source: str = "spans") -> pl.DataFrame:
    """A usage frame; each row gives the fields that differ from a default."""
    base = {"day": date(2026, 10, 1), "provider": "openai", "account": "default",
            "model": "gpt-4o", "service_tier": "standard", "team": "search",
            "project": "web", "feature": "chat", "source": source, "requests": 1,
            "input_tokens": 0, "cache_read_tokens": 0, "cache_write_tokens": 0,
            "output_tokens": 0, "reasoning_tokens": 0}
    return pl.DataFrame([{**base, **r} for r in rows], schema=USAGE_SCHEMA)


def billing(rows: list[dict[str, Any]], source: str = "bills") -> pl.DataFrame:
    """A billing frame; amounts may be given as strings (exact decimals)."""
    base = {"day": date(2026, 10, 1), "provider": "openai", "account": "default",
            "model": "gpt-4o", "service_tier": "standard", "token_type": "input",
            "source": source, "line_item": "", "amount": Decimal("0"), "currency": "USD",
            "billed_tokens": None}
    out = []
    for r in rows:
        row = {**base, **r}
        row["amount"] = Decimal(str(row["amount"]))
        if not row["line_item"]:
            row["line_item"] = f"{row['model']}, {row['token_type']}"
        out.append(row)
    return pl.DataFrame(out, schema=BILLING_SCHEMA)
