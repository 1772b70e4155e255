"""The month's chargeback as a FOCUS cost-and-usage file (FOCUS 1.2 or 1.3; CSV or Parquet).

One row per day · provider · account · model · tier · token type · team · project · feature
(the allocation grain: a row carries one team, project and feature in ``Tags``). The money is
computed in ``sql/focus/rows.sql``; this module names the columns and formats them:

- ``BilledCost`` = ``EffectiveCost``: the allocated billed money in cents; Σ over the file is
  the month's billed total and Σ per ``finops/team`` tag the report's team totals, exactly.
- ``ListCost`` / ``ContractedCost``: tokens × the list / contracted (after overrides) price in
  force that day. A charge with no price (non-token line items, unpriced models) has no list
  or contracted price: both equal ``BilledCost`` and ``x_PriceStatus`` says why.
- ``BillingAccount*`` is the provider organization (the invoice scope), named after the
  configured billing source that loaded it; the OpenAI project / Anthropic workspace is the
  ``SubAccount*``: it groups usage inside one invoice, it is not invoiced on its own.
- ``ConsumedQuantity``: tokens as a Decimal (FOCUS's type); a non-token line item comes as
  money only and is one ``Charge``. ``Sku*``: provider/model/tier, the token type's price.
- ``InvoiceId`` is empty: the provider APIs give no invoice id.
- With 1.3: ``ServiceProviderName`` / ``HostProviderName`` and ``AllocatedMethodId`` /
  ``AllocatedMethodDetails`` (the row's share of its origin charge, the billed line).

Custom columns (``x_``): ``x_Provisional`` (the day is younger than the restatement window:
the provider may still change it), ``x_AllocationBasis``, ``x_PriceStatus``, ``x_Model``,
``x_TokenType``, ``x_ServiceTier``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, time
from pathlib import Path

import duckdb
import polars as pl

from finops.errors import ConfigError
from finops.report.csvout import safe_text_columns
from finops.report.model import Report
from finops.warehouse.db import fetch_frame
from finops.warehouse.sql import bind, run_sql, sql
from finops.windows import Window

VERSIONS = ("1.2", "1.3")
SUFFIXES = (".csv", ".parquet")
TAG_PREFIX = "finops/"
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

PROVIDER_NAMES = {
    "openai": "OpenAI", "anthropic": "Anthropic", "google": "Google", "gemini": "Google",
    "mistral": "Mistral AI", "cohere": "Cohere", "xai": "xAI", "deepseek": "DeepSeek",
    "groq": "Groq", "azure": "Microsoft", "azure_openai": "Microsoft", "bedrock": "AWS",
    "aws": "AWS", "vertex": "Google",
}
SUB_ACCOUNT_TYPES = {"openai": "Project", "anthropic": "Workspace"}
TOKEN_WORDS = {"input": "input", "cache_read": "cache read", "cache_write": "cache write",
               "output": "output"}
METERS = {"input": "Input Tokens", "cache_read": "Cache Read Tokens",
          "cache_write": "Cache Write Tokens", "output": "Output Tokens"}

# AllocatedMethodId per allocation basis (sql/reconcile/50_alloc.sql): the weight used to
# split the billed line, and the unit of that weight in AllocatedMethodDetails.
METHODS = {
    "cost": ("finops-cost-share", "USD"),
    "tokens": ("finops-token-share", "Tokens"),
    "cell_cost": ("finops-cell-cost-share", "USD"),
    "cell_tokens": ("finops-cell-token-share", "Tokens"),
    "day_cost": ("finops-day-cost-share", "USD"),
    "day_tokens": ("finops-day-token-share", "Tokens"),
    "rule": ("finops-account-rule", "Tokens"),
    "key_rule": ("finops-api-key-rule", "Tokens"),
    "account_cost": ("finops-account-cost-share", "USD"),
    "account_tokens": ("finops-account-token-share", "Tokens"),
    "unattributed": ("finops-unattributed", "Tokens"),
    "credit": ("finops-credit-pro-rata", "USD"),
    "tag": ("finops-tag-rule", "USD"),
    "untagged": ("finops-unattributed", "USD"),
    "resource": ("finops-resource-rule", "USD"),
    "capacity": ("finops-capacity-token-share", "Tokens"),
    "capacity_day": ("finops-capacity-day-token-share", "Tokens"),
}

COLUMNS_12 = [
    "BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency",
    "BillingPeriodEnd", "BillingPeriodStart", "ChargeCategory", "ChargeClass",
    "ChargeDescription", "ChargeFrequency", "ChargePeriodEnd", "ChargePeriodStart",
    "ConsumedQuantity", "ConsumedUnit", "ContractedCost", "ContractedUnitPrice",
    "EffectiveCost", "InvoiceId", "InvoiceIssuerName", "ListCost", "ListUnitPrice",
    "PricingCategory", "PricingQuantity", "PricingUnit", "ProviderName", "PublisherName",
    "ServiceCategory", "ServiceName", "ServiceSubcategory", "SkuId", "SkuMeter",
    "SkuPriceDetails", "SkuPriceId", "SubAccountId", "SubAccountName", "SubAccountType", "Tags",
]
COLUMNS_13_EXTRA = ["AllocatedMethodDetails", "AllocatedMethodId", "HostProviderName",
                    "ServiceProviderName"]
X_COLUMNS = ["x_Provisional", "x_AllocationBasis", "x_PriceStatus", "x_Model", "x_TokenType",
             "x_ServiceTier"]


def columns(version: str) -> list[str]:
    """The columns of a FOCUS export of ``version``, in file order."""
    base = COLUMNS_12 + (COLUMNS_13_EXTRA if version == "1.3" else [])
    return sorted(base) + X_COLUMNS


def check_version(version: str) -> str:
    """``version`` if it is one finops writes, else a usage error."""
    if version not in VERSIONS:
        raise ConfigError(f"--focus-version {version!r}: one of {', '.join(VERSIONS)}")
    return version


def check_path(path: Path) -> Path:
    """``path`` if it names a ``.csv`` or ``.parquet`` file, else a usage error."""
    if path.suffix.lower() not in SUFFIXES:
        raise ConfigError(f"--out {path}: a FOCUS export is a file ending in .csv or .parquet")
    return path


def focus_rows(con: duckdb.DuckDBPyConnection, window: Window) -> pl.DataFrame:
    """The allocation rows of a reconciled month with list and contracted prices (``sql/focus/rows.sql``).

    Σ ``billed_cost`` equals the month's billed total and, per team, the report's team total.
    """
    params = {"window_start": window.window_start, "window_end": window.window_end}
    run_sql(con, "reconcile/10_price_keys", params)  # temp table: list and contracted prices
    return fetch_frame(con, sql("focus/rows"), params)


BATCH_ROWS = 65_536  # rows per streamed batch: the export's memory does not grow with the month


def focus_batches(con: duckdb.DuckDBPyConnection, window: Window, report: Report, version: str, *,
                  team: str | None = None, batch_rows: int = BATCH_ROWS) -> Iterator[pl.DataFrame]:
    """The FOCUS ``version`` rows of a reconciled month in file order, streamed from DuckDB.

    Frames of at most ``batch_rows`` rows (Arrow record batches); ``team``: only its rows.
    Yields at least one frame (empty when the month has no rows), so a file always has its header.
    """
    params = {"window_start": window.window_start, "window_end": window.window_end}
    run_sql(con, "reconcile/10_price_keys", params)  # temp table: list and contracted prices
    text = sql("focus/rows")
    reader = con.sql(text, params=bind(text, params)).to_arrow_reader(batch_rows)
    sent = False
    for batch in reader:
        rows: pl.DataFrame = pl.from_arrow(batch)  # type: ignore[assignment]
        if team is not None:
            rows = rows.filter(pl.col("team") == team)
        if rows.height or not sent:
            sent = True
            yield focus_frame(rows, report, version)
    if not sent:
        yield focus_frame(pl.from_arrow(reader.schema.empty_table()), report, version)  # type: ignore[arg-type]


def write_focus_batches(batches: Iterator[pl.DataFrame], path: Path) -> int:
    """Write streamed FOCUS frames to ``path`` (``.csv`` or ``.parquet``); returns the rows written.

    The same bytes (CSV) and the same values and types (Parquet) as :func:`write_focus` of the
    whole frame, in memory bounded by a batch.
    """
    check_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        writer = None
        try:
            for frame in batches:
                table = frame.to_arrow()
                if writer is None:
                    writer = pq.ParquetWriter(path, table.schema)
                writer.write_table(table)
                n += frame.height
        finally:
            if writer is not None:
                writer.close()
        return n
    with path.open("wb") as fh:
        for i, frame in enumerate(batches):
            safe_text_columns(frame).write_csv(fh, include_header=i == 0, datetime_format=TIMESTAMP_FORMAT)
            n += frame.height
    return n


def focus_frame(rows: pl.DataFrame, report: Report, version: str) -> pl.DataFrame:
    """Name and format ``sql/focus/rows.sql``'s result as FOCUS ``version`` columns."""
    w = report.window
    period_start = datetime.combine(w.window_start, time())
    period_end = datetime.combine(w.window_end, time())
    utc = pl.Datetime("us", "UTC")
    display = pl.col("provider").replace_strict(PROVIDER_NAMES, default=pl.col("provider"))
    billed = pl.col("billed_cost")
    priced = pl.col("list_usd_per_mtok").is_not_null() & pl.col("usd_per_mtok").is_not_null()
    is_token = ~pl.col("token_type").is_in(["other", "credit"])
    is_credit = pl.col("token_type") == "credit"
    pooled = pl.col("account") == ""  # billed accounts matched without account: no one sub-account
    tier_note = (pl.when(pl.col("service_tier") != "standard")
                 .then(pl.lit(", ") + pl.col("service_tier") + pl.lit(" tier")).otherwise(pl.lit("")))
    token_desc = (pl.col("model") + pl.lit(" ")
                  + pl.col("token_type").replace_strict(TOKEN_WORDS, default=pl.col("token_type"))
                  + pl.lit(" tokens") + tier_note)
    other_desc = pl.coalesce(pl.col("line_items"), pl.lit("non-token charges"))
    sku_id = (pl.col("provider") + pl.lit("/")
              + pl.when(is_token).then(pl.col("model") + pl.lit("/") + pl.col("service_tier"))
              .otherwise(pl.coalesce(pl.col("line_items"), pl.lit("other"))))
    pricing_quantity = (pl.col("quantity").cast(pl.Decimal(38, 0)) * pl.lit(1).cast(pl.Decimal(38, 6))
                        / 1_000_000).cast(pl.Decimal(38, 6))

    frame = rows.with_columns(
        BilledCost=billed,
        EffectiveCost=billed,
        ListCost=pl.when(priced).then(pl.col("list_cost").cast(pl.Decimal(38, 6)))
        .otherwise(billed.cast(pl.Decimal(38, 6))),
        ContractedCost=pl.when(priced).then(pl.col("contracted_cost").cast(pl.Decimal(38, 6)))
        .otherwise(billed.cast(pl.Decimal(38, 6))),
        ListUnitPrice=pl.when(priced).then(pl.col("list_usd_per_mtok")),
        ContractedUnitPrice=pl.when(priced).then(pl.col("usd_per_mtok")),
        BillingAccountId=pl.col("billing_account"),
        BillingAccountName=pl.col("billing_account"),
        BillingCurrency=pl.lit(report.currency),
        BillingPeriodStart=pl.lit(period_start).cast(utc),
        BillingPeriodEnd=pl.lit(period_end).cast(utc),
        ChargePeriodStart=pl.col("day").cast(pl.Datetime("us")).cast(utc),
        ChargePeriodEnd=(pl.col("day").cast(pl.Datetime("us")) + pl.duration(days=1)).cast(utc),
        ChargeCategory=pl.when(is_credit).then(pl.lit("Credit")).otherwise(pl.lit("Usage")),
        ChargeClass=pl.lit(None, pl.String),
        ChargeFrequency=pl.when(is_credit).then(pl.lit("One-Time")).otherwise(pl.lit("Usage-Based")),
        ChargeDescription=pl.when(is_token).then(token_desc).otherwise(other_desc),
        # Decimal, as FOCUS types it (whole tokens, written with the fraction digits).
        # A non-token line item comes as money only: it is one charge.
        # A credit is not usage: FOCUS wants no consumed or pricing quantity on it.
        ConsumedQuantity=pl.when(is_token).then(pl.col("quantity").cast(pl.Decimal(38, 6)))
        .when(~is_credit).then(pl.lit(1).cast(pl.Decimal(38, 6))),
        ConsumedUnit=pl.when(is_token).then(pl.lit("Tokens")).when(~is_credit).then(pl.lit("Charge")),
        PricingQuantity=pl.when(is_token).then(pricing_quantity)
        .when(~is_credit).then(pl.lit(1).cast(pl.Decimal(38, 6))),
        PricingUnit=pl.when(is_token).then(pl.lit("1000000 Tokens")).when(~is_credit).then(pl.lit("Charge")),
        PricingCategory=pl.lit("Standard"),
        InvoiceId=pl.lit(None, pl.String),
        InvoiceIssuerName=display,
        ProviderName=display,
        PublisherName=display,
        ServiceProviderName=display,
        HostProviderName=display,
        ServiceName=display + pl.lit(" API"),
        ServiceCategory=pl.lit("AI and Machine Learning"),
        ServiceSubcategory=pl.lit("Generative AI"),
        SkuId=sku_id,
        SkuPriceId=sku_id + pl.lit("/")
        + pl.when(is_token).then(pl.col("token_type")).otherwise(pl.lit("charge")),
        SkuMeter=pl.when(is_token)
        .then(pl.col("token_type").replace_strict(METERS, default=pl.col("token_type")))
        .otherwise(other_desc),
        SkuPriceDetails=pl.struct(x_ServiceTier=pl.col("service_tier"),
                                  x_TokenType=pl.col("token_type")).struct.json_encode(),
        SubAccountId=pl.when(~pooled).then(pl.col("account")),
        SubAccountName=pl.when(~pooled).then(pl.col("account")),
        SubAccountType=pl.when(~pooled).then(
            pl.col("provider").replace_strict(SUB_ACCOUNT_TYPES, default="Account")),
        Tags=pl.struct(**{f"{TAG_PREFIX}{k}": pl.col(k) for k in ("team", "project", "feature")})
        .struct.json_encode(),
        x_Provisional=pl.col("provisional"),
        x_AllocationBasis=pl.col("basis"),
        x_PriceStatus=pl.when(is_credit).then(pl.lit("credit")).when(~is_token).then(pl.lit("non_token"))
        .when(priced).then(pl.lit("priced")).otherwise(pl.lit("unpriced")),
        x_Model=pl.col("model"),
        x_TokenType=pl.col("token_type"),
        x_ServiceTier=pl.col("service_tier"),
    )
    if version == "1.3":  # 1.3's columns only for 1.3 (AllocatedMethodDetails is built row by row)
        frame = frame.with_columns(
            AllocatedMethodId=pl.col("basis").replace_strict(
                {k: v[0] for k, v in METHODS.items()}, default=None, return_dtype=pl.String),
            AllocatedMethodDetails=pl.Series(_method_details(rows), dtype=pl.String))
    return frame.select(columns(version))


def _method_details(rows: pl.DataFrame) -> list[str | None]:
    """AllocatedMethodDetails JSON per row: the row's ratio of its billed line and its weight."""
    out: list[str | None] = []
    for basis, ratio, weight in zip(rows["basis"], rows["allocated_ratio"], rows["weight_quantity"],
                                    strict=True):
        if basis not in METHODS or ratio is None:
            out.append(None)  # no origin charge: span usage no bill covered
            continue
        element: dict[str, object] = {"AllocatedRatio": ratio, "UsageUnit": METHODS[basis][1]}
        if weight is not None:
            element["UsageQuantity"] = float(weight)
        element["x_Basis"] = basis
        out.append(json.dumps({"Elements": [element]}, ensure_ascii=False))
    return out


def render_focus_csv(frame: pl.DataFrame) -> str:
    """The export as CSV text: UTF-8, ``YYYY-MM-DDTHH:MM:SSZ`` dates, empty cells for nulls.

    Text cells a spreadsheet would run as formulas get a leading apostrophe (OWASP); numbers
    stay numbers.
    """
    return safe_text_columns(frame).write_csv(datetime_format=TIMESTAMP_FORMAT)


def write_focus(frame: pl.DataFrame, path: Path) -> Path:
    """Write the export to ``path`` (``.csv`` or ``.parquet``, by its suffix)."""
    check_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".parquet":
        frame.write_parquet(path)
    else:
        path.write_text(render_focus_csv(frame), encoding="utf-8")
    return path
