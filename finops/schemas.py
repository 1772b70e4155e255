"""The canonical frames that cross every boundary, as pandera (polars) models.

``usage_daily`` is the estimate side, ``billing_daily`` the truth side (DESIGN.md).
Token fields in ``usage_daily`` are disjoint: ``input_tokens`` excludes cache reads and writes.
"""

from __future__ import annotations

from datetime import date

import pandera.polars as pa
import polars as pl

from finops.errors import DataError
from finops.names import NO_ACCOUNT, UNATTRIBUTED, UNKNOWN  # noqa: F401 - re-exported

# Token types a price or a bill is attached to. ``cache_write`` is the default (5-minute)
# cache write; Anthropic's 1-hour writes are billed and priced separately.
TOKEN_TYPES = ("input", "cache_read", "cache_write", "cache_write_1h", "output")
# Billing rows that are not tokens (web search, code execution, unparsed line items).
OTHER = "other"
SERVICE_TIERS = ("standard", "batch", "priority", "flex")
# A billing row with no project / workspace id is the provider's default one (a real account).
DEFAULT_ACCOUNT = "default"

USAGE_KEYS = ("day", "provider", "account", "model", "service_tier", "team", "project", "feature", "source")
USAGE_TOKENS = ("input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens",
                "reasoning_tokens")
BILLING_KEYS = ("day", "provider", "account", "model", "service_tier", "token_type", "source", "line_item")
KEY_TOKEN_KEYS = ("day", "provider", "account", "model", "service_tier", "token_type", "api_key", "source")
# A usage row the provider attributes to no API key (Anthropic: Console and Workbench usage).
NO_API_KEY = ""

MONEY = pl.Decimal(18, 6)

USAGE_SCHEMA: dict[str, pl.DataType] = {
    "day": pl.Date(), "provider": pl.String(), "account": pl.String(), "model": pl.String(),
    "service_tier": pl.String(), "team": pl.String(), "project": pl.String(),
    "feature": pl.String(), "source": pl.String(), "requests": pl.Int64(),
    **{t: pl.Int64() for t in USAGE_TOKENS},
    "seen_requests": pl.Int64(),
}
BILLING_SCHEMA: dict[str, pl.DataType] = {
    "day": pl.Date(), "provider": pl.String(), "account": pl.String(), "model": pl.String(),
    "service_tier": pl.String(), "token_type": pl.String(), "source": pl.String(),
    "line_item": pl.String(), "amount": MONEY, "currency": pl.String(),
    "billed_tokens": pl.Int64(), "billed_requests": pl.Int64(), "premium": pl.String(),
}
# Billed tokens per API key, from the usage reports (the cost reports carry no key): the weights
# that split each billed cell's money over its keys (sql/reconcile/33_bill_keys.sql).
KEY_TOKENS_SCHEMA: dict[str, pl.DataType] = {
    "day": pl.Date(), "provider": pl.String(), "account": pl.String(), "model": pl.String(),
    "service_tier": pl.String(), "token_type": pl.String(), "api_key": pl.String(),
    "source": pl.String(), "billed_tokens": pl.Int64(),
}
# API keys as the providers' key listings name them: never the secret, at most the provider's
# own redacted hint (``sk-ant-api03-R2D...igAA``).
API_KEYS_SCHEMA: dict[str, pl.DataType] = {
    "provider": pl.String(), "api_key": pl.String(), "name": pl.String(), "hint": pl.String(),
    "account": pl.String(), "source": pl.String(),
}

# ISO 4217 codes we accept in billing data; anything else is a data error, never guessed.
CURRENCIES = frozenset(
    "USD EUR GBP JPY CAD AUD CHF CNY INR SEK NOK DKK NZD SGD HKD KRW BRL MXN ZAR PLN".split())


class UsageDaily(pa.DataFrameModel):
    """One row per day · provider · account · model · tier · team · project · feature · source."""

    day: date
    provider: str = pa.Field(str_length={"min_value": 1})
    account: str
    model: str = pa.Field(str_length={"min_value": 1})
    service_tier: str = pa.Field(isin=list(SERVICE_TIERS))
    team: str = pa.Field(str_length={"min_value": 1})
    project: str = pa.Field(str_length={"min_value": 1})
    feature: str = pa.Field(str_length={"min_value": 1})
    source: str
    requests: int = pa.Field(ge=0)
    input_tokens: int = pa.Field(ge=0)
    cache_read_tokens: int = pa.Field(ge=0)
    cache_write_tokens: int = pa.Field(ge=0)
    output_tokens: int = pa.Field(ge=0)
    reasoning_tokens: int = pa.Field(ge=0)
    # The spans the source saw for the row, unweighted; ``requests`` and the tokens are their
    # sampling-weighted estimates (finops.canonical: sampling). NULL: not known (rows loaded
    # before sampling weights, hand-made frames): read as ``requests``.
    seen_requests: int = pa.Field(nullable=True, ge=0)

    class Config:
        strict = True
        unique = list(USAGE_KEYS)


class BillingDaily(pa.DataFrameModel):
    """One row per day · provider · account · model · tier · token type · source · line item."""

    day: date
    provider: str = pa.Field(str_length={"min_value": 1})
    account: str
    model: str
    service_tier: str = pa.Field(isin=list(SERVICE_TIERS))
    token_type: str = pa.Field(isin=[*TOKEN_TYPES, OTHER])
    source: str
    line_item: str
    amount: pl.Decimal(18, 6)  # type: ignore[valid-type]
    currency: str = pa.Field(isin=sorted(CURRENCIES))
    billed_tokens: int = pa.Field(nullable=True, ge=0)
    # Requests the provider counted for the row's day · account · model · tier, carried once
    # per key (on one of its rows; NULL on the others and where the bill gives no count).
    billed_requests: int = pa.Field(nullable=True, ge=0)
    # What the bill itself says about a surcharge on the row: comma-separated kinds among
    # long_context, geo:<region>, priority, fast; NULL for the base rate.
    premium: str = pa.Field(nullable=True)

    class Config:
        strict = True
        unique = list(BILLING_KEYS)


class BillingKeyTokens(pa.DataFrameModel):
    """One row per day · provider · account · model · tier · token type · API key · source."""

    day: date
    provider: str = pa.Field(str_length={"min_value": 1})
    account: str
    model: str
    service_tier: str = pa.Field(isin=list(SERVICE_TIERS))
    token_type: str = pa.Field(isin=list(TOKEN_TYPES))
    api_key: str  # NO_API_KEY: usage the provider attributes to no key
    source: str
    billed_tokens: int = pa.Field(ge=0)

    class Config:
        strict = True
        unique = list(KEY_TOKEN_KEYS)


class ApiKeys(pa.DataFrameModel):
    """One row per provider · API key id: its name and the provider's redacted hint."""

    provider: str = pa.Field(str_length={"min_value": 1})
    api_key: str = pa.Field(str_length={"min_value": 1})
    name: str = pa.Field(nullable=True)
    hint: str = pa.Field(nullable=True)
    account: str = pa.Field(nullable=True)  # workspace / project, where the listing says
    source: str

    class Config:
        strict = True
        unique = ["provider", "api_key"]


def validate(frame: pl.DataFrame, model: type[pa.DataFrameModel], where: str) -> pl.DataFrame:
    """Validate an eager frame; collect every failure into one :class:`DataError` naming ``where``."""
    try:
        return model.validate(frame, lazy=True)
    except (pa.errors.SchemaErrors, pa.errors.SchemaError) as e:
        raise DataError(f"{where}: {_summarise(e)}") from None


def _summarise(e: Exception) -> str:
    cases = getattr(e, "failure_cases", None)
    if cases is None or not isinstance(cases, pl.DataFrame) or cases.is_empty():
        return str(e).splitlines()[0]
    parts = []
    for row in cases.head(5).iter_rows(named=True):
        col = row.get("column") or "frame"
        check = row.get("check")
        value = row.get("failure_case")
        parts.append(f"{col}: {check} failed for {value!r}")
    more = f" (+{cases.height - 5} more)" if cases.height > 5 else ""
    return "; ".join(parts) + more
