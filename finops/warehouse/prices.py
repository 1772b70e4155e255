"""Read the price files into frames and (re)load them into the warehouse.

File format (one file per provider, ``pricing/<provider>.toml``)::

    provider = "openai"
    [[models]]
    id = "gpt-4o"                          # a name for humans and for 'pricing show'
    match = ["gpt-4o", "gpt-4o-2024-08-06"] # exact model names
    prefix = ["gpt-4o-2024-"]               # optional: any model starting with these
    checked = 2026-11-20                    # when a person last compared it to the source
    source = "https://openai.com/api/pricing"
      [[models.prices]]
      effective_from = 2024-08-06
      standard = { input = 2.5, cache_read = 1.25, output = 10 }
      batch    = { input = 1.25, cache_read = 0.625, output = 5 }

USD per million tokens. A price period lasts until the next ``effective_from`` of the same
model. The most specific match wins: an exact name over a prefix, a longer prefix over a
shorter one (so a dated snapshot priced differently beats its family).
"""

from __future__ import annotations

import tomllib
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from finops.errors import ConfigError
from finops.paths import data_dir
from finops.schemas import SERVICE_TIERS, TOKEN_TYPES
from finops.warehouse.db import register_frame, transaction

PRICE_SCHEMA = {
    "provider": pl.String(), "model_match": pl.String(), "match_kind": pl.String(),
    "token_type": pl.String(), "service_tier": pl.String(), "usd_per_mtok": pl.Decimal(18, 6),
    "effective_from": pl.Date(), "effective_to": pl.Date(), "source_url": pl.String(),
    "checked": pl.Date(), "model_id": pl.String(),
}
OVERRIDE_SCHEMA = {
    "provider": pl.String(), "model_match": pl.String(), "match_kind": pl.String(),
    "discount_pct": pl.Decimal(9, 4), "effective_from": pl.Date(), "effective_to": pl.Date(),
    "note": pl.String(),
}


def _money(value: Any, where: str) -> Decimal:
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        raise ConfigError(f"{where}: {value!r} is not a number") from None
    if d < 0:
        raise ConfigError(f"{where}: price {d} is negative")
    return d


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None


def load_prices(directory: Path | None = None) -> pl.DataFrame:
    """All list prices in ``directory`` (default: the bundled ``pricing/``) as one frame."""
    directory = directory or data_dir("pricing")
    rows: list[dict[str, Any]] = []
    seen: dict[tuple[str, str, str], str] = {}
    files = sorted(p for p in directory.glob("*.toml") if p.name != "overrides.toml")
    if not files:
        raise ConfigError(f"{directory}: no price files (*.toml)")
    for path in files:
        doc = _read_toml(path)
        provider = doc.get("provider")
        if not provider:
            raise ConfigError(f"{path}: missing top-level 'provider'")
        for i, m in enumerate(doc.get("models", [])):
            where = f"{path.name}: models[{i}] ({m.get('id', '?')})"
            if "id" not in m or "prices" not in m:
                raise ConfigError(f"{where}: needs 'id' and 'prices'")
            for key in ("match", "prefix"):
                names = m.get(key, [])
                if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                    raise ConfigError(f"{where}.{key}: must be a list of model names")
            matches = [(n, "exact") for n in m.get("match", [])]
            matches += [(n, "prefix") for n in m.get("prefix", [])]
            if not matches:
                raise ConfigError(f"{where}: needs 'match' or 'prefix'")
            for name, kind in matches:
                key = (provider, name, kind)
                if key in seen:
                    raise ConfigError(f"{where}: {kind} match {name!r} already used by {seen[key]}")
                seen[key] = m["id"]
            # A non-date start sorts first so it is reported below, not compared (TypeError).
            periods = sorted(m["prices"], key=lambda p: p.get("effective_from")
                             if type(p.get("effective_from")) is date else date.min)
            for j, period in enumerate(periods):
                pwhere = f"{where}.prices[{j}]"
                start = period.get("effective_from")
                if type(start) is not date:  # a TOML datetime is a mistake here too
                    raise ConfigError(f"{pwhere}: effective_from must be a date")
                end = periods[j + 1]["effective_from"] if j + 1 < len(periods) else None
                if end == start:
                    raise ConfigError(f"{pwhere}: two periods start on {start}")
                for tier, table in period.items():
                    if tier == "effective_from":
                        continue
                    if tier not in SERVICE_TIERS:
                        raise ConfigError(f"{pwhere}: unknown tier {tier!r} (one of {SERVICE_TIERS})")
                    for token_type, price in table.items():
                        if token_type not in TOKEN_TYPES:
                            raise ConfigError(
                                f"{pwhere}.{tier}: unknown token type {token_type!r} (one of {TOKEN_TYPES})")
                        for name, kind in matches:
                            rows.append({
                                "provider": provider, "model_match": name, "match_kind": kind,
                                "token_type": token_type, "service_tier": tier,
                                "usd_per_mtok": _money(price, f"{pwhere}.{tier}.{token_type}"),
                                "effective_from": start, "effective_to": end,
                                "source_url": m.get("source", doc.get("source")),
                                "checked": m.get("checked"), "model_id": m["id"],
                            })
    return pl.DataFrame(rows, schema=PRICE_SCHEMA)


def load_overrides(path: Path | None) -> pl.DataFrame:
    """Negotiated discounts from an overrides file (none if ``path`` is None or absent)."""
    if path is None or not path.exists():
        return pl.DataFrame(schema=OVERRIDE_SCHEMA)
    doc = _read_toml(path)
    rows = []
    for i, o in enumerate(doc.get("override", [])):
        where = f"{path.name}: override[{i}]"
        if "provider" not in o or "discount_pct" not in o or "effective_from" not in o:
            raise ConfigError(f"{where}: needs provider, discount_pct and effective_from")
        pct = _money(o["discount_pct"], f"{where}.discount_pct")
        if pct > 100:
            raise ConfigError(f"{where}.discount_pct: {pct} is above 100")
        model = o.get("model")
        kind = o.get("match", "prefix") if model else "any"
        if kind not in ("exact", "prefix", "any"):
            raise ConfigError(f"{where}.match: must be exact or prefix")
        rows.append({
            "provider": o["provider"], "model_match": model, "match_kind": kind,
            "discount_pct": pct, "effective_from": o["effective_from"],
            "effective_to": o.get("effective_to"), "note": o.get("note"),
        })
    return pl.DataFrame(rows, schema=OVERRIDE_SCHEMA)


def refresh_prices(con: duckdb.DuckDBPyConnection, prices: pl.DataFrame,
                   overrides: pl.DataFrame) -> None:
    """Replace the warehouse price tables with ``prices`` and ``overrides`` in one transaction."""
    with transaction(con):
        con.execute("DELETE FROM prices")
        con.execute("DELETE FROM price_overrides")
        register_frame(con, "_prices", prices.drop("model_id"))
        register_frame(con, "_overrides", overrides)
        con.execute("INSERT INTO prices SELECT * FROM _prices")
        con.execute("INSERT INTO price_overrides SELECT * FROM _overrides")
        con.unregister("_prices")
        con.unregister("_overrides")
