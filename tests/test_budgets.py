"""Budgets: projections checked by hand; settled days billed, provisional days estimated."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from builders import billing, usage

from finops import api
from finops.config import BudgetSettings, parse_config
from finops.errors import ConfigError
from finops.reconcile.budgets import before_mid_month, days_in_month, evaluate, project_month_end
from finops.warehouse import connect, replace_window

S = BudgetSettings()
D = Decimal


@pytest.mark.parametrize(("as_of", "spent", "projected"), [
    # 30-day month (November): projected = spent / day × 30
    (date(2026, 11, 1), D("100"), D("3000")),       # start: 100 / 1 × 30
    (date(2026, 11, 15), D("450"), D("900")),       # middle: 450 / 15 × 30
    (date(2026, 11, 30), D("1234.56"), D("1234.56")),  # end: the projection is the spend
    # 31-day month (October): projected = spent / day × 31
    (date(2026, 10, 1), D("10"), D("310")),         # start
    (date(2026, 10, 16), D("800"), D("1550")),      # middle: 800 / 16 × 31
    (date(2026, 10, 31), D("999"), D("999")),       # end
])
def test_projection_by_hand(as_of, spent, projected):
    assert project_month_end(spent, as_of) == projected


def test_mid_month_is_day_15_of_30_and_31_day_months_and_14_of_february():
    assert (days_in_month(date(2026, 11, 3)), days_in_month(date(2026, 10, 3))) == (30, 31)
    assert before_mid_month(date(2026, 11, 15)) and not before_mid_month(date(2026, 11, 16))
    assert before_mid_month(date(2026, 10, 15)) and not before_mid_month(date(2026, 10, 16))
    assert before_mid_month(date(2026, 2, 14)) and not before_mid_month(date(2026, 2, 15))


def test_70_pct_before_mid_month_is_called_out():
    # Oct 14, 31-day month: 7,200 of 10,000 = 72 % → early; projected 7200 / 14 × 31 = 15,942.86
    s = evaluate("search", D(10000), D(7000), D(200), date(2026, 10, 14), S)
    assert (s.spent, s.pct_used, s.thresholds_reached) == (D(7200), D("72.0"), [D(50), D(70)])
    assert s.early and s.over_projection and s.flagged
    assert s.projected.quantize(D("0.01")) == D("15942.86") and s.projected_pct == D("159.4")
    assert "70 % reached on or before mid-month" in s.message
    assert "projected month end 15,942.86 (159.4 %) = spent × 31 / 14" in s.message


def test_same_spend_after_mid_month_is_on_track():
    # Oct 22: 7,200 / 22 × 31 = 10,145.45 → 101.5 %: projection flag only, no early rule
    s = evaluate("search", D(10000), D(7200), D(0), date(2026, 10, 22), S)
    assert not s.early and s.over_projection and s.projected_pct == D("101.5")
    # Oct 25: 6,000 / 25 × 31 = 7,440: 60 % used, threshold 50 reached, not flagged
    s = evaluate("search", D(10000), D(6000), D(0), date(2026, 10, 25), S)
    assert (s.thresholds_reached[-1], s.flagged, s.projected) == (D(50), False, D(7440))


def test_start_and_end_of_a_30_day_month():
    s = evaluate("t", D(3000), D(0), D(120), date(2026, 11, 1), S)  # day 1: 4 %, projected 3,600
    assert (s.pct_used, s.projected, s.projected_pct) == (D("4.0"), D(3600), D("120.0"))
    assert s.thresholds_reached == []
    assert s.flagged and not s.early
    s = evaluate("t", D(3000), D(2700), D(0), date(2026, 11, 30), S)  # day 30: 90 %, projected = spent
    assert (s.projected, s.thresholds_reached, s.flagged) == (D(2700), [D(50), D(70), D(90)], False)


def test_custom_thresholds_and_early_pct():
    cfg = parse_config({"budgets": {"thresholds": [80, 25], "early_pct": 40}})
    assert cfg.budgets.thresholds == (D(25), D(80)) and cfg.budgets.early_pct == D(40)
    s = evaluate("t", D(100), D(45), D(0), date(2026, 10, 10), cfg.budgets)
    assert s.thresholds_reached == [D(25)] and s.early
    with pytest.raises(ConfigError, match="budgets.thresholds"):
        parse_config({"budgets": {"thresholds": 50}})
    with pytest.raises(ConfigError, match="did you mean 'thresholds'"):
        parse_config({"budgets": {"threshold": [50]}})


def test_settled_days_use_billed_money_provisional_days_the_estimate(tmp_path, prices_dir):
    # today Nov 16, provisional_days 3: Nov 13..15 are provisional, Nov 1..12 settled.
    cfg = parse_config({"warehouse": {"path": str(tmp_path / "w.duckdb")},
                        "pricing": {"dir": str(prices_dir)},
                        "reconcile": {"today": date(2026, 11, 16), "provisional_days": 3},
                        "teams": {"search": {"budget_usd": 100}, "idle": {"budget_usd": 50}}})
    days = [date(2026, 11, 1) + timedelta(days=i) for i in range(15)]
    # 1M input tokens of gpt-4o a day: estimate 2.50/day; the bill says 3.00/day
    u = usage([{"day": d, "team": "search", "input_tokens": 1_000_000} for d in days])
    b = billing([{"day": d, "amount": "3.00", "billed_tokens": 1_000_000} for d in days[:12]])
    con = connect(cfg.warehouse)
    replace_window(con, "usage", "spans", date(2026, 11, 1), date(2026, 11, 16), u)
    replace_window(con, "billing", "bills", date(2026, 11, 1), date(2026, 11, 16), b)
    con.close()
    rep = api.anomalies(cfg, as_of=date(2026, 11, 15))
    by = {s.team: s for s in rep.budgets}
    s = by["search"]
    # billed 12 × 3.00 = 36.00 (settled) + estimated 3 × 2.50 = 7.50 (provisional) = 43.50
    assert (s.billed, s.estimated, s.spent) == (D(36), D("7.5"), D("43.5"))
    assert (s.settled_through, s.provisional_from) == (date(2026, 11, 12), date(2026, 11, 13))
    assert s.projected == D(87)  # 43.50 / 15 × 30
    assert s.thresholds_reached == [] and not s.flagged
    assert "billed (allocated) money through 2026-11-12" in s.message
    assert "estimate from spans for 13–15 November 2026 (provisional)" in s.message
    assert (by["idle"].spent, by["idle"].flagged) == (0, False)
