"""The bundled price files in pricing/: they load, hold the promised models and rates."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from finops.errors import ConfigError
from finops.paths import data_dir
from finops.warehouse.db import connect
from finops.warehouse.prices import load_overrides, load_prices, refresh_prices

REQUIRED = {
    "openai": [
        "gpt-4o", "gpt-4o-2024-05-13", "gpt-4o-2024-08-06", "gpt-4o-2024-11-20",
        "gpt-4o-mini", "gpt-4o-mini-2024-07-18",
        "gpt-4.1", "gpt-4.1-2025-04-14", "gpt-4.1-mini", "gpt-4.1-mini-2025-04-14",
        "gpt-4.1-nano", "gpt-4.1-nano-2025-04-14",
        "o3", "o3-2025-04-16", "o4-mini", "o4-mini-2025-04-16",
    ],
    "anthropic": [
        "claude-3-5-haiku-20241022", "claude-3-5-haiku-latest",
        "claude-sonnet-4-20250514", "claude-sonnet-4-0",
        "claude-sonnet-4-5-20250929", "claude-sonnet-4-5",
        "claude-opus-4-20250514", "claude-opus-4-0",
        "claude-opus-4-1-20250805", "claude-opus-4-1",
        "claude-opus-4-5-20251101", "claude-opus-4-5", "claude-opus-4-6",
        "claude-haiku-4-5-20251001", "claude-haiku-4-5",
    ],
}
# Cloud-hosted models, under the ids both spans and bills reduce to (finops/cloud_models.py).
REQUIRED.update({
    "aws_bedrock": ["claude-3-haiku", "claude-3-5-sonnet", "claude-3-7-sonnet", "claude-sonnet-4",
                    "claude-sonnet-4:global", "claude-sonnet-4-5", "claude-sonnet-4-5:global",
                    "claude-haiku-4-5", "claude-haiku-4-5:global", "nova-micro", "nova-lite",
                    "nova-pro"],
    "azure_openai": ["gpt-4o", "gpt-4o-2024-05-13", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini",
                     "gpt-4.1-nano", "o3-mini", "o4-mini", "gpt-5", "gpt-5-mini"],
    "gcp_vertex_ai": ["gemini-2.0-flash", "gemini-2.5-pro", "gemini-2.5-flash",
                      "gemini-2.5-flash-lite"],
})
REQUIRED_PAIRS = [(prov, name) for prov, names in REQUIRED.items() for name in names]
TODAY = date(2026, 10, 15)


@pytest.fixture(scope="module")
def prices() -> pl.DataFrame:
    return load_prices()


def price(prices: pl.DataFrame, provider: str, model: str, day: date, token_type: str,
          tier: str = "standard") -> Decimal | None:
    """The price in force, by the documented rule: exact name, else the longest prefix."""
    rows = prices.filter(
        (pl.col("provider") == provider) & (pl.col("token_type") == token_type)
        & (pl.col("service_tier") == tier) & (pl.col("effective_from") <= day)
        & (pl.col("effective_to").is_null() | (pl.col("effective_to") > day))
    )
    exact = rows.filter((pl.col("match_kind") == "exact") & (pl.col("model_match") == model))
    if exact.height:
        assert exact.height == 1, exact
        return exact["usd_per_mtok"][0]
    pref = rows.filter((pl.col("match_kind") == "prefix")
                       & pl.lit(model).str.starts_with(pl.col("model_match")))
    if not pref.height:
        return None
    best = pref.with_columns(n=pl.col("model_match").str.len_chars()).sort("n").tail(1)
    return best["usd_per_mtok"][0]


def test_bundled_directory_is_found_and_loads(prices: pl.DataFrame) -> None:
    assert (data_dir("pricing") / "openai.toml").is_file()
    assert set(prices["provider"].unique()) == {"openai", "anthropic", "aws_bedrock",
                                                 "azure_openai", "gcp_vertex_ai"}
    assert prices["usd_per_mtok"].min() > 0
    assert prices["source_url"].null_count() == 0
    assert prices["checked"].null_count() == 0


@pytest.mark.parametrize(("provider", "model"), REQUIRED_PAIRS)
def test_required_model_has_standard_input_and_output(prices, provider, model) -> None:
    for token_type in ("input", "output"):
        assert price(prices, provider, model, TODAY, token_type) is not None, token_type


@pytest.mark.parametrize(("provider", "model"), REQUIRED_PAIRS)
def test_batch_is_half_of_standard(prices, provider, model) -> None:
    """Every provider promises 50 % off input and output; Anthropic off cache prices too."""
    types = ["input", "output"]
    if provider == "anthropic":
        types += ["cache_read", "cache_write", "cache_write_1h"]
    periods = prices.filter((pl.col("provider") == provider) & (pl.col("model_match") == model)
                            & (pl.col("match_kind") == "exact"))
    for start in periods["effective_from"].unique():
        for token_type in types:
            std = price(prices, provider, model, start, token_type)
            assert std is not None, (start, token_type)
            assert price(prices, provider, model, start, token_type, "batch") == std / 2, (
                start, token_type)


def test_anthropic_cache_multipliers(prices) -> None:
    for model in REQUIRED["anthropic"]:
        base = price(prices, "anthropic", model, TODAY, "input")
        assert price(prices, "anthropic", model, TODAY, "cache_read") == base * Decimal("0.1")
        assert price(prices, "anthropic", model, TODAY, "cache_write") == base * Decimal("1.25")
        assert price(prices, "anthropic", model, TODAY, "cache_write_1h") == base * 2


def test_bedrock_regional_premium_from_claude_4_5(prices) -> None:
    """Geographic / in-region inference costs 10 % more than global from the 4.5 generation on."""
    for model in ("claude-sonnet-4-5", "claude-haiku-4-5"):
        for token_type in ("input", "cache_read", "cache_write", "output"):
            regional = price(prices, "aws_bedrock", model, TODAY, token_type)
            glob = price(prices, "aws_bedrock", f"{model}:global", TODAY, token_type)
            assert regional == glob * Decimal("1.1"), (model, token_type)
    assert price(prices, "aws_bedrock", "claude-sonnet-4-5:global", TODAY, "output") == 15
    assert price(prices, "aws_bedrock", "claude-sonnet-4", TODAY, "input") == price(
        prices, "aws_bedrock", "claude-sonnet-4:global", TODAY, "input") == 3


def test_cloud_rates_differ_from_the_direct_apis_where_the_clouds_say_so(prices) -> None:
    # Vertex AI's Gemini 2.0 Flash is not the Gemini API's $0.10 / $0.40.
    assert price(prices, "gcp_vertex_ai", "gemini-2.0-flash", TODAY, "input") == Decimal("0.15")
    assert price(prices, "gcp_vertex_ai", "gemini-2.0-flash", TODAY, "output") == Decimal("0.6")
    # Azure's Global Standard matches OpenAI's API for gpt-4o; the 0513 snapshot keeps its price.
    assert price(prices, "azure_openai", "gpt-4o", TODAY, "input") == price(
        prices, "openai", "gpt-4o-2024-08-06", TODAY, "input")
    assert price(prices, "azure_openai", "gpt-4o-2024-05-13", TODAY, "output") == 15


def test_openai_has_no_cache_write_price(prices) -> None:
    openai = prices.filter(pl.col("provider") == "openai")
    assert not set(openai["token_type"]) & {"cache_write", "cache_write_1h"}


def test_gpt4o_launch_snapshot_differs_from_family(prices) -> None:
    def p(model, token_type):
        return price(prices, "openai", model, TODAY, token_type)

    assert (p("gpt-4o-2024-05-13", "input"), p("gpt-4o-2024-05-13", "output")) == (5, 15)
    assert p("gpt-4o-2024-05-13", "cache_read") is None  # no cached-input discount
    for model in ("gpt-4o", "gpt-4o-2024-08-06", "gpt-4o-2024-11-20"):
        assert (p(model, "input"), p(model, "cache_read"), p(model, "output")) == (
            Decimal("2.5"), Decimal("1.25"), 10)
    # The alias served the launch snapshot, at its price, until 2024-10-02.
    assert price(prices, "openai", "gpt-4o", date(2024, 9, 30), "input") == 5
    assert price(prices, "openai", "gpt-4o", date(2024, 10, 2), "input") == Decimal("2.5")


def test_gpt4o_does_not_catch_gpt4o_mini(prices) -> None:
    assert price(prices, "openai", "gpt-4o-mini", TODAY, "input") == Decimal("0.15")
    assert price(prices, "openai", "gpt-4o-mini-2024-07-18", TODAY, "output") == Decimal("0.6")
    # A future dated snapshot falls to its own family's prefix, never to a sibling's.
    assert price(prices, "openai", "gpt-4.1-2025-09-01", TODAY, "input") == 2
    assert price(prices, "openai", "gpt-4.1-mini-2025-09-01", TODAY, "input") == Decimal("0.4")
    assert price(prices, "openai", "gpt-4.1-nano-2025-09-01", TODAY, "input") == Decimal("0.1")
    assert price(prices, "openai", "gpt-4o-2025-01-01", TODAY, "input") is None
    assert price(prices, "openai", "gpt-4.1-mini-fast", TODAY, "input") is None


def test_o3_price_cut_on_2025_06_10(prices) -> None:
    o3 = prices.filter((pl.col("model_match") == "o3-2025-04-16")
                       & (pl.col("service_tier") == "standard") & (pl.col("token_type") == "input"))
    assert o3.sort("effective_from").select("effective_from", "effective_to").rows() == [
        (date(2025, 4, 16), date(2025, 6, 10)), (date(2025, 6, 10), None)]
    for model in ("o3", "o3-2025-04-16"):
        before, after = date(2025, 6, 9), date(2025, 6, 10)
        assert price(prices, "openai", model, before, "input") == 10
        assert price(prices, "openai", model, before, "output") == 40
        assert price(prices, "openai", model, after, "input") == 2
        assert price(prices, "openai", model, after, "output") == 8
        assert price(prices, "openai", model, after, "cache_read") == Decimal("0.5")


def test_opus_generations(prices) -> None:
    for model in ("claude-opus-4-20250514", "claude-opus-4-1-20250805"):
        assert price(prices, "anthropic", model, TODAY, "input") == 15
        assert price(prices, "anthropic", model, TODAY, "output") == 75
    for model in ("claude-opus-4-5-20251101", "claude-opus-4-5", "claude-opus-4-6"):
        assert price(prices, "anthropic", model, TODAY, "input") == 5
        assert price(prices, "anthropic", model, TODAY, "output") == 25


def test_no_price_before_launch(prices) -> None:
    assert price(prices, "anthropic", "claude-opus-4-6", date(2026, 2, 4), "input") is None
    assert price(prices, "openai", "o3", date(2025, 4, 15), "input") is None


def test_no_name_matched_twice_across_models(prices) -> None:
    owners = (prices.group_by("provider", "match_kind", "model_match")
              .agg(pl.col("model_id").n_unique().alias("n")).filter(pl.col("n") > 1))
    assert owners.height == 0, owners


def test_no_two_periods_overlap(prices) -> None:
    for (_, _, _, _), g in prices.group_by("provider", "model_match", "service_tier",
                                           "token_type"):
        spans = sorted(g.select("effective_from", "effective_to").rows())
        for (_, end), (nxt, _) in zip(spans, spans[1:], strict=False):
            assert end is not None and end <= nxt, spans


# --- loader errors name the file and the model ------------------------------------------

GOOD_PERIOD = """
  [[models.prices]]
  effective_from = 2025-01-01
  standard = { input = 1, output = 2 }
"""


def write_prices(tmp_path: Path, period: str) -> Path:
    text = 'provider = "acme"\n[[models]]\nid = "acme-large"\nmatch = ["acme-large"]\n'
    (tmp_path / "acme.toml").write_text(text + period, encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(("period", "expected"), [
    ("[[models.prices]]\neffective_from = 2025-01-01\nturbo = { input = 1 }\n",
     "unknown tier 'turbo'"),
    ("[[models.prices]]\neffective_from = 2025-01-01\nstandard = { prompt = 1 }\n",
     "unknown token type 'prompt'"),
    ("[[models.prices]]\neffective_from = 2025-01-01\nstandard = { input = -1 }\n",
     "negative"),
    ("[[models.prices]]\neffective_from = 2025-01-01\nstandard = { input = 'cheap' }\n",
     "not a number"),
    ("[[models.prices]]\nstandard = { input = 1 }\n", "effective_from must be a date"),
    # A string date among real dates used to raise TypeError while sorting the periods.
    (GOOD_PERIOD + "[[models.prices]]\neffective_from = '2025-06-01'\nstandard = { input = 1 }\n",
     "effective_from must be a date"),
    (GOOD_PERIOD + GOOD_PERIOD, "two periods start on 2025-01-01"),
])
def test_loader_errors_name_file_and_model(tmp_path, period, expected) -> None:
    with pytest.raises(ConfigError) as exc:
        load_prices(write_prices(tmp_path, period))
    message = str(exc.value)
    assert "acme.toml" in message and "acme-large" in message and expected in message


def test_match_must_be_a_list(tmp_path) -> None:
    text = 'provider = "acme"\n[[models]]\nid = "acme-large"\nmatch = "acme-large"\n'
    (tmp_path / "acme.toml").write_text(text + GOOD_PERIOD, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"acme\.toml.*acme-large.*list of model names"):
        load_prices(tmp_path)


def test_same_name_in_two_models_is_refused(tmp_path) -> None:
    text = ('provider = "acme"\n[[models]]\nid = "a"\nmatch = ["acme-large"]\n' + GOOD_PERIOD
            + '[[models]]\nid = "b"\nmatch = ["acme-large"]\n' + GOOD_PERIOD)
    (tmp_path / "acme.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"acme\.toml.*\(b\).*already used by a"):
        load_prices(tmp_path)


def test_loader_ignores_overrides_file(tmp_path) -> None:
    write_prices(tmp_path, GOOD_PERIOD)
    (tmp_path / "overrides.toml").write_text("[[override]]\n", encoding="utf-8")
    assert load_prices(tmp_path).height == 2


# --- overrides ----------------------------------------------------------------------------

def test_bundled_overrides_file_parses_empty() -> None:
    overrides = load_overrides(data_dir("pricing") / "overrides.toml")
    assert overrides.height == 0


def test_commented_override_example_parses(tmp_path) -> None:
    """The example in overrides.toml, uncommented, is a valid overrides file."""
    lines = (data_dir("pricing") / "overrides.toml").read_text(encoding="utf-8").splitlines()
    start = lines.index("# Example (commented out):")
    body = "\n".join(line.removeprefix("#").removeprefix(" ") for line in lines[start + 1:])
    (tmp_path / "overrides.toml").write_text(body, encoding="utf-8")
    rows = load_overrides(tmp_path / "overrides.toml").rows(named=True)
    assert [(r["provider"], r["match_kind"], r["discount_pct"]) for r in rows] == [
        ("anthropic", "any", Decimal("10")), ("openai", "prefix", Decimal("12.5"))]


def test_overrides_rows_and_decimals(tmp_path) -> None:
    path = tmp_path / "overrides.toml"
    path.write_text("""
[[override]]
provider = "anthropic"
discount_pct = 10
effective_from = 2026-01-01
note = "EA-2026"

[[override]]
provider = "openai"
model = "gpt-4.1"
match = "exact"
discount_pct = 12.5
effective_from = 2026-03-01
effective_to = 2027-03-01
""", encoding="utf-8")
    rows = load_overrides(path).rows(named=True)
    assert [r["discount_pct"] for r in rows] == [Decimal("10"), Decimal("12.5")]
    assert [(r["provider"], r["model_match"], r["match_kind"]) for r in rows] == [
        ("anthropic", None, "any"), ("openai", "gpt-4.1", "exact")]
    assert rows[1]["effective_to"] == date(2027, 3, 1) and rows[0]["effective_to"] is None
    assert rows[0]["note"] == "EA-2026"


@pytest.mark.parametrize(("body", "expected"), [
    ('provider = "openai"\ndiscount_pct = 120\neffective_from = 2026-01-01\n', "above 100"),
    ('provider = "openai"\ndiscount_pct = 5\n', "needs provider"),
    ('provider = "openai"\nmodel = "o3"\nmatch = "regex"\ndiscount_pct = 5\n'
     "effective_from = 2026-01-01\n", "exact or prefix"),
])
def test_override_errors_name_the_file(tmp_path, body, expected) -> None:
    path = tmp_path / "overrides.toml"
    path.write_text("[[override]]\n" + body, encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"overrides\.toml: override\[0\].*{expected}"):
        load_overrides(path)


def test_bundled_files_load_into_the_warehouse(tmp_path, prices) -> None:
    con = connect(tmp_path / "w.duckdb")
    try:
        refresh_prices(con, prices, load_overrides(data_dir("pricing") / "overrides.toml"))
        n, = con.execute("SELECT count(*) FROM prices").fetchone()
        o4o, = con.execute(
            "SELECT usd_per_mtok FROM prices WHERE model_match = 'gpt-4o-2024-05-13'"
            " AND token_type = 'output' AND service_tier = 'standard'").fetchone()
    finally:
        con.close()
    assert n == prices.height and o4o == 15
