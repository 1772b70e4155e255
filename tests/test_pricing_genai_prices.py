"""Cross-check the bundled price files against the installed genai-prices package.

For every exact model name in pricing/*.toml that genai-prices also knows, on each of our
period starts and on 2026-10-15, every token type priced on either side must agree
(standard tier), unless the difference is listed in DELIBERATE_DIFFERENCES with the reason.
Batch / priority / flex are compared on 2026-10-15 where genai-prices has a variant for
that tier (its tier rates start 2026-10-12/14; it does not model their history).

genai-prices' ``Usage.input_tokens`` is inclusive of cache reads and writes (it subtracts
them and re-prices them), so one cache token type is priced with ``input_tokens`` equal to
that count. Counts stay below 200k input tokens so genai-prices' long-context tiers (a
whole-request cliff at 200k, which our per-token table leaves out) never apply. Nothing here
touches the network: genai-prices' data is bundled in the wheel and sockets are blocked.

Only the direct APIs (openai, anthropic) are compared: the cloud price files
(aws_bedrock, azure_openai, gcp_vertex_ai) name models by the ids spans and bills reduce to
(finops/cloud_models.py), which genai-prices does not use, and carry cloud-specific rates
(regional premiums, Vertex AI's own Gemini rates) that its direct-API entries do not.
"""

from __future__ import annotations

import socket
from datetime import UTC, date, datetime
from decimal import Decimal

import polars as pl
import pytest
from genai_prices import Usage, calc_price

from finops.warehouse.prices import load_prices

CHECK_DAY = date(2026, 10, 15)
TOKENS = 100_000  # below the 200k long-context threshold
USAGE = {
    "input": Usage(input_tokens=TOKENS),
    "cache_read": Usage(input_tokens=TOKENS, cache_read_tokens=TOKENS),
    "cache_write": Usage(input_tokens=TOKENS, cache_write_tokens=TOKENS),
    "cache_write_1h": Usage(input_tokens=TOKENS, cache_write_tokens=TOKENS,
                            cache_write_1h_tokens=TOKENS),
    "output": Usage(output_tokens=TOKENS),
}
GENAI_KEY = {"input": "input_mtok", "cache_read": "cache_read_mtok",
             "cache_write": "cache_write_mtok", "cache_write_1h": "cache_write_1h_mtok",
             "output": "output_mtok"}
TIER_CONTEXT = {"standard": None, "batch": {"processing": "batch"},
                "priority": {"service_tier": "priority"}, "flex": {"service_tier": "flex"}}

_GPT4O_ALIAS = (
    "The alias gpt-4o served gpt-4o-2024-05-13 ($5/$15, no cached-input price) until "
    "OpenAI re-pointed it to gpt-4o-2024-08-06 on 2024-10-02; genai-prices prices the alias "
    "at today's $2.50/$1.25/$10 for all dates.")
_O3_LAUNCH_CACHE = (
    "o3 launched at $10 in / $2.50 cached / $40 out; genai-prices 0.2.3 carries the post-cut "
    "(2025-06-10) $0.50 cached rate back into the launch period. $2.50 is a quarter of input, "
    "the ratio of o4-mini and of o3 after the cut.")

# (model name, day, tier, token type) -> why our price differs from genai-prices'.
DELIBERATE_DIFFERENCES: dict[tuple[str, date, str, str], str] = {
    ("gpt-4o", date(2024, 5, 13), "standard", "input"): _GPT4O_ALIAS,
    ("gpt-4o", date(2024, 5, 13), "standard", "cache_read"): _GPT4O_ALIAS,
    ("gpt-4o", date(2024, 5, 13), "standard", "output"): _GPT4O_ALIAS,
    ("o3", date(2025, 4, 16), "standard", "cache_read"): _O3_LAUNCH_CACHE,
    ("o3-2025-04-16", date(2025, 4, 16), "standard", "cache_read"): _O3_LAUNCH_CACHE,
}


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the genai-prices cross-check must not use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


COMPARED_PROVIDERS = ("openai", "anthropic")


def ours(prices: pl.DataFrame, provider: str, name: str, day: date, tier: str) -> dict[str, Decimal]:
    """Our prices (token type -> USD/MTok) for ``provider``'s exact model name on ``day``."""
    rows = prices.filter(
        (pl.col("provider") == provider)
        & (pl.col("match_kind") == "exact") & (pl.col("model_match") == name)
        & (pl.col("service_tier") == tier) & (pl.col("effective_from") <= day)
        & (pl.col("effective_to").is_null() | (pl.col("effective_to") > day)))
    return dict(zip(rows["token_type"], rows["usd_per_mtok"], strict=True))


def theirs(provider: str, name: str, day: date, tier: str) -> dict[str, Decimal] | None:
    """genai-prices' prices on ``day`` (None: model unknown or no variant for ``tier``)."""
    when = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
    context = TIER_CONTEXT[tier]
    try:
        probe = calc_price(USAGE["input"], model_ref=name, provider_id=provider,
                           genai_request_timestamp=when, price_context=context)
    except LookupError:
        return None
    if context is not None:
        variants = getattr(probe.model, "price_variants", None) or []
        if not any(v.when == context and (v.constraint is None or v.constraint.start_date <= day)
                   for v in variants):
            return None
    out = {}
    for token_type, usage in USAGE.items():
        if getattr(probe.model_price, GENAI_KEY[token_type]) is None:
            continue  # genai-prices has no price for this token type
        p = calc_price(usage, model_ref=name, provider_id=provider,
                       genai_request_timestamp=when, price_context=context)
        out[token_type] = (p.input_price + p.output_price) * 1_000_000 / TOKENS
    return out


def cross_check() -> tuple[dict, int, set[str]]:
    """Compare everything comparable: (differences, comparisons made, names unknown there)."""
    prices = load_prices()
    differences: dict[tuple[str, date, str, str], tuple[Decimal | None, Decimal | None]] = {}
    compared, unknown = 0, set()
    exact = prices.filter((pl.col("match_kind") == "exact")
                          & pl.col("provider").is_in(COMPARED_PROVIDERS))
    for (provider, name), g in exact.group_by("provider", "model_match"):
        checks = [(d, "standard") for d in sorted({*g["effective_from"], CHECK_DAY})]
        checks += [(CHECK_DAY, tier) for tier in ("batch", "priority", "flex")]
        for day, tier in checks:
            there = theirs(provider, name, day, tier)
            if there is None:
                if tier == "standard":
                    unknown.add(name)
                continue
            here = ours(prices, provider, name, day, tier)
            for token_type in sorted(here.keys() | there.keys()):
                compared += 1
                a, b = here.get(token_type), there.get(token_type)
                if a is None or b is None or a != b:
                    differences[(name, day, tier, token_type)] = (a, b)
    return differences, compared, unknown


@pytest.fixture(scope="module")
def result() -> tuple[dict, int, set[str]]:
    return cross_check()


def test_every_difference_is_deliberate(result) -> None:
    differences, _, _ = result
    undocumented = {k: v for k, v in differences.items() if k not in DELIBERATE_DIFFERENCES}
    assert not undocumented, (
        "prices differ from genai-prices (ours, theirs); fix the file or document why:\n"
        + "\n".join(f"  {k}: {v}" for k, v in sorted(undocumented.items(), key=str)))


def test_every_deliberate_difference_still_differs(result) -> None:
    differences, _, _ = result
    stale = [k for k in DELIBERATE_DIFFERENCES if k not in differences]
    assert not stale, f"listed as deliberate but no longer different: {stale}"


def test_enough_was_compared(result) -> None:
    _, compared, unknown = result
    # Names genai-prices lacks are skipped (and counted here); the families below are in
    # genai-prices 0.2.3, so missing them means the lookup itself broke.
    print(f"compared {compared} (model, day, tier, token type); skipped {len(unknown)} "
          f"names unknown to genai-prices: {sorted(unknown)}")
    assert not unknown & {"gpt-4o", "gpt-4.1-nano", "o3", "claude-sonnet-4-5", "claude-opus-4-6"}
    assert compared >= 25, compared


def test_the_check_sees_a_real_difference(monkeypatch) -> None:
    """A wrong price in the table is caught (the check is not vacuous)."""
    real = load_prices()
    wrong = real.with_columns(
        usd_per_mtok=pl.when((pl.col("model_match") == "claude-haiku-4-5")
                             & (pl.col("token_type") == "output"))
        .then(pl.lit(Decimal("6"), dtype=pl.Decimal(18, 6))).otherwise(pl.col("usd_per_mtok")))
    monkeypatch.setattr(f"{__name__}.load_prices", lambda: wrong)
    differences, _, _ = cross_check()
    assert differences[("claude-haiku-4-5", CHECK_DAY, "standard", "output")] == (
        Decimal("6"), Decimal("5"))
