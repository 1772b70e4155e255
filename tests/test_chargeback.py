"""Chargeback on the spans people have: the matching hierarchy, credits and drift named to its causes.

Each month here is small enough to split by hand; the splits are written out in the comments and
the assertions are to the cent (or to the micro-dollar where the allocation is exact).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal as D
from pathlib import Path

import pytest
from builders import billing, usage
from fake_billing_servers import (
    FakeAnthropic,
    FakeOpenAI,
    anthropic_cost,
    anthropic_usage,
    loopback,
    openai_cost,
    openai_usage,
)
from otel_helpers import write_spans_file

from finops import api
from finops.config import load_config, parse_config
from finops.errors import ConfigError, ExitCode
from finops.reconcile import reconcile
from finops.report.model import build_report
from finops.warehouse import connect, replace_window
from finops.windows import month_window

OCT = month_window("2026-10")
TODAY = date(2026, 11, 23)
DAY1 = date(2026, 10, 1)


def run(config, u, b):
    con = connect(config.warehouse)
    replace_window(con, "usage", "spans", OCT.window_start, OCT.window_end, u)
    replace_window(con, "billing", "bills", OCT.window_start, OCT.window_end, b, providers=["openai"])
    reconcile(con, config, OCT, TODAY)
    rep = build_report(con, OCT, currency="USD", max_drift_pct=5,
                       generated_at=datetime(2026, 11, 23, tzinfo=UTC))
    return con, rep


def teams(rep) -> dict[str, D]:
    return {t.team: t.billed for t in rep.teams if t.billed}


def matched(con) -> dict[str, str]:
    return {a: m for a, m in con.execute(
        "SELECT DISTINCT account, matched_by FROM recon_bill_match ORDER BY ALL").fetchall()}


# ------------------------------------------------------------------------ the hierarchy, by level

def test_named_accounts_match_by_account_and_the_others_pool_with_spans_without_account(config):
    # gpt-4o, input only ($2.50 / M). Spans: team a names proj_a (1M tokens); teams b and c name
    # no account (600k and 200k). Bills: proj_a 3.00, proj_b 1.40, default 0.60 (1M, 400k, 200k).
    u = usage([{"team": "a", "account": "proj_a", "input_tokens": 1_000_000},
               {"team": "b", "account": "", "input_tokens": 600_000},
               {"team": "c", "account": "", "input_tokens": 200_000}])
    b = billing([{"account": "proj_a", "amount": "3.00", "billed_tokens": 1_000_000},
                 {"account": "proj_b", "amount": "1.40", "billed_tokens": 400_000},
                 {"account": "default", "amount": "0.60", "billed_tokens": 200_000}])
    con, rep = run(config, u, b)
    assert matched(con) == {"proj_a": "account", "proj_b": "pool", "default": "pool"}
    # proj_a → a. The pool (proj_b + default = 2.00) splits 600k : 200k → b 1.50, c 0.50.
    assert teams(rep) == {"a": D("3.00"), "b": D("1.50"), "c": D("0.50")}
    assert rep.unattributed == 0
    # drift lines: account grain for proj_a, one pooled line ('') for the rest
    lines = dict(con.execute("SELECT account, billed FROM recon_lines").fetchall())
    assert lines == {"proj_a": D("3.00"), "": D("2.00")}
    assert [(a["account"], a["billed"]) for a in rep.pooled_accounts] == [("proj_b", D("1.4")), ("default", D("0.6"))]
    con.close()


def test_an_account_named_on_some_spans_only_matches_by_account_there_and_pools_elsewhere(config):
    # proj_s names itself on gpt-4o spans (team s) but not on gpt-4o-mini spans (teams s and t).
    u = usage([{"team": "s", "account": "proj_s", "input_tokens": 1_000_000},
               {"team": "s", "account": "", "model": "gpt-4o-mini", "input_tokens": 3_000_000},
               {"team": "t", "account": "", "model": "gpt-4o-mini", "input_tokens": 1_000_000}])
    b = billing([{"account": "proj_s", "amount": "2.50", "billed_tokens": 1_000_000},
                 {"account": "proj_s", "model": "gpt-4o-mini", "amount": "0.60", "billed_tokens": 4_000_000}])
    con, rep = run(config, u, b)
    by = dict(con.execute("SELECT model, matched_by FROM recon_bill_match").fetchall())
    assert by == {"gpt-4o": "account", "gpt-4o-mini": "pool"}
    # gpt-4o 2.50 → s; mini 0.60 split 3M : 1M → s 0.45, t 0.15
    assert teams(rep) == {"s": D("2.95"), "t": D("0.15")}
    con.close()


def test_billed_accounts_no_span_matches_follow_rule_then_the_accounts_spans_then_unattributed(config):
    # config: teams.ops owns proj_ops. Spans: proj_m is named by teams a (cost 2.50) and b (1.25)
    # on 2026-10-01 only. Bills on 2026-10-02 (no spans that day at all): proj_ops 7.00, proj_m
    # 3.00, proj_u 1.000001; each has no spans at either level in its cell.
    u = usage([{"team": "a", "account": "proj_m", "input_tokens": 1_000_000},
               {"team": "b", "account": "proj_m", "input_tokens": 500_000}])
    d2 = date(2026, 10, 2)
    b = billing([{"day": DAY1, "account": "proj_m", "amount": "3.75", "billed_tokens": 1_500_000},
                 {"day": d2, "account": "proj_ops", "amount": "7.00"},
                 {"day": d2, "account": "proj_m", "amount": "3.00"},
                 {"day": d2, "account": "proj_u", "amount": "1.000001"}])
    con, rep = run(config, u, b)
    by = {(d, a): m for d, a, m in con.execute("SELECT day, account, matched_by FROM recon_bill_match").fetchall()}
    assert by == {(DAY1, "proj_m"): "account", (d2, "proj_ops"): "rule", (d2, "proj_m"): "account_month",
                  (d2, "proj_u"): "unattributed"}
    # day 1: 3.75 split 2.50 : 1.25 → a 2.50, b 1.25; day 2 proj_m 3.00 by the month's estimates
    # of its spans (2 : 1) → a 2.00, b 1.00; proj_ops → ops 7.00; proj_u → unattributed 1.00
    assert teams(rep) == {"a": D("4.50"), "b": D("2.25"), "ops": D("7.00"), "unattributed": D("1.00")}
    [src] = rep.unattributed_sources
    assert (src["reason"], src["account"], src["amount"]) == ("no_spans", "proj_u", D("1.000001"))
    assert src["rule"] == '[teams.<team>] accounts = [{provider = "openai", account = "proj_u"}]'
    assert rep.unattributed_parts == {"no_spans": D("1.00"), "no_team": D("0.00"), "credit": D("0.00")}
    assert rep.coverage["unattributed"] == D("1.000001")
    con.close()


def test_a_team_with_no_spans_and_no_rule_gets_nothing_and_a_one_team_account_gets_all(config):
    u = usage([{"team": "a", "account": "proj_a", "input_tokens": 1_000_000, "project": "p1"},
               {"team": "a", "account": "proj_a", "input_tokens": 3_000_000, "project": "p2"}])
    b = billing([{"account": "proj_a", "amount": "9.99", "billed_tokens": 4_000_000},
                 {"account": "proj_a", "model": "gpt-4o-mini", "amount": "0.01"}])  # no spans in that cell
    con, rep = run(config, u, b)
    assert teams(rep) == {"a": D("10.00")}
    con.close()


def test_a_non_token_charge_follows_its_accounts_spans_of_the_day(config):
    # web search of proj_a (named, 2 teams) and of proj_z (no span names it: the pool's day).
    u = usage([{"team": "a", "account": "proj_a", "input_tokens": 1_000_000},
               {"team": "b", "account": "proj_a", "model": "gpt-4o-mini", "input_tokens": 10_000_000},
               {"team": "c", "account": "", "output_tokens": 100_000}])
    b = billing([{"account": "proj_a", "model": "", "token_type": "other", "line_item": "web search tool calls",
                  "amount": "4.00"},
                 {"account": "proj_z", "model": "", "token_type": "other", "line_item": "web search tool calls",
                  "amount": "0.50"}])
    con, rep = run(config, u, b)
    # proj_a's day: a 2.50, b 1.50 of estimate → 4.00 split 2.50 : 1.50; proj_z → the pool → c
    assert teams(rep) == {"a": D("2.50"), "b": D("1.50"), "c": D("0.50")}
    models = {x.name for t in rep.teams for x in t.by_model}
    assert "openai / web search tool calls" in models and not any(m.endswith("/ ") for m in models)
    assert rep.explanation["non_token"] == D("-4.50")
    assert "charges that are not tokens (web search tool calls)" in rep.drift_summary
    con.close()


def test_an_account_listed_by_two_teams_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"teams.b.accounts\[0\]: openai account 'proj_x' is already listed by teams.a"):
        parse_config({"teams": {"a": {"accounts": [{"provider": "openai", "account": "proj_x"}]},
                                "b": {"accounts": [{"provider": "openai", "account": "proj_x"}]}}})


# ------------------------------------------------------------------------------------- credits

def test_credits_are_their_own_line_and_spread_pro_rata_to_the_providers_charges(config):
    # Charges: a 6.00 (proj_a), b 3.00 (pooled), ops 1.00 (rule). A credit of −2.50 on the
    # default project and a refund of −0.000003 on a model line.
    u = usage([{"team": "a", "account": "proj_a", "input_tokens": 2_400_000},
               {"team": "b", "account": "", "input_tokens": 1_200_000}])
    b = billing([{"account": "proj_a", "amount": "6.00", "billed_tokens": 2_400_000},
                 {"account": "default", "amount": "3.00", "billed_tokens": 1_200_000},
                 {"account": "proj_ops", "amount": "1.00", "model": "gpt-4o-mini"},
                 {"account": "default", "model": "", "token_type": "other", "line_item": "Credit grant",
                  "amount": "-2.50"},
                 {"account": "proj_a", "line_item": "gpt-4o, input refund", "amount": "-0.000003"}])
    con, rep = run(config, u, b)
    # positive allocation 6 : 3 : 1 of 10.00, credits −2.500003:
    #   a  6 − 2.500003 × 0.6 = 4.4999982 → 4.50;  b 3 − 0.7500009 = 2.2499991 → 2.25;
    #   ops 1 − 0.2500003 = 0.7499997 → 0.75;  Σ 7.499997 → 7.50
    assert teams(rep) == {"a": D("4.50"), "b": D("2.25"), "ops": D("0.75")}
    assert rep.billed_total == D("7.50")
    exact = dict(con.execute("SELECT team, sum(allocated) FROM recon_alloc WHERE basis = 'credit' GROUP BY team").fetchall())
    assert exact == {"a": D("-1.500002"), "b": D("-0.750001"), "ops": D("-0.250000")}
    assert [(c["line_item"], c["amount"]) for c in rep.credits] == [
        ("Credit grant", D("-2.5")), ("gpt-4o, input refund", D("-0.000003"))]
    assert rep.other_line_items == []  # a negative 'other' row is a credit, not a charge
    assert rep.explanation["credit"] == D("2.500003")
    models = {x.name for t in rep.teams for x in t.by_model}
    assert "openai / Credit grant" in models
    con.close()


def test_credit_with_no_charges_goes_to_unattributed(config):
    con, rep = run(config, usage([]), billing([{"model": "", "token_type": "other", "line_item": "Credit",
                                                 "amount": "-1.00"}]))
    assert teams(rep) == {"unattributed": D("-1.00")}
    assert rep.unattributed_parts["credit"] == D("-1.00")
    con.close()


# -------------------------------------------------------- the month, from real SDK spans

# OpenAI bills, 2026-10-01: gpt-4o for proj_search (1,000,000 in / 100,000 out, 100 requests,
# 2.50 + 1.00) and proj_support (400,000 / 50,000, 50 requests, 1.00 + 0.50); web search calls
# on proj_search (0.60); gpt-4o-mini for proj_x (never traced, owned by ds: 0.30 + 0.12) and
# proj_y (never traced, no owner: 0.15 + 0.06). Anthropic: claude-sonnet-4 for wrkspc_support
# (100,000 / 10,000: 0.30 + 0.15) and the default workspace (50,000 / 5,000: 0.15 + 0.075).
# Spans, all on gpt-4o or claude-sonnet-4: search 98 (of 100: 2 % lost to sampling) of
# 10,000 / 1,000 tokens; support 49 (of 50) of 8,000 / 1,000 on OpenAI and 4 of 25,000 / 2,500
# on Anthropic; docs 2 of 25,000 / 2,500 on Anthropic.
GPT4O, MINI, SONNET = "gpt-4o-2024-08-06", "gpt-4o-mini", "claude-sonnet-4-20250514"


def _openai_bills() -> tuple[dict, dict]:
    costs = [openai_cost(2.50, f"{GPT4O}, input", "proj_search", quantity=1_000_000, unit="tokens"),
             openai_cost(1.00, f"{GPT4O}, output", "proj_search", quantity=100_000, unit="tokens"),
             openai_cost(1.00, f"{GPT4O}, input", "proj_support", quantity=400_000, unit="tokens"),
             openai_cost(0.50, f"{GPT4O}, output", "proj_support", quantity=50_000, unit="tokens"),
             openai_cost(0.60, "web search tool calls", "proj_search"),
             openai_cost(0.30, f"{MINI}, input", "proj_x"), openai_cost(0.12, f"{MINI}, output", "proj_x"),
             openai_cost(0.15, f"{MINI}, input", "proj_y"), openai_cost(0.06, f"{MINI}, output", "proj_y")]
    usage_rows = []
    for project, model, tokens_in, tokens_out, n in (
            ("proj_search", GPT4O, 1_000_000, 100_000, 100), ("proj_support", GPT4O, 400_000, 50_000, 50),
            ("proj_x", MINI, 2_000_000, 200_000, 40), ("proj_y", MINI, 1_000_000, 100_000, 20)):
        row = openai_usage(model, tokens_in, 0, tokens_out, project_id=project, cache_write=0)
        row["num_model_requests"] = n
        usage_rows.append(row)
    return {DAY1: costs}, {DAY1: usage_rows}


def _anthropic_bills() -> tuple[dict, dict]:
    costs, usage_rows = [], []
    for ws, tokens_in, tokens_out in (("wrkspc_support", 100_000, 10_000), (None, 50_000, 5_000)):
        costs += [anthropic_cost(str(D(tokens_in) * 3 / 10_000), "Claude Sonnet 4 Usage - Input Tokens",
                                 "uncached_input_tokens", workspace_id=ws),
                  anthropic_cost(str(D(tokens_out) * 15 / 10_000), "Claude Sonnet 4 Usage - Output Tokens",
                                 "output_tokens", workspace_id=ws)]
        usage_rows.append(anthropic_usage(tokens_in, 0, 0, 0, tokens_out, workspace_id=ws))
    return {DAY1: costs}, {DAY1: usage_rows}


def _spans(with_accounts: bool) -> list[dict]:
    def span(i: int, team: str, provider: str, tokens_in: int, tokens_out: int, account: str | None,
             convention: str) -> dict:
        res = {"service.name": f"{team}-svc", "team.id": team}
        if with_accounts and account:
            res["openai.project.id" if provider == "openai" else "anthropic.workspace.id"] = account
        model = GPT4O if provider == "openai" else SONNET
        if convention == "openinference":
            attrs = {"llm.provider": provider, "llm.model_name": model, "openinference.span.kind": "LLM",
                     "llm.token_count.prompt": tokens_in, "llm.token_count.completion": tokens_out}
        else:
            attrs = {"gen_ai.provider.name": provider, "gen_ai.operation.name": "chat",
                     "gen_ai.response.model": model, "gen_ai.usage.input_tokens": tokens_in,
                     "gen_ai.usage.output_tokens": tokens_out}
        return {"resource": res, "attributes": attrs, "start": f"2026-10-01T{i % 24:02d}:{i % 60:02d}:00Z"}

    out = [span(i, "search", "openai", 10_000, 1_000, "proj_search", "genai") for i in range(98)]
    out += [span(i, "support", "openai", 8_000, 1_000, "proj_support", "openinference") for i in range(49)]
    out += [span(i, "support", "anthropic", 25_000, 2_500, "wrkspc_support", "genai") for i in range(4)]
    # the default workspace: instrumentation has no id to put on these spans either way
    out += [span(i, "docs", "anthropic", 25_000, 2_500, None, "genai") for i in range(2)]
    return out


@pytest.fixture
def billing_apis(monkeypatch):
    monkeypatch.setenv("OPENAI_ADMIN_KEY", "sk-admin-test-1")
    monkeypatch.setenv("ANTHROPIC_ADMIN_KEY", "sk-ant-admin01-test-1")
    with loopback() as s1, loopback() as s2:
        oc, ou = _openai_bills()
        ac, au = _anthropic_bills()
        yield (FakeOpenAI(s1, "sk-admin-test-1", costs=oc, usage=ou),
               FakeAnthropic(s2, "sk-ant-admin01-test-1", costs=ac, usage=au))


def _month(tmp_path: Path, prices_dir: Path, apis, with_accounts: bool):
    fake_openai, fake_anthropic = apis
    write_spans_file(tmp_path / "spans" / "2026-10-01.jsonl.gz", _spans(with_accounts), spans_per_line=40)
    cfg = tmp_path / "finops.toml"
    cfg.write_text(f"""
[warehouse]
path = "w.duckdb"
[pricing]
dir = "{prices_dir}"
[reconcile]
today = 2026-11-23
[[sources]]
name = "spans"
kind = "otlp_files"
paths = ["spans/*.jsonl.gz"]
[[billing]]
name = "openai"
kind = "openai"
base_url = "{fake_openai.base_url}"
[[billing]]
name = "anthropic"
kind = "anthropic"
base_url = "{fake_anthropic.base_url}"
[teams.search]
[teams.support]
[teams.docs]
[teams.ds]
accounts = [{{provider = "openai", account = "proj_x"}}]
""")
    config = load_config(cfg)
    assert not api.pull(config, OCT).failed
    return cfg, api.report(config, OCT)


def test_spans_without_account_attributes_charge_each_team_its_share(tmp_path, prices_dir, billing_apis, cli):
    cfg, rep = _month(tmp_path, prices_dir, billing_apis, with_accounts=False)
    # OpenAI, gpt-4o pooled (proj_search + proj_support): input 3.50 split by span cost
    # 980,000 : 392,000 = 5 : 2 → search 2.50, support 1.00; output 1.50 split 98,000 : 49,000
    # → 1.00, 0.50. Web search 0.60 (proj_search, named by no span) → the pool's day: span cost
    # 3.43 : 1.47 → search 0.42, support 0.18. proj_x (no spans at either level) → ds by its rule
    # 0.42; proj_y → unattributed 0.21.
    # Anthropic, pooled (wrkspc_support + default): input 0.45 split 100,000 : 50,000 → support
    # 0.30, docs 0.15; output 0.225 → 0.15, 0.075. Provider total 0.675 → 0.68: docs' 0.225
    # takes the leftover cent (largest remainder) → 0.23.
    assert teams(rep) == {"search": D("3.92"), "support": D("1.68") + D("0.45"), "ds": D("0.42"),
                          "docs": D("0.23"), "unattributed": D("0.21")}
    assert rep.billed_total == D("6.91") == sum(teams(rep).values())
    assert {(a["provider"], a["account"]) for a in rep.pooled_accounts} == {
        ("openai", "proj_search"), ("openai", "proj_support"), ("anthropic", "wrkspc_support"),
        ("anthropic", "default")}
    [src] = rep.unattributed_sources
    assert (src["provider"], src["account"], src["model"], src["amount"]) == ("openai", "proj_y", MINI, D("0.21"))
    assert src["rule"] == '[teams.<team>] accounts = [{provider = "openai", account = "proj_y"}]'

    # Drift, E − B = 5.575 − 6.905 = −1.33, every part named to its cause:
    #   coverage  = 147 spans of 150 billed requests: (1.4M × 2.5e-6 + 150k × 1e-5) × −3/150 = −0.10
    #   volume    = token mix: (1,372,000 − 1,400,000) × 2.5e-6 + (147,000 − 150,000) × 1e-5 + 0.10 = 0
    #   unmatched = proj_x and proj_y, billed with no spans: −0.63;  non_token = web search −0.60
    e = rep.explanation
    assert (e["coverage"], e["volume"], e["rate"], e["unmatched"], e["non_token"], e["unexplained"]) == (
        D("-0.10"), 0, 0, D("-0.63"), D("-0.60"), 0)
    assert sum(e.values()) == D("5.575") - D("6.905")
    assert rep.named_pct == D("100.0")
    assert rep.drift_summary == (
        "-19.2 %: -9.1 pt billed spend with no spans (openai proj_x, gpt-4o-mini; +1 more), "
        "-8.7 pt charges that are not tokens (web search tool calls), "
        "-1.4 pt 2.0 % fewer spans than billed requests (openai: 147 of 150)")
    r = cli("-c", str(cfg), "gate", "--month", "2026-10")
    assert r.code == ExitCode.GATE_FAILED
    assert rep.drift_summary in r.out
    doc = json.loads(cli("-c", str(cfg), "report", "--month", "2026-10", "--format", "json").out)
    assert doc["drift_summary"] == rep.drift_summary
    assert [p["part"] for p in doc["drift_parts"]] == ["unmatched", "non_token", "coverage"]
    assert doc["unattributed_sources"][0]["rule"] == src["rule"]


def test_spans_with_account_attributes_charge_each_team_its_own_accounts(tmp_path, prices_dir, billing_apis):
    _, rep = _month(tmp_path, prices_dir, billing_apis, with_accounts=True)
    # proj_search (2.50 + 1.00 + web search 0.60) → search 4.10; proj_support 1.50 and
    # wrkspc_support 0.45 → support 1.95; the default workspace's spans name no account: pooled
    # with it, 0.225 → docs, 0.23 after the provider's rounding; proj_x → ds 0.42; proj_y 0.21.
    assert teams(rep) == {"search": D("4.10"), "support": D("1.95"), "ds": D("0.42"), "docs": D("0.23"),
                          "unattributed": D("0.21")}
    assert [(a["provider"], a["account"]) for a in rep.pooled_accounts] == [("anthropic", "default")]
