"""The demo month end to end: what `make demo` shows must hold to the cent."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from finops.errors import ExitCode


@pytest.fixture(scope="module")
def demo(demo_result):
    return demo_result


def test_demo_ties_out_to_the_invoices_to_the_cent(demo):
    rep = demo.report
    truth = demo.data.billed_usd  # what the generated responses bill, summed exactly
    assert {p.name: p.billed for p in rep.providers} == {
        k: v.quantize(Decimal("0.01")) for k, v in truth.items()}
    assert sum(t.billed for t in rep.teams) == rep.billed_total
    for p in rep.providers:
        assert sum(b.billed for t in rep.teams for b in t.by_provider if b.name == p.name) == p.billed


def test_demo_contains_what_it_promises(demo):
    rep = demo.report
    teams = {t.team for t in rep.teams}
    assert len(teams - {"unattributed"}) == 12
    assert "unattributed" in teams  # a service without team.id and an unowned workspace
    assert any(u["model"].startswith("ft:") for u in rep.unpriced)  # model missing from prices
    assert rep.coverage.get("rule", 0) > 0  # the sandbox project with no spans → data-science
    assert any(o["line_item"] == "web search tool calls" for o in rep.other_line_items)
    assert demo.data.spans_dropped > 0  # sampling loss
    assert rep.explanation["volume"] < 0
    # the explanation adds up to estimated − billed exactly
    estimated = sum((p.estimated for p in rep.providers), Decimal(0))
    assert sum(rep.explanation.values()) == estimated - sum(demo.data.billed_usd.values(), Decimal(0))


def test_demo_shows_each_matching_case_and_its_explanation(demo):
    rep = demo.report
    # spans without an account attribute: the accounts no span names are matched without account,
    # proj_search partly (its gpt-4o spans name it, its gpt-4o-mini spans do not)
    pooled = {(a["provider"], a["account"]): a["models"] for a in rep.pooled_accounts}
    assert set(pooled) == {("openai", "default"), ("openai", "proj_search"), ("anthropic", "default"),
                           ("anthropic", "wrkspc_growth")}
    assert pooled[("openai", "proj_search")] == ["gpt-4o-mini-2024-07-18"]
    # billed projects with no spans: one owned by a rule, one unattributed with the rule that fixes it
    assert rep.coverage["rule"] > 0
    [no_spans] = [u for u in rep.unattributed_sources if u["reason"] == "no_spans"]
    assert (no_spans["provider"], no_spans["account"]) == ("anthropic", "wrkspc_eval")
    assert no_spans["rule"] == '[teams.<team>] accounts = [{provider = "anthropic", account = "wrkspc_eval"}]'
    # the header's unattributed and the coverage section: one figure, split by why
    parts = rep.unattributed_parts
    assert sum(parts.values()) == rep.unattributed
    assert parts["no_spans"] == rep.coverage["unattributed"].quantize(Decimal("0.01"))
    assert parts["no_team"] > 0  # the service without team.id
    # a non-token line is a named line item, never a blank model row
    models = [x.name for t in rep.teams for x in t.by_model]
    assert "openai / web search tool calls" in models and not any(m.endswith("/ ") for m in models)
    # a credit is its own line item, spread over the provider's charges
    assert [c["line_item"] for c in rep.credits] == ["Credit: service incident 2026-10-14"]
    assert rep.coverage["credit"] == Decimal("-25")
    # drift named to its causes: coverage from OpenAI's request counts, a premium from the bill's fields
    e = rep.explanation
    assert e["coverage"] < 0 and e["premium"] < 0 and e["non_token"] < 0 and e["credit"] == Decimal("25")
    assert e["unexplained"] == 0 and rep.named_pct == Decimal("100.0")
    assert rep.drift_summary.startswith(f"{rep.drift_pct:+.1f} %: ")
    texts = {p.part: p.text for p in rep.drift_parts}
    assert texts["coverage"].startswith("2.0 % fewer spans than billed requests (openai")
    assert "long context" in texts["premium"] and "1-hour cache writes" in texts["premium"]


def test_budget_spent_is_the_chargeback_to_the_cent(demo):
    rep = demo.report
    budgets = rep.anomalies.budgets
    assert budgets and all(b.provisional_from is None for b in budgets)  # the month is settled
    for b in budgets:
        assert b.spent == rep.team(b.team).billed, b.team


def test_gate_passes_at_5_and_fails_below_the_demo_drift(demo, cli):
    cfg = str(demo.config_path)
    drift = abs(demo.report.drift_pct)
    assert Decimal("1") < drift < Decimal("5")
    assert cli("-c", cfg, "gate", "--month", "2026-10").code == ExitCode.OK
    r = cli("-c", cfg, "gate", "--month", "2026-10", "--max-drift", str(drift - Decimal("0.5")))
    assert r.code == ExitCode.GATE_FAILED


def test_demo_reports_written(demo):
    out = Path(demo.html_path).parent
    doc = json.loads((out / "chargeback-2026-10.json").read_text())
    assert doc["billed_total"] == str(demo.report.billed_total)
    html = Path(demo.html_path).read_text()
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    assert html.count("<svg") >= 13  # org trend + one per team


def test_rerunning_the_demo_month_changes_nothing(demo):
    import duckdb

    from finops import api
    from finops.config import load_config
    from finops.windows import month_window
    tables = ["usage_daily", "billing_daily", "recon_lines", "recon_alloc", "recon_team_provider"]

    def snapshot():
        con = duckdb.connect(str(demo.warehouse), read_only=True)
        try:
            return {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in tables}
        finally:
            con.close()
    before = snapshot()
    cfg = load_config(demo.config_path)
    assert not api.pull(cfg, month_window("2026-10")).failed
    api.report(cfg, month_window("2026-10"))
    assert snapshot() == before


def test_pricing_check_lists_the_unpriced_fine_tune_and_exits_1(demo, cli):
    from finops import api
    from finops.config import load_config
    r = cli("-c", str(demo.config_path), "pricing", "check")
    assert r.code == ExitCode.GATE_FAILED
    assert "ft:gpt-4o-mini-2024-07-18:acme::mk7q2" in r.out and "input" in r.out
    # its token counts are the reports' unpriced tables (span tokens) of all it loaded, September
    # and October; billed tokens apart
    from finops.windows import month_window
    config = load_config(demo.config_path)
    rows = api.pricing_check(config).rows
    months = [demo.report.unpriced, api.report(config, month_window("2026-09")).unpriced]
    want: dict[tuple[str, str], int] = {}
    for u in (u for m in months for u in m):
        want[(u["model"], u["token_type"])] = want.get((u["model"], u["token_type"]), 0) + u["tokens"]
    assert {(x["model"], x["token_type"]): x["tokens"] for x in rows} == want
    assert all(x["billed_tokens"] > 0 for x in rows)
    first = demo.report.unpriced[0]
    assert f"{want[(first['model'], first['token_type'])]:,}" in r.out


def test_pricing_show_prints_the_table_in_force_on_a_date(demo, cli):
    r = cli("-c", str(demo.config_path), "pricing", "show", "--date", "2025-06-01", "--provider", "openai")
    assert r.code == 0
    def o3_standard(out: str) -> list[str]:
        return [c.strip() for c in next(line for line in out.splitlines()
                                        if "│ o3-2025-04-16" in line and "standard" in line).split("│")]
    assert o3_standard(r.out)[-2] == "40"  # output, before the 2025-06-10 price cut
    r = cli("-c", str(demo.config_path), "pricing", "show", "--date", "2025-06-10", "--provider", "openai")
    assert o3_standard(r.out)[-2] == "8"


def test_readme_json_contract_names_every_top_level_key(demo):
    import re

    from finops.report.jsonout import report_dict
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = readme.split("### JSON contract", 1)[1].split("```json", 1)[1].split("```", 1)[0]
    documented = set(re.findall(r'"(\w+)":', block))
    assert set(report_dict(demo.report)) <= documented


def test_the_demo_agent_span_is_not_counted_twice(demo):
    import gzip

    import duckdb
    # the month holds an invoke_agent span carrying the totals of two model calls beneath it
    agents, children, calls = [], {}, 0
    for path in sorted(demo.warehouse.parent.glob("spans/*.jsonl.gz")):
        for line in gzip.open(path):
            for rs in json.loads(line)["resourceSpans"]:
                for sp in rs["scopeSpans"][0]["spans"]:
                    attrs = {a["key"]: a["value"] for a in sp["attributes"]}
                    if attrs.get("gen_ai.operation.name") == {"stringValue": "invoke_agent"}:
                        agents.append((sp["spanId"], attrs))
                    else:
                        calls += 1
                        if sp.get("parentSpanId"):
                            children[sp["spanId"]] = (sp["parentSpanId"], attrs)
    [(agent_id, agent)] = agents
    kids = [a for parent, a in children.values() if parent == agent_id]
    assert len(kids) == 2
    for key in ("gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens"):
        assert int(agent[key]["intValue"]) == sum(int(k[key]["intValue"]) for k in kids)
    [spans] = [s for s in demo.pulled.sources if s.name == "spans"]
    assert spans.stats["agent_spans"] == 1
    assert any("1 agent/workflow span(s)" in n for n in spans.notes)
    con = duckdb.connect(str(demo.warehouse), read_only=True)
    try:
        [(requests,)] = con.execute("SELECT sum(requests) FROM usage_daily WHERE day >= '2026-10-01'").fetchall()
    finally:
        con.close()
    assert requests == calls  # every model call once, the agent span not at all
    # the estimate and the bill are those of the month without the agent span
    assert (demo.report.billed_total, demo.report.estimated_total) == (
        Decimal("4294.93"), Decimal("4105.78"))


def test_readme_json_example_is_the_demo_month(demo):
    """The README's JSON example quotes the demo month: its figures must stay the report's."""
    import re

    from finops.report.jsonout import report_dict
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = readme.split("### JSON contract", 1)[1].split("```json", 1)[1].split("```", 1)[0]
    doc = report_dict(demo.report)
    for key in ("billed_total", "estimated_total", "drift_pct", "unattributed", "drift_summary", "drift_named_pct"):
        quoted = re.search(rf'"{key}": "((?:[^"\\]|\\.)*)"', block)  # the first: the top level's
        assert quoted and quoted.group(1) == doc[key], key
    for key in ("unattributed_parts", "explanation", "coverage"):
        found = re.search(rf'"{key}": (\{{[^{{}}]*\}})', block)
        assert found and json.loads(found.group(1)) == doc[key], key
    first = {k: v for k, v in doc["providers"][0].items() if k != "explanation"}
    assert json.dumps(first)[:-1] in block.replace("\n", " ")
    team = doc["teams"][0]
    assert f'"team": "{team["team"]}", "billed": "{team["billed"]}", "estimated": "{team["estimated"]}"' in block
    # the email subject example in "Email and the nightly run"
    assert f'{team["team"]}: USD {demo.report.teams[0].billed:,}, drift {team["drift_pct"]} %' in readme
    mom = doc["month_over_month"]
    assert (f'"previous": "{mom["previous"]}", "previous_to_date": null, "compared_with": "previous", '
            f'"change": "{mom["change"]}"') in " ".join(block.split())
    assert json.dumps(mom["parts"]) in block.replace("\n", " ")
    assert json.dumps(team["month_over_month"]["parts"]) in block.replace("\n", " ")
    assert json.dumps(team["cache"]).replace(", ", ",")[:80] in block.replace("\n", "").replace(", ", ",").replace("  ", "")
    for key in ("unattributed_sources", "pooled_accounts", "credits", "other_line_items", "unpriced"):
        flat = block.replace("\n", "").replace(", ", ",").replace("  ", "")
        assert json.dumps(doc[key][0]).replace(", ", ",")[:60] in flat, key


def test_demo_shows_spend_per_api_key_and_workspace(demo):
    import duckdb

    from finops.report.jsonout import report_dict
    rows = report_dict(demo.report)["api_key_spend"]
    con = duckdb.connect(str(demo.warehouse), read_only=True)
    billed = {(p, a): Decimal(str(v)) for p, a, v in con.execute(
        "SELECT provider, account, sum(amount) FROM billing_daily WHERE day >= DATE '2026-10-01' "
        "AND day < DATE '2026-11-01' GROUP BY ALL").fetchall()}  # the month (September is loaded too)
    names = dict(con.execute("SELECT api_key, name FROM api_keys").fetchall())
    con.close()
    accounts = {(r["provider"], r["account"]) for r in rows}
    assert accounts == set(billed)  # every billed account's usage names its keys
    for acc in accounts:  # Σ rows of an account = its billed, to the cent
        assert sum(Decimal(r["billed"]) for r in rows if (r["provider"], r["account"]) == acc) == \
            billed[acc].quantize(Decimal("0.01"), "ROUND_HALF_UP"), acc
    keys = [r for r in rows if r["kind"] == "key"]
    assert all(r["name"] == names[r["api_key"]] for r in keys) and len(keys) == 23
    assert [(r["account"], r["billed"]) for r in rows if r["kind"] == "no_key"] == [("default", "16.44")]
    assert [(r["account"], r["billed"], r["share_pct"]) for r in rows if r["kind"] == "credit"] == \
        [("default", "-25.00", None)]
    html = demo.html_path.read_text()
    assert "Spend per API key and workspace" in html and "support-bot prod" in html
    assert "sk-proj-" not in html and "sk-ant-" not in html  # ids and names, never a hint


def test_the_demo_month_shows_an_anomaly_a_budget_flag_and_the_month_before(demo):
    """``make demo`` has something in each part: recsys grows 2.5× from 19 October, growth's
    60 USD budget is passed, finance gets the summary, and September is there to compare with."""
    from finops.config import load_config
    rep = demo.report
    assert [(f.team, f.kind) for f in rep.anomalies.flags] == [("recsys", "up")]
    assert [b.team for b in rep.anomalies.budgets if b.flagged] == ["growth"]
    assert load_config(demo.config_path).email.finance == ("finance@example.com",)
    assert rep.previous is not None and rep.previous.label() == "2026-09"
    recsys = rep.team("recsys").change
    assert recsys.change > 0 and recsys.parts["volume"] > recsys.change * Decimal("0.9")
    assert sum(rep.change.parts.values(), Decimal(0)) == rep.change.change
