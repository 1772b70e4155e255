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
    r = cli("-c", str(demo.config_path), "pricing", "check")
    assert r.code == ExitCode.GATE_FAILED
    assert "ft:gpt-4o-mini-2024-07-18:acme::mk7q2" in r.out and "input" in r.out


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
        [(requests,)] = con.execute("SELECT sum(requests) FROM usage_daily").fetchall()
    finally:
        con.close()
    assert requests == calls  # every model call once, the agent span not at all
    # the estimate and the bill are those of the month without the agent span
    assert (demo.report.billed_total, demo.report.estimated_total) == (
        Decimal("4129.07"), Decimal("3947.79"))
