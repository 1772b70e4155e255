"""Reconciliation and allocation (sql/reconcile) on hand-computed months."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import polars as pl
import pytest
from builders import billing, usage

from finops.reconcile import reconcile
from finops.report.model import build_report
from finops.warehouse import connect, replace_window
from finops.windows import month_window

OCT = month_window("2026-10")
TODAY = date(2026, 11, 23)


def load(config, u, b, bill_providers=None):
    con = connect(config.warehouse)
    replace_window(con, "usage", "spans", OCT.window_start, OCT.window_end, u)
    replace_window(con, "billing", "bills", OCT.window_start, OCT.window_end, b,
                   providers=bill_providers)
    reconcile(con, config, OCT, TODAY)
    return con


def report_of(con, config):
    from datetime import UTC, datetime
    return build_report(con, OCT, currency="USD", max_drift_pct=5,
                        generated_at=datetime(2026, 11, 23, tzinfo=UTC))


def test_drift_explained_by_volume_and_rate(config):
    # spans: 1.5M input, 110k output of gpt-4o at $2.50 / $10 → E = 3.75 + 1.10 = 4.85
    # bill: 1.45M input billed 3.80 (a rate difference), output 1.10 → B = 4.90
    con = load(config,
               usage([{"team": "a", "input_tokens": 1_000_000, "output_tokens": 100_000},
                      {"team": "b", "input_tokens": 500_000, "output_tokens": 10_000}]),
               billing([{"token_type": "input", "amount": "3.80", "billed_tokens": 1_450_000},
                        {"token_type": "output", "amount": "1.10", "billed_tokens": 110_000}]))
    rep = report_of(con, config)
    assert rep.billed_total == Decimal("4.90")
    assert rep.estimated_total == Decimal("4.85")
    # volume = (1.5M − 1.45M) × 2.5e-6 = 0.125; rate = 1.45M × 2.5e-6 − 3.80 = −0.175
    assert rep.explanation["volume"] == Decimal("0.125")
    assert rep.explanation["rate"] == Decimal("-0.175")
    assert sum(rep.explanation.values()) == Decimal("4.85") - Decimal("4.90")
    assert rep.drift_pct == Decimal("-1.02")
    # allocation by estimated cost share per line: input 3.80 split 2.5 : 1.25 → 2.533333 / 1.266667
    teams = {t.team: t.billed for t in rep.teams}
    assert teams == {"a": Decimal("3.53"), "b": Decimal("1.37")}
    assert sum(teams.values()) == rep.billed_total
    con.close()


def test_unpriced_model_is_reported_with_tokens_never_costed_zero(config):
    con = load(config,
               usage([{"team": "a", "model": "gpt-9-preview", "input_tokens": 12_345, "output_tokens": 55},
                      {"team": "b", "model": "gpt-9-preview", "input_tokens": 12_345}]),
               billing([{"model": "gpt-9-preview", "token_type": "input", "amount": "0.50"},
                        {"model": "gpt-9-preview", "token_type": "output", "amount": "0.01"}]))
    rep = report_of(con, config)
    assert [(u["model"], u["token_type"], u["tokens"]) for u in rep.unpriced] == [
        ("gpt-9-preview", "input", 24_690), ("gpt-9-preview", "output", 55)]
    assert rep.explanation["unpriced"] == Decimal("-0.51")
    # billed money still reaches the teams, by token share (no cost to share by)
    assert {t.team: t.billed for t in rep.teams} == {"a": Decimal("0.26"), "b": Decimal("0.25")}
    line = con.execute("SELECT estimated, usd_per_mtok FROM recon_lines WHERE token_type = 'input'").fetchone()
    assert line == (None, None)  # NULL, not 0
    con.close()


def test_billed_cells_without_spans_follow_rules_or_go_unattributed(config):
    con = load(config, usage([{"team": "a", "input_tokens": 1_000_000}]),
               billing([{"amount": "2.50", "billed_tokens": 1_000_000},
                        {"account": "proj_ops", "amount": "7.777777"},
                        {"account": "proj_x", "amount": "1.000001"}]))
    rep = report_of(con, config)
    teams = {t.team: t.billed for t in rep.teams}
    assert teams == {"ops": Decimal("7.78"), "a": Decimal("2.50"), "unattributed": Decimal("1.00")}
    assert rep.billed_total == Decimal("11.28")  # 11.277778 rounded once
    assert rep.unattributed == Decimal("1.00")
    assert rep.explanation["unmatched"] == Decimal("-8.777778")
    assert rep.coverage == {"rule": Decimal("7.777777"), "cost": Decimal("2.500000"),
                            "unattributed": Decimal("1.000001")}
    con.close()


def test_spans_without_bill_are_unmatched_estimates(config):
    con = load(config, usage([{"team": "a", "output_tokens": 1_000_000}]), billing([]),
               bill_providers=["openai"])
    rep = report_of(con, config)
    assert rep.billed_total == 0
    assert rep.explanation["unmatched"] == Decimal("10")
    assert rep.drift_pct is None and not rep.gate_passed
    con.close()


def test_cache_write_1h_premium_is_named(config):
    # Anthropic: spans know 1M cache writes; the bill splits them 800k 5m + 200k 1h.
    u = usage([{"provider": "anthropic", "model": "claude-sonnet-4-20250514", "cache_write_tokens": 1_000_000}])
    b = billing([
        {"provider": "anthropic", "model": "claude-sonnet-4-20250514", "token_type": "cache_write",
         "amount": "3.00", "billed_tokens": 800_000},
        {"provider": "anthropic", "model": "claude-sonnet-4-20250514", "token_type": "cache_write_1h",
         "amount": "1.20", "billed_tokens": 200_000}])
    con = load(config, u, b)
    rep = report_of(con, config)
    # E = 1M × 3.75e-6 = 3.75; B = 4.20; volume 0; the 1-hour rows are a premium the bill names:
    # premium = 200k × 3.75e-6 − 1.20 = −0.45; rate = 1M × 3.75e-6 − 4.20 − premium = 0
    assert rep.explanation["volume"] == 0
    assert rep.explanation["premium"] == Decimal("-0.45")
    assert rep.explanation["rate"] == 0
    assert rep.drift_summary == ("-10.7 %: -10.7 pt 1-hour cache writes billed above the table rate "
                                 "(anthropic default, claude-sonnet-4-20250514)")
    assert rep.teams[0].billed == Decimal("4.20")
    con.close()


def test_batch_tier_is_its_own_cell_and_priced_at_batch_rates(config):
    u = usage([{"team": "a", "service_tier": "batch", "input_tokens": 2_000_000},
               {"team": "b", "input_tokens": 1_000_000}])
    b = billing([{"service_tier": "batch", "amount": "2.50", "billed_tokens": 2_000_000},
                 {"amount": "2.50", "billed_tokens": 1_000_000}])
    con = load(config, u, b)
    rep = report_of(con, config)
    assert rep.estimated_total == Decimal("5.00")  # 2M × 1.25 + 1M × 2.50
    assert rep.drift_pct == Decimal("0.00")
    assert {t.team: t.billed for t in rep.teams} == {"a": Decimal("2.50"), "b": Decimal("2.50")}
    con.close()


def test_override_discount_changes_estimate_not_billed(tmp_path, config):
    from dataclasses import replace
    ov = tmp_path / "overrides.toml"
    ov.write_text('[[override]]\nprovider = "openai"\nmodel = "gpt-4o"\nmatch = "prefix"\n'
                  'discount_pct = 20\neffective_from = 2026-10-15\n')
    cfg = replace(config, overrides=ov)
    u = usage([{"day": date(2026, 10, 1), "input_tokens": 1_000_000},
               {"day": date(2026, 10, 20), "input_tokens": 1_000_000}])
    b = billing([{"day": date(2026, 10, 1), "amount": "2.50", "billed_tokens": 1_000_000},
                 {"day": date(2026, 10, 20), "amount": "2.00", "billed_tokens": 1_000_000}])
    con = load(cfg, u, b)
    rep = report_of(con, cfg)
    assert rep.estimated_total == Decimal("4.50")
    assert rep.explanation["rate"] == 0
    list_cost = con.execute("SELECT sum(list_cost) FROM recon_alloc").fetchone()[0]
    assert list_cost == Decimal("5")
    con.close()


def test_mixed_currency_is_a_data_error(config):
    from finops.errors import DataError
    con = connect(config.warehouse)
    replace_window(con, "billing", "bills", OCT.window_start, OCT.window_end,
                   billing([{"amount": "1", "currency": "EUR"}]))
    with pytest.raises(DataError, match="bills in EUR"):
        reconcile(con, config, OCT, TODAY)
    con.close()


def test_provisional_days_are_marked(config):
    from dataclasses import replace
    cfg = replace(config, today=date(2026, 10, 20))
    con = load(cfg, usage([{"day": date(2026, 10, d), "input_tokens": 1000} for d in (10, 17, 18, 19)]),
               billing([{"day": date(2026, 10, d), "amount": "0.01"} for d in (10, 17, 18, 19)]))
    reconcile(con, cfg, OCT, date(2026, 10, 20))
    rep = report_of(con, cfg)
    assert rep.provisional_days == [date(2026, 10, 17), date(2026, 10, 18), date(2026, 10, 19)]
    con.close()


def test_pricing_show_applies_the_discount_reconciliation_charges(tmp_path, config):
    # The case: a model override, then a provider-wide one later in the file. The
    # most specific wins in both places; the file order decides nothing.
    from dataclasses import replace

    from finops import api
    ov = tmp_path / "overrides.toml"
    ov.write_text('[[override]]\nprovider = "openai"\nmodel = "gpt-4o"\nmatch = "exact"\n'
                  'discount_pct = 12.5\neffective_from = 2026-01-01\n\n'
                  '[[override]]\nprovider = "openai"\ndiscount_pct = 5\neffective_from = 2026-01-01\n')
    cfg = replace(config, overrides=ov)
    shown = {r["model_match"]: r["discount_pct"] for r in
             api.pricing_table(cfg, date(2026, 10, 1)).filter(pl.col("provider") == "openai").iter_rows(named=True)}
    assert shown["gpt-4o"] == Decimal("12.5")
    assert shown["gpt-4o-mini"] == Decimal("5")  # only the provider-wide override covers it
    u = usage([{"input_tokens": 1_000_000}, {"model": "gpt-4o-mini", "input_tokens": 1_000_000}])
    con = load(cfg, u, billing([{"amount": "2.1875", "billed_tokens": 1_000_000}]))
    reconcile(con, cfg, OCT, TODAY)
    charged = dict(con.execute("SELECT model, usd_per_mtok FROM recon_lines WHERE token_type = 'input'").fetchall())
    con.close()
    assert charged["gpt-4o"] == Decimal("2.5") * (100 - shown["gpt-4o"]) / 100 == Decimal("2.1875")
    assert charged["gpt-4o-mini"] == Decimal("0.15") * (100 - shown["gpt-4o-mini"]) / 100


def test_openai_cache_writes_are_priced_at_input_unless_the_model_prices_them(config, tmp_path):
    # OpenAI bills a cache write as input; a span says how many of its input tokens were
    # cache writes (gen_ai.usage.cache_write.input_tokens, inside input_tokens).
    u = usage([{"team": "a", "input_tokens": 600_000, "cache_write_tokens": 400_000},
               {"team": "a", "model": "gpt-4o-mini", "cache_write_tokens": 1_000_000}])
    b = billing([{"token_type": "input", "amount": "2.50", "billed_tokens": 1_000_000},
                 {"model": "gpt-4o-mini", "token_type": "input", "amount": "0.15"}])
    con = load(config, u, b)
    rep = report_of(con, config)
    assert rep.unpriced == []  # not left unpriced: 400k × $2.50 + 1M × $0.15
    assert rep.estimated_total == Decimal("2.65")
    prices = dict(con.execute("SELECT model, usd_per_mtok FROM recon_lines "
                              "WHERE token_type = 'cache_write'").fetchall())
    assert prices == {"gpt-4o": Decimal("2.5"), "gpt-4o-mini": Decimal("0.15")}
    con.close()
    # a model whose price table gives cache writes a price of their own gets that price
    from builders import PRICES_TOML, write_prices

    from finops.config import parse_config
    priced = PRICES_TOML.replace("standard = { input = 0.15, cache_read = 0.075, output = 0.6 }",
                                 "standard = { input = 0.15, cache_read = 0.075, cache_write = 0.3, output = 0.6 }")
    cfg = parse_config({"warehouse": {"path": str(tmp_path / "w2.duckdb")},
                        "pricing": {"dir": str(write_prices(tmp_path / "p2", openai=priced))},
                        "reconcile": {"today": TODAY}})
    con = load(cfg, u, b)
    assert report_of(con, cfg).estimated_total == Decimal("2.80")  # 1.00 + 1M × $0.30
    con.close()
