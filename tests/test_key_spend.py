"""Spend per API key and workspace: the warehouse load, the split of billed cells over keys
(hand-computed), the JSON contract, and the Σ keys = cell property."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from decimal import Decimal as D

import polars as pl
import pytest
from builders import billing, usage
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from finops import api
from finops.config import parse_config
from finops.errors import ConfigError
from finops.reconcile import reconcile
from finops.report.html import render_html
from finops.report.jsonout import render_json
from finops.report.keys import key_lines
from finops.report.model import build_report
from finops.schemas import API_KEYS_SCHEMA, KEY_TOKENS_SCHEMA
from finops.warehouse import connect, replace_window
from finops.warehouse.sql import run_query
from finops.windows import month_window

OCT = month_window("2026-10")
D1, D2 = date(2026, 10, 1), date(2026, 10, 2)
S = "sonnet"


def kt(rows: list[dict], source: str = "bills") -> pl.DataFrame:
    base = {"day": D1, "provider": "openai", "account": "proj_a", "model": "gpt-4o",
            "service_tier": "standard", "token_type": "input", "source": source}
    return pl.DataFrame([{**base, **r} for r in rows], schema=KEY_TOKENS_SCHEMA)


def names(rows: list[tuple[str, str, str | None]]) -> pl.DataFrame:
    return pl.DataFrame([{"provider": p, "api_key": k, "name": n, "hint": "sk-abc...def", "account": None,
                          "source": "bills"} for p, k, n in rows], schema=API_KEYS_SCHEMA)


BILLS = billing([
    {"account": "proj_a", "amount": "10.00"},                          # split 3:2:1 over key_1..3
    {"account": "proj_a", "token_type": "output", "amount": "0.005003"},  # 1:1, the odd micro-dollar to key_1
    {"day": D2, "account": "proj_a", "model": "", "token_type": "other",
     "line_item": "web search tool calls", "amount": "0.25"},          # not tokens: no key
    {"account": "proj_b", "amount": "1.00"},                           # usage names no key: left out
    {"provider": "anthropic", "account": "wrkspc_x", "model": S, "amount": "3.00"},
    {"provider": "anthropic", "account": "wrkspc_x", "model": S, "token_type": "cache_write",
     "amount": "0.40"},
    {"provider": "anthropic", "account": "wrkspc_x", "model": S, "token_type": "cache_write_1h",
     "line_item": "1h writes", "amount": "0.60"},
])
KEY_TOKENS = kt([
    {"api_key": "key_1", "billed_tokens": 300_000}, {"api_key": "key_2", "billed_tokens": 200_000},
    {"api_key": "key_3", "billed_tokens": 100_000},
    {"token_type": "output", "api_key": "key_1", "billed_tokens": 1000},
    {"token_type": "output", "api_key": "key_2", "billed_tokens": 1000},
    {"provider": "anthropic", "account": "wrkspc_x", "model": S, "api_key": "apikey_a", "billed_tokens": 200},
    {"provider": "anthropic", "account": "wrkspc_x", "model": S, "api_key": "", "billed_tokens": 100},
    {"provider": "anthropic", "account": "wrkspc_x", "model": S, "token_type": "cache_write",
     "api_key": "apikey_a", "billed_tokens": 100},
    {"provider": "anthropic", "account": "wrkspc_x", "model": S, "token_type": "cache_write_1h",
     "api_key": "apikey_a", "billed_tokens": 100},
])


def load(con, bills=BILLS, key_tokens=KEY_TOKENS, api_keys=None) -> None:
    replace_window(con, "billing", "bills", OCT.window_start, OCT.window_end, bills,
                   providers=["openai", "anthropic"], key_tokens=key_tokens, api_keys=api_keys)


def test_billed_cells_split_over_keys_by_tokens_hand_computed(config):
    con = connect(config.warehouse)
    replace_window(con, "usage", "spans", OCT.window_start, OCT.window_end,
                   usage([{"account": "proj_a", "input_tokens": 1000}]))
    load(con, api_keys=names([("openai", "key_1", "ci-bot"), ("openai", "key_2", "notebook")]))
    load(con, api_keys=names([("openai", "key_1", "ci-bot"), ("openai", "key_2", "notebook")]))  # idempotent
    assert con.execute("SELECT count(*), sum(billed_tokens) FROM billing_key_tokens").fetchone() == \
        (9, 602_500)
    reconcile(con, config, OCT, date(2026, 11, 23))
    rep = build_report(con, OCT, currency="USD", max_drift_pct=5, generated_at=datetime(2026, 11, 23, tzinfo=UTC))
    # proj_a, exact: key_1 5.000000 + 0.002502 = 5.002502; key_2 3.333333 + 0.002501 = 3.335834;
    # key_3 1.666666 + the input cell's leftover micro-dollar = 1.666667; web search 0.25 whole.
    # Account 10.255003 → 10.26; cent floors 500 + 333 + 166 + 25 = 1024, the 2 left to the largest
    # remainders (key_3 .6667, key_2 .5834): 5.00, 3.34, 1.67, 0.25. Shares of 10.26.
    # wrkspc_x: input 3.00 over apikey_a 200 / no key 100 → 2.00 / 1.00; cache writes 0.40 + 0.60
    # (1-hour writes are cache writes) all apikey_a's → apikey_a 3.00 (400 tokens), no key 1.00.
    doc = json.loads(render_json(rep))
    got = [(r["provider"], r["account"], r["kind"], r["api_key"], r["name"], r["billed"], r["share_pct"],
            r["tokens"], r["keys"]) for r in doc["api_key_spend"]]
    assert got == [
        ("openai", "proj_a", "key", "key_1", "ci-bot", "5.00", "48.73", 301_000, 1),
        ("openai", "proj_a", "key", "key_2", "notebook", "3.34", "32.55", 201_000, 1),
        ("openai", "proj_a", "key", "key_3", None, "1.67", "16.28", 100_000, 1),
        ("openai", "proj_a", "not_tokens", None, None, "0.25", "2.44", 0, 0),
        ("anthropic", "wrkspc_x", "key", "apikey_a", None, "3.00", "75.00", 400, 1),
        ("anthropic", "wrkspc_x", "no_key", "", None, "1.00", "25.00", 100, 0),
    ]
    exact = {(r["account"], r["api_key"]): r["billed_exact"]
             for r in run_query(con, "report/key_spend", {"window_start": OCT.window_start,
                                                          "window_end": OCT.window_end})}
    assert exact[("proj_a", "key_1")] == D("5.002502") and exact[("proj_a", "key_2")] == D("3.335834")
    assert exact[("proj_a", "key_3")] == D("1.666667") and exact[("proj_b", None)] == D("1.00")
    assert json.loads(render_json(rep, team="search"))["api_key_spend"] == []
    html = render_html(rep)
    section = html[html.index("Spend per API key and workspace"):]
    section = section[:section.index("</table>")]
    assert "<code>key_1</code></td>\n<td>ci-bot</td><td class=\"n\">5.00</td><td class=\"n\">48.73 %</td>" in section
    assert "usage the provider attributes to no key" in section and "charges that are not tokens" in section
    assert "proj_b" not in section and "sk-abc" not in html  # no key usage; never a hint
    con.close()


def test_top_keys_and_the_rest_summed_as_others():
    rows = [{"provider": "openai", "account": "p", "api_key": f"k{i}", "reason": None, "name": None,
             "billed_exact": D(i), "billed": D(i), "tokens": i * 10} for i in range(1, 6)]
    rows.append({"provider": "openai", "account": "p", "api_key": None, "reason": "not_tokens", "name": None,
                 "billed_exact": D(5), "billed": D(5), "tokens": 0})
    lines = key_lines(rows, shown=2)
    assert [(x.kind, x.api_key, x.billed, x.tokens, x.keys) for x in lines] == [
        ("key", "k5", D(5), 50, 1), ("key", "k4", D(4), 40, 1), ("others", None, D(6), 60, 3),
        ("not_tokens", None, D(5), 0, 0)]
    assert sum(x.billed for x in lines) == D(20)


def test_key_tokens_are_replaced_with_their_window_and_names_updated(tmp_path):
    con = connect(tmp_path / "w.duckdb")
    load(con, api_keys=names([("openai", "key_1", "old name")]))
    load(con, key_tokens=kt([{"api_key": "key_9", "billed_tokens": 5}]),
         api_keys=names([("openai", "key_1", "ci-bot")]))
    assert con.execute("SELECT api_key, billed_tokens FROM billing_key_tokens").fetchall() == [("key_9", 5)]
    assert con.execute("SELECT api_key, name, hint FROM api_keys").fetchall() == [("key_1", "ci-bot", "sk-abc...def")]
    load(con, key_tokens=None)  # a source that knows no keys leaves them alone
    assert con.execute("SELECT count(*) FROM billing_key_tokens").fetchone() == (1,)
    con.close()


cells = st.lists(st.tuples(st.integers(1, 10**9),                                # billed micro-dollars
                           st.lists(st.integers(0, 10**12), min_size=1, max_size=6)),  # keys' tokens
                 min_size=1, max_size=6)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cells)
def test_sum_over_keys_is_the_billed_cell_and_to_the_cent(tmp_path_factory, drawn):
    con = connect(tmp_path_factory.mktemp("k") / "w.duckdb")
    bills, toks = [], []
    for i, (micro, tokens) in enumerate(drawn):  # one account per cell: its rows are the cell's keys
        bills.append({"account": f"a{i}", "amount": D(micro) / 10**6})
        toks += [{"account": f"a{i}", "api_key": f"k{j}", "billed_tokens": t} for j, t in enumerate(tokens)]
    load(con, billing(bills), kt(toks))
    rows = run_query(con, "report/key_spend", {"window_start": OCT.window_start, "window_end": OCT.window_end})
    for i, (micro, tokens) in enumerate(drawn):
        mine = [r for r in rows if r["account"] == f"a{i}"]
        assert sum(r["billed_exact"] for r in mine) == D(micro) / 10**6
        assert sum(r["billed"] for r in mine) == (D(micro) / 10**6).quantize(D("0.01"), "ROUND_HALF_UP")
        if sum(tokens):  # each key within a micro-dollar of its exact token share
            for r in mine:
                share = D(micro) * tokens[int(r["api_key"][1:])] / sum(tokens) / 10**6
                assert abs(r["billed_exact"] - share) < D("0.000001")
    con.close()


def test_a_key_rule_is_more_specific_than_an_account_rule_and_never_beats_spans(tmp_path, prices_dir):
    config = parse_config({
        "warehouse": {"path": str(tmp_path / "w.duckdb")}, "pricing": {"dir": str(prices_dir)},
        "teams": {"ops": {"accounts": [{"provider": "openai", "account": "proj_ops"}]},
                  "ml": {"accounts": [{"provider": "openai", "api_key": "key_ml"}]}},
    })
    assert [(r.provider, r.api_key, r.team) for r in config.key_rules] == [("openai", "key_ml", "ml")]
    con = connect(config.warehouse)
    replace_window(con, "usage", "spans", OCT.window_start, OCT.window_end,
                   usage([{"account": "proj_s", "input_tokens": 1000}]))
    load(con, billing([
        {"account": "proj_ops", "amount": "9.00", "billed_tokens": 300},  # key_ml 2 : other 1
        {"account": "proj_ops", "token_type": "output", "amount": "0.50", "billed_tokens": 10},  # the account rule
        {"account": "proj_x", "amount": "4.00"},                            # key_ml 1 : key_z 3, no account rule
        {"account": "proj_s", "amount": "2.00"},                            # spans name proj_s: spans win
    ]), kt([
        {"account": "proj_ops", "api_key": "key_ml", "billed_tokens": 200},
        {"account": "proj_ops", "api_key": "key_other", "billed_tokens": 100},
        {"account": "proj_ops", "token_type": "output", "api_key": "key_other", "billed_tokens": 10},
        {"account": "proj_x", "api_key": "key_ml", "billed_tokens": 100},
        {"account": "proj_x", "api_key": "key_z", "billed_tokens": 300},
        {"account": "proj_s", "api_key": "key_ml", "billed_tokens": 500},
    ]))
    reconcile(con, config, OCT, date(2026, 11, 23))
    rep = build_report(con, OCT, currency="USD", max_drift_pct=5, generated_at=datetime(2026, 11, 23, tzinfo=UTC))
    assert {t.team: t.billed for t in rep.teams if t.billed} == {
        "ml": D("7.00"), "ops": D("3.50"), "unattributed": D("3.00"), "search": D("2.00")}
    assert dict(con.execute("SELECT account || '/' || token_type, matched_by FROM recon_bill_match").fetchall()) == {
        "proj_ops/input": "key_rule", "proj_ops/output": "rule", "proj_x/input": "key_rule", "proj_s/input": "account"}
    assert rep.coverage["key_rule"] == D("7.00") and rep.coverage["rule"] == D("3.50")
    assert [(u["reason"], u["account"], u["amount"], u["rule"]) for u in rep.unattributed_sources] == [
        ("no_spans", "proj_x", D("3.00"), '[teams.<team>] accounts = [{provider = "openai", account = "proj_x"}]')]
    assert rep.unattributed_parts["no_spans"] == D("3.00")
    assert "API key rule" in render_html(rep)
    con.close()
    focus = api.export(config, OCT, "focus", focus_version="1.3").frame.filter(pl.col("SubAccountId") == "proj_ops")
    got = {(json.loads(r["Tags"])["finops/team"], r["x_TokenType"]):
           (r["BilledCost"], r["ConsumedQuantity"], r["AllocatedMethodId"]) for r in focus.iter_rows(named=True)}
    assert got == {("ml", "input"): (D("6.00"), D(200), "finops-api-key-rule"),
                   ("ops", "input"): (D("3.00"), D(100), "finops-account-rule"),
                   ("ops", "output"): (D("0.50"), D(10), "finops-account-rule")}


@pytest.mark.parametrize("acc, message", [
    ({"provider": "openai", "api_key": "key_a", "account": "p"}, "an account or an api_key, not both"),
    ({"provider": "openai", "api_key": "sk-proj-abc"}, "the key's id"),
    ({"provider": "openai", "api_key": ""}, "needs provider and api_key"),
    ({"provider": "openai", "api_key": "key_a", "nmae": "x"}, "unknown key teams.b.accounts[0].'nmae'"),
])
def test_bad_key_rules_are_refused(acc, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_config({"teams": {"b": {"accounts": [acc]}}})


def test_a_key_listed_by_two_teams_is_refused():
    rule = {"provider": "openai", "api_key": "key_a"}
    with pytest.raises(ConfigError, match="'key_a' is already listed by teams.a"):
        parse_config({"teams": {"a": {"accounts": [rule]}, "b": {"accounts": [rule]}}})
