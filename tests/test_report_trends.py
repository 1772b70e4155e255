"""The report's "why, against what": month over month, unit costs, cache return, anchors, wording.

Two small months (September and October 2026) on a real DuckDB warehouse; each figure is worked
out by hand in the comments and checked to the cent (unit costs to four decimals) through the
JSON contract (finops.report.jsonout), which is what finance tools read.
"""

from __future__ import annotations

import decimal
from datetime import UTC, date, datetime
from decimal import Decimal as D

from builders import billing, usage
from hypothesis import given
from hypothesis import strategies as st

from finops.reconcile import reconcile
from finops.report.anchors import anchors, slug
from finops.report.jsonout import report_dict
from finops.report.model import build_report, previous_month
from finops.report.trends import decompose
from finops.report.words import amount, days_label, rate, signed_amount
from finops.warehouse import connect, replace_window
from finops.windows import month_window

SEP, OCT = month_window("2026-09"), month_window("2026-10")
TODAY = date(2026, 11, 23)


def load(con, window, u, b, providers=("openai",)):
    replace_window(con, "usage", "spans", window.window_start, window.window_end, u)
    replace_window(con, "billing", "bills", window.window_start, window.window_end, b, providers=list(providers))


def two_months(config, *, today=None, sep_b_day=2):
    """September: team a gpt-4o 1M input (2.50) + 100k output (1.00), 10 requests; team b
    gpt-4o-mini 1M input (0.15), 4 requests. October: team a gpt-4o 2M input (5.00) + 100k output
    billed 1.20 (a dearer rate than September's 1.00) and gpt-4o-mini 1M input (0.15), 20 + 5
    requests; team b gpt-4o-mini 2M input (0.30), 8 requests. One team per day and model, so each
    bill goes whole to its team."""
    con = connect(config.warehouse)
    d1, d2 = date(2026, 9, 1), date(2026, 9, sep_b_day)
    load(con, SEP,
         usage([{"day": d1, "team": "a", "input_tokens": 1_000_000, "output_tokens": 100_000, "requests": 10},
                {"day": d2, "team": "b", "model": "gpt-4o-mini", "input_tokens": 1_000_000, "requests": 4}]),
         billing([{"day": d1, "amount": "2.50", "billed_tokens": 1_000_000},
                  {"day": d1, "token_type": "output", "amount": "1.00", "billed_tokens": 100_000},
                  {"day": d2, "model": "gpt-4o-mini", "amount": "0.15", "billed_tokens": 1_000_000}]))
    o1, o2 = date(2026, 10, 1), date(2026, 10, 2)
    load(con, OCT,
         usage([{"day": o1, "team": "a", "input_tokens": 2_000_000, "output_tokens": 100_000, "requests": 20},
                {"day": o1, "team": "a", "model": "gpt-4o-mini", "input_tokens": 1_000_000, "requests": 5},
                {"day": o2, "team": "b", "model": "gpt-4o-mini", "input_tokens": 2_000_000, "requests": 8}]),
         billing([{"day": o1, "amount": "5.00", "billed_tokens": 2_000_000},
                  {"day": o1, "token_type": "output", "amount": "1.20", "billed_tokens": 100_000},
                  {"day": o1, "model": "gpt-4o-mini", "amount": "0.15", "billed_tokens": 1_000_000},
                  {"day": o2, "model": "gpt-4o-mini", "amount": "0.30", "billed_tokens": 2_000_000}]))
    reconcile(con, config, SEP, TODAY)
    reconcile(con, config, OCT, TODAY)
    rep = build_report(con, OCT, currency="USD", max_drift_pct=5, generated_at=datetime(2026, 11, 23, tzinfo=UTC),
                       previous=SEP, today=today or TODAY)
    con.close()
    return rep


def team(doc, name):
    return next(t for t in doc["teams"] if t["team"] == name)


def test_month_over_month_splits_the_change_into_volume_mix_and_price_exactly(config):
    doc = report_dict(two_months(config))
    a = team(doc, "a")["month_over_month"]
    # a: 3.50 → 6.35, change 2.85. Metered tokens Q0 = 1.1M (M0 = 3.50), Q1 = 3.1M (M1 = 6.35).
    # S (October's tokens at September's item rates; the new gpt-4o-mini item at its own) =
    # 2M × 2.50/1M + 100k × 1.00/100k + 0.15 = 6.15.
    # volume = 3.50 × (3.1/1.1 − 1) = 6.3636… → 6.36; mix = 6.15 − 3.50 × 3.1/1.1 = −3.7136… → −3.71;
    # price = 6.35 − 6.15 = 0.20; other 0.
    assert a == {"billed": "6.35", "previous": "3.50", "previous_to_date": None, "compared_with": "previous",
                 "change": "2.85", "change_pct": "81.43",
                 "parts": {"volume": "6.36", "mix": "-3.71", "price": "0.20", "other": "0.00"}}
    # b: 0.15 → 0.30 at the same rate on the same model: all volume.
    assert team(doc, "b")["month_over_month"]["parts"] == {"volume": "0.15", "mix": "0.00", "price": "0.00",
                                                           "other": "0.00"}
    org = doc["month_over_month"]
    assert (org["previous_month"], org["open"], org["through"]) == ("2026-09", False, None)
    assert (org["billed"], org["previous"], org["change"]) == ("6.65", "3.65", "3.00")
    assert org["parts"] == {"volume": "6.51", "mix": "-3.71", "price": "0.20", "other": "0.00"}
    assert org["teams_gone"] == []


def test_while_the_month_is_open_it_is_compared_with_the_same_days_of_the_month_before(config):
    # Run on 16 October: counted through the 15th, so September is cut at its 15th too; team b's
    # September spend was on the 20th, so its like-for-like base is 0 (all of its 0.30 is volume).
    doc = report_dict(two_months(config, today=date(2026, 10, 16), sep_b_day=20))
    org = doc["month_over_month"]
    assert (org["open"], org["through"], org["compared_with"]) == (True, "2026-10-15", "previous_to_date")
    b = team(doc, "b")["month_over_month"]
    assert (b["previous"], b["previous_to_date"], b["change"], b["change_pct"]) == ("0.15", "0.00", "0.30", None)
    assert b["parts"]["volume"] == "0.30"
    assert team(doc, "a")["month_over_month"]["previous_to_date"] == "3.50"
    assert org["previous_to_date"] == "3.50"


def test_unit_costs_are_billed_money_per_unit_of_work_with_their_trend(config):
    doc = report_dict(two_months(config))
    u = team(doc, "a")["unit_costs"]
    # October: 6.35 for 25 requests and 100k output tokens → 254.0000 per 1,000 requests,
    # 63.5000 per 1M output tokens. September: 3.50 for 10 requests, 100k → 350.0000 and 35.0000.
    assert (u["billed"], u["requests"], u["output_tokens"]) == ("6.35", 25, 100_000)
    assert (u["per_1k_requests"], u["per_1m_output_tokens"]) == ("254.0000", "63.5000")
    assert (u["previous"]["per_1k_requests"], u["previous"]["per_1m_output_tokens"]) == ("350.0000", "35.0000")
    # (254 − 350) / 350 = −27.43 %; (63.5 − 35) / 35 = +81.43 %
    assert u["change_pct"] == {"per_1k_requests": "-27.43", "per_1m_output_tokens": "81.43"}
    # trend: all of October's work was on the 1st → the first week; the others are empty
    assert [(w["days"], w["billed"], w["requests"]) for w in u["weeks"]] == [
        ("1–7", "6.35", 25), ("8–14", "0.00", 0), ("15–21", "0.00", 0), ("22–28", "0.00", 0), ("29–31", "0.00", 0)]
    assert u["weeks"][1]["per_1k_requests"] is None
    assert [(f["feature"], f["per_1k_requests"]) for f in u["by_feature"]] == [("chat", "254.0000")]
    # b: 0.30 / 8 requests → 37.5000 per 1,000; no output tokens → null
    b = team(doc, "b")["unit_costs"]
    assert (b["per_1k_requests"], b["per_1m_output_tokens"]) == ("37.5000", None)
    # the organisation: 6.65 / 33 requests = 201.5152 per 1,000
    assert doc["unit_costs"]["per_1k_requests"] == "201.5152"


def test_cache_return_saved_premium_and_net_tie_to_the_bills_cache_lines(config):
    # claude-sonnet-4: input 3.00, cache read 0.30, cache write 3.75 per M. Team c: 1M input,
    # 2M cache read, 400k cache write; the bill's lines carry the same token counts.
    con = connect(config.warehouse)
    d = date(2026, 10, 3)
    m = "claude-sonnet-4-20250514"
    load(con, OCT,
         usage([{"day": d, "team": "c", "provider": "anthropic", "model": m, "input_tokens": 1_000_000,
                 "cache_read_tokens": 2_000_000, "cache_write_tokens": 400_000}]),
         billing([{"day": d, "provider": "anthropic", "model": m, "amount": "3.00", "billed_tokens": 1_000_000},
                  {"day": d, "provider": "anthropic", "model": m, "token_type": "cache_read", "amount": "0.60",
                   "billed_tokens": 2_000_000},
                  {"day": d, "provider": "anthropic", "model": m, "token_type": "cache_write", "amount": "1.50",
                   "billed_tokens": 400_000}]), providers=("anthropic",))
    reconcile(con, config, OCT, TODAY)
    rep = build_report(con, OCT, currency="USD", max_drift_pct=5, generated_at=datetime(2026, 11, 23, tzinfo=UTC))
    con.close()
    doc = report_dict(rep)
    # hit rate = 2M / (1M + 2M + 400k) = 58.8 %; saved = 2M × (3.00 − 0.30) / 1M = 5.40;
    # write premium = 400k × (3.75 − 3.00) / 1M = 0.30; net 5.10.
    want = {"input_tokens": 1_000_000, "cache_read_tokens": 2_000_000, "cache_write_tokens": 400_000,
            "hit_rate_pct": "58.8", "saved": "5.40", "write_premium": "0.30", "net": "5.10",
            "unpriced_cache_tokens": 0}
    assert team(doc, "c")["cache"] == want
    assert doc["cache"] == want
    # the bill's side: reads billed 0.60 against 6.00 at the input price → saved 5.40; writes
    # billed 1.50 against 1.20 → premium 0.30. Span and bill agree on the tokens (100.0 %).
    assert doc["cache_check"] == [{
        "provider": "anthropic", "span_cache_read_tokens": 2_000_000, "billed_cache_read_tokens": 2_000_000,
        "span_cache_write_tokens": 400_000, "billed_cache_write_tokens": 400_000, "read_tokens_pct": "100.0",
        "span_saved": "5.40", "billed_saved": "5.40", "span_write_premium": "0.30", "billed_write_premium": "0.30",
        "span_net": "5.10", "billed_net": "5.10"}]
    # no month before loaded: month over month is null; saved pages without key groups: no per-key rows
    assert doc["month_over_month"] is None and team(doc, "c")["month_over_month"] is None
    assert doc["api_key_spend"] == []


@given(st.lists(st.tuples(st.sampled_from("abcd"), st.integers(0, 10**9), st.integers(-10**6, 10**8)),
                max_size=6),
       st.lists(st.tuples(st.sampled_from("abcd"), st.integers(0, 10**9), st.integers(-10**6, 10**8)),
                max_size=6))
def test_the_parts_add_up_to_the_change_exactly(now, before):
    def items(rows):
        out = {}
        for k, t, c in rows:
            out[k] = (t, D(c) / 10**6)
        return out
    cur, prev = items(now), items(before)
    parts = decompose(cur, prev)
    total = sum((b for _, b in cur.values()), D(0)) - sum((b for _, b in prev.values()), D(0))
    with decimal.localcontext(decimal.Context(prec=200)):  # sum without rounding
        assert sum(parts.values(), D(0)) == total


def test_team_anchors_are_stable_slugs_with_a_hash_only_where_two_collide():
    names = ["search", "Search", "Data Science/ML", "支付", "платёж", "x<script>"]
    got = anchors(names)
    assert got["search"] == "search"  # the name that is its own slug keeps it bare
    assert got["Search"].startswith("search-") and len(got["Search"]) == len("search-") + 6
    assert got["Data Science/ML"] == "data-science-ml"
    assert got["x<script>"] == "x-script"
    # two names with no ASCII letters: a hash each, different
    assert got["支付"] != got["платёж"] and len(got["支付"]) == 6
    assert len(set(got.values())) == len(names)
    # rank does not matter: the same names in another order give the same anchors
    assert anchors(reversed(names)) == got
    assert slug("Ünïcode Team") == "unicode-team"


def test_amounts_and_periods_are_said_as_a_reader_says_them():
    assert amount(D("1234.565"), "USD") == "$1,234.57"
    assert amount(D("-25"), "USD") == "-$25.00"
    assert amount(D("12"), "CHF") == "12.00 CHF"
    assert signed_amount(D("12.3"), "EUR") == "+€12.30"
    assert rate(D("0.012345"), "USD") == "$0.0123"
    assert days_label(date(2026, 10, 1), date(2026, 11, 1)) == "1–31 October 2026"
    assert days_label(date(2026, 9, 28), date(2026, 10, 5)) == "28 September – 4 October 2026"
    assert days_label(date(2026, 10, 5), date(2026, 10, 6)) == "5 October 2026"
    assert previous_month(OCT) == SEP


def test_report_url_must_be_a_web_address(tmp_path):
    import pytest

    from finops.config import parse_config
    from finops.errors import ConfigError
    base = {"warehouse": {"path": str(tmp_path / "w.duckdb")}}
    ok = parse_config({**base, "email": {"report_url": "https://finops.example.com/{month}/r.html"}})
    assert ok.email.report_url == "https://finops.example.com/{month}/r.html"
    with pytest.raises(ConfigError, match=r"email\.report_url must be an http\(s\) URL, not 'reports/x.html'"):
        parse_config({**base, "email": {"report_url": "reports/x.html"}})
