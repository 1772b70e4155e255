"""FOCUS exports: CSV and Parquet, 1.2 and 1.3 column names, rules, errors."""

from __future__ import annotations

import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from finops.billing import focus
from finops.config import BillingSource
from finops.errors import ConfigError, DataError

CSV = Path(__file__).parent / "data" / "billing" / "focus_1.2_llm_tokens.csv"
SHARED = Path(__file__).resolve().parent / "fixtures" / "billing"
W0, W1 = date(2025, 8, 1), date(2025, 8, 5)
RULES = [
    {"ServiceName": "OpenAI API", "provider": "openai",
     "ChargeDescription": {
         "regex": r"^(?P<model>\S+) (?P<token_type>input|output|cached input) tokens$"}},
    {"SkuId": "CLAUDE-SONNET-4-IN", "provider": "anthropic",
     "model": "claude-sonnet-4-20250514", "token_type": "input"},
]
# Hand-computed from the CSV: 1.25 + 2.00 + 0.3125 (OpenAI tokens) + 4.50 (Claude); the
# 0.10 vector storage and 0.42 sales tax match no rule and are excluded; the 9.99 row is dated
# 2025-08-05, outside the window.
TOTAL = Decimal("8.0625")
EXPECTED = {
    (date(2025, 8, 1), "openai", "proj_abc", "gpt-4o-2024-08-06", "input"):
        (Decimal("1.25"), 500_000),
    (date(2025, 8, 1), "openai", "proj_abc", "gpt-4o-2024-08-06", "output"):
        (Decimal("2"), 200_000),
    (date(2025, 8, 2), "openai", "proj_abc", "gpt-4o-2024-08-06", "cache_read"):
        (Decimal("0.3125"), 250_000),
    (date(2025, 8, 2), "anthropic", "org-anth", "claude-sonnet-4-20250514", "input"):
        (Decimal("4.5"), 1_500_000),
}
EXCLUDED_NOTE = ("focus: excluded 2 rows, 0.52 USD not matched by any rule "
                 "(top services: OpenAI API 0.52 USD)")


def source(*paths: Path, rules=RULES) -> BillingSource:
    return BillingSource("focus", "focus_files", {"paths": [str(p) for p in paths],
                                                  "rules": rules})


def rows(pulled) -> dict:
    return {(r["day"], r["provider"], r["account"], r["model"], r["token_type"]):
            (r["amount"], r["billed_tokens"]) for r in pulled.frame.iter_rows(named=True)}


def to_parquet(csv: Path, out: Path, *, v13: bool = False) -> Path:
    """A typed Parquet copy: Decimal costs, UTC datetimes, Float quantities."""
    frame = pl.read_csv(csv, infer_schema=False).with_columns(
        pl.col("BilledCost").cast(pl.Decimal(18, 6)),
        pl.col("ChargePeriodStart").str.to_datetime("%Y-%m-%dT%H:%M:%SZ", time_zone="UTC"),
        pl.col("ConsumedQuantity").cast(pl.Float64),
    )
    if v13:
        frame = frame.rename({"ProviderName": "ServiceProviderName"}).drop("PublisherName")
    frame.write_parquet(out)
    return out


def test_csv_rules_money_and_notes():
    seen = []
    pulled = focus.pull(source(CSV), W0, W1, progress=lambda *a: seen.append(a))
    assert rows(pulled) == EXPECTED
    assert sum(pulled.frame["amount"]) == TOTAL
    assert pulled.providers == ["anthropic", "openai"]
    assert set(pulled.frame["currency"]) == {"USD"} and set(pulled.frame["source"]) == {"focus"}
    assert pulled.notes == [EXCLUDED_NOTE]
    assert pulled.excluded.to_dicts() == [
        {"day": date(2025, 8, 2), "reason": "unmatched", "service": "OpenAI API", "rows": 1,
         "amount": Decimal("0.1"), "currency": "USD"},
        {"day": date(2025, 8, 3), "reason": "unmatched", "service": "OpenAI API", "rows": 1,
         "amount": Decimal("0.42"), "currency": "USD"}]
    assert pulled.stats == {"rows_read": 6, "rows": 4, "files": 1, "matched_rows": 4,
                            "excluded_rows": 2}
    assert set(pulled.frame["line_item"]) >= {"gpt-4o-2024-08-06 input tokens"}
    assert seen == [("focus files", 1, 1)]


def test_parquet_copy_and_focus_13_columns(tmp_path: Path):
    p12 = to_parquet(CSV, tmp_path / "focus12.parquet")
    p13 = to_parquet(CSV, tmp_path / "focus13.parquet", v13=True)
    for p in (p12, p13):
        pulled = focus.pull(source(p), W0, W1)
        assert rows(pulled) == EXPECTED, p
        assert sum(pulled.frame["amount"]) == TOTAL


def test_a_catch_all_rule_keeps_non_token_charges_as_other():
    """Vector storage and tax are OpenAI money: a rule keeps them as LLM billing, not tokens."""
    keep = [*RULES, {"ServiceName": "OpenAI API", "provider": "openai", "token_type": "other"}]
    pulled = focus.pull(source(CSV, rules=keep), W0, W1)
    assert sum(pulled.frame["amount"]) == TOTAL + Decimal("0.52")
    other = pulled.frame.filter(pl.col("token_type") == "other")
    assert sorted(other["line_item"]) == ["Sales tax", "Vector storage"]
    assert pulled.notes == [] and pulled.excluded.height == 0


def test_explicit_exclude_rule_comes_first_and_is_reported_apart():
    rules = [{"ChargeDescription": "Sales tax", "exclude": True},
             *RULES, {"ServiceName": "OpenAI API", "provider": "openai", "token_type": "other"}]
    pulled = focus.pull(source(CSV, rules=rules), W0, W1)
    assert sum(pulled.frame["amount"]) == TOTAL + Decimal("0.10")
    assert pulled.notes == ["focus: excluded 1 row, 0.42 USD by exclude rules "
                            "(top services: OpenAI API 0.42 USD)"]


@pytest.mark.parametrize("options, message", [
    ({"paths": [str(CSV)]}, "no rule says which charges are LLM billing: set preset"),
    ({"paths": [str(CSV)], "rules": [{"ServiceName": "x", "exclude": True}]}, "no rule says"),
    ({"paths": [str(CSV)], "rules": RULES, "preset": "aws"}, "preset 'aws' is not one of "
     "aws-bedrock, azure-openai, gcp-vertex-ai .did you mean 'aws-bedrock'"),
    ({"path": [str(CSV)], "rules": RULES}, "unknown option 'path' .did you mean 'paths'..; "
     "focus_files takes paths, preset, rules"),
    ({"paths": [str(CSV)], "rules": RULES, "presets": "aws-bedrock"},
     "unknown option 'presets' .did you mean 'preset'"),
    ({"paths": [], "rules": RULES}, "'paths' lists no files"),
])
def test_bad_options_are_config_errors(options, message):
    with pytest.raises(ConfigError, match=f"^billing source focus: {message}"):
        focus.pull(BillingSource("focus", "focus_files", options), W0, W1)


def test_spec_example_with_bom_and_bad_dates_is_named(tmp_path: Path):
    # the spec's own SaaS examples use M/D/YY dates: not conformant, said clearly
    f = tmp_path / "a2.csv"
    shutil.copy(SHARED / "focus_1.2_virtual_currency_pricing_model_a2.csv", f)
    with pytest.raises(DataError, match=r"focus .*a2.csv: row 1: ChargePeriodStart is not an "
                                        r"RFC 3339 time: '4/1/25'"):
        focus.pull(source(f), W0, W1)


@pytest.mark.parametrize("column, value, message", [
    ("BilledCost", "$10,000.00 ", "row 2: BilledCost is not a decimal number: '$10,000.00 '"),
    ("BilledCost", "", "row 2: BilledCost missing"),
    ("BillingCurrency", "usd?", "row 2: BillingCurrency unknown currency 'usd?'"),
    ("ConsumedQuantity", "-5", "row 2: ConsumedQuantity is not a token count"),
])
def test_bad_values_name_file_row_and_column(tmp_path: Path, column, value, message):
    frame = pl.read_csv(CSV, infer_schema=False)
    frame = frame.with_columns(
        pl.when(pl.int_range(pl.len()) == 1).then(pl.lit(value)).otherwise(pl.col(column))
        .alias(column))
    f = tmp_path / "bad.csv"
    frame.write_csv(f)
    with pytest.raises(DataError) as e:
        focus.pull(source(f), W0, W1)
    assert str(e.value).startswith(f"focus {f}: {message}")


def test_missing_columns_and_files(tmp_path: Path):
    f = tmp_path / "thin.csv"
    pl.read_csv(CSV, infer_schema=False).drop("BillingCurrency", "ProviderName").write_csv(f)
    with pytest.raises(DataError, match="missing FOCUS column.*BillingCurrency, "
                                        "ServiceProviderName or ProviderName"):
        focus.pull(source(f), W0, W1)
    with pytest.raises(DataError, match="file not found"):
        focus.pull(source(tmp_path / "nope.csv"), W0, W1)


@pytest.mark.parametrize("rules, message", [
    ([{"provider": "openai", "token_type": "input"}], "needs at least one of"),
    ([{"SkuId": "x", "token_type": "input"}], "sets no provider"),
    ([{"SkuId": "x", "provider": "openai"}], "sets no token_type"),
    ([{"SkuId": "x", "provider": "openai", "token_type": "bananas"}], "is not one of"),
    ([{"SkuId": {"regex": "("}, "provider": "o", "token_type": "input"}], "bad regex"),
    ([{"Sku": "x", "provider": "o", "token_type": "input"}], "unknown key 'Sku' .did you mean 'SkuId'"),
    ([{"SkuId": "x", "exclude": True, "token_type": "input"}], "an exclude rule sets nothing else"),
    ([{"SkuId": "x", "provider": "o", "token_type": "input", "provisioned": True}],
     "token_type must be 'other'"),
    ([{"SkuId": "x", "provider": "o", "token_type": "input", "service_tier": "fast"}],
     "service_tier 'fast' is not one of"),
    ("nope", "must be a list"),
])
def test_bad_rules_are_config_errors(rules, message):
    with pytest.raises(ConfigError, match=message):
        focus.pull(source(CSV, rules=rules), W0, W1)


def test_regex_group_with_unknown_token_word_is_named():
    rules = [{"ServiceName": "OpenAI API", "provider": "openai",
              "ChargeDescription": {"regex": r"^(?P<token_type>\S+) (?P<model>.+)$"}}]
    with pytest.raises(DataError, match="row 1: token_type 'gpt-4o-2024-08-06' .from rules.0.. "
                                        "is not a token type"):
        focus.pull(source(CSV, rules=rules), W0, W1)
