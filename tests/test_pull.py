"""`finops pull` from files: bad input names file and line, exits 3, keeps what was loaded."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from otel_helpers import write_spans_file

from finops.errors import ExitCode

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "billing"


def span(day: int, tokens: int, team: str = "search") -> dict:
    return {"resource": {"service.name": "chat", "team.id": team},
            "attributes": {"gen_ai.provider.name": "openai", "gen_ai.response.model": "gpt-4o",
                           "gen_ai.usage.input_tokens": tokens, "gen_ai.usage.output_tokens": 10},
            "start": f"2026-10-{day:02d}T12:00:00Z"}


def make_config(tmp_path: Path, prices_dir: Path) -> Path:
    (tmp_path / "spans").mkdir()
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
paths = ["spans/*.jsonl*"]
[[billing]]
name = "openai"
kind = "openai_files"
costs = ["bills/costs.json"]
""")
    (tmp_path / "bills").mkdir()
    return cfg


def costs_page(value, currency="usd") -> dict:
    return {"object": "page", "has_more": False, "next_page": None, "data": [
        {"object": "bucket", "start_time": 1759276800, "end_time": 1759363200, "results": [
            {"object": "organization.costs.result", "amount": {"value": value, "currency": currency},
             "line_item": "gpt-4o, input", "project_id": None}]}]}


def total_tokens(tmp_path: Path) -> int:
    import duckdb
    con = duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True)
    try:
        return con.execute("SELECT coalesce(sum(input_tokens), 0) FROM usage_daily").fetchone()[0]
    finally:
        con.close()


def test_pull_loads_sources_and_reports_rows(cli, tmp_path, prices_dir):
    cfg = make_config(tmp_path, prices_dir)
    write_spans_file(tmp_path / "spans" / "a.jsonl.gz", [span(1, 1000), span(1, 500, "b")])
    (tmp_path / "bills" / "costs.json").write_text(json.dumps(costs_page(0.004)))
    r = cli("-c", str(cfg), "pull", "--month", "2026-10")
    assert r.code == 0, r.err
    assert "spans" in r.out and "openai" in r.out
    assert total_tokens(tmp_path) == 1500


def test_malformed_line_names_file_and_line_and_keeps_the_loaded_window(cli, tmp_path, prices_dir):
    cfg = make_config(tmp_path, prices_dir)
    good = tmp_path / "spans" / "a.jsonl"
    write_spans_file(good, [span(1, 1000)])
    (tmp_path / "bills" / "costs.json").write_text(json.dumps(costs_page(0.0025)))
    assert cli("-c", str(cfg), "pull", "--month", "2026-10").code == 0
    with good.open("a") as f:
        f.write('{"resourceSpans": [\n')
    r = cli("-c", str(cfg), "pull", "--month", "2026-10")
    assert r.code == ExitCode.DATA
    assert f"{good}:2" in r.err and "spans" in r.err
    assert total_tokens(tmp_path) == 1000  # the earlier load of the window is untouched


def test_negative_tokens_and_strings_where_numbers_belong(cli, tmp_path, prices_dir):
    cfg = make_config(tmp_path, prices_dir)
    (tmp_path / "bills" / "costs.json").write_text(json.dumps(costs_page(0.01)))
    bad = tmp_path / "spans" / "bad.jsonl"
    write_spans_file(bad, [span(2, -5)])
    r = cli("-c", str(cfg), "pull", "--month", "2026-10")
    assert r.code == ExitCode.DATA
    assert "gen_ai.usage.input_tokens" in r.err and str(bad) in r.err
    s = span(2, 7)
    s["attributes"]["gen_ai.usage.input_tokens"] = "lots"
    write_spans_file(bad, [s])
    r = cli("-c", str(cfg), "pull", "--month", "2026-10")
    assert r.code == ExitCode.DATA and "lots" in r.err


def test_unknown_currency_and_bad_amount_in_billing(cli, tmp_path, prices_dir):
    cfg = make_config(tmp_path, prices_dir)
    write_spans_file(tmp_path / "spans" / "a.jsonl", [span(1, 1000)])
    (tmp_path / "bills" / "costs.json").write_text(json.dumps(costs_page(0.01, currency="zzz")))
    r = cli("-c", str(cfg), "pull", "--month", "2026-10")
    assert r.code == ExitCode.DATA
    assert "openai" in r.err and "costs.json" in r.err and "zzz" in r.err.lower()
    assert total_tokens(tmp_path) == 1000  # the span source still loaded
    (tmp_path / "bills" / "costs.json").write_text(json.dumps(costs_page("twelve")))
    r = cli("-c", str(cfg), "pull", "--month", "2026-10")
    assert r.code == ExitCode.DATA and "amount.value" in r.err


def test_saved_spec_fixtures_load(cli, tmp_path, prices_dir):
    # the OpenAI spec's own example response is accepted as contract data
    cfg = make_config(tmp_path, prices_dir)
    page = json.loads((FIXTURES / "openai_costs_response_spec2026.json").read_text())
    (tmp_path / "bills" / "costs.json").write_text(json.dumps(page))
    r = cli("-c", str(cfg), "pull", "--start", "2024-11-01", "--end", "2024-11-02", "--source", "openai")
    assert r.code == 0, r.err


def usage_by_day(tmp_path: Path) -> dict:
    import duckdb
    con = duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True)
    try:
        return dict(con.execute("SELECT day::VARCHAR, sum(input_tokens) FROM usage_daily "
                                "GROUP BY day ORDER BY day").fetchall())
    finally:
        con.close()


def test_an_empty_file_cannot_silently_empty_a_day(cli, tmp_path, prices_dir):
    cfg = make_config(tmp_path, prices_dir)
    (tmp_path / "bills" / "costs.json").write_text(json.dumps(costs_page(0.004)))
    day1 = write_spans_file(tmp_path / "spans" / "2026-10-01.jsonl.gz", [span(1, 1000)])
    day2 = write_spans_file(tmp_path / "spans" / "2026-10-02.jsonl", [span(2, 500)])
    assert cli("-c", str(cfg), "pull", "--month", "2026-10").code == 0
    assert usage_by_day(tmp_path) == {"2026-10-01": 1000, "2026-10-02": 500}
    day1.write_bytes(gzip.compress(b""))  # the exporter rotated an empty file in
    day2.write_text('{"resourceLogs": []}\n')  # a logs pipeline wrote into the spans folder
    r = cli("-c", str(cfg), "pull", "--month", "2026-10")
    assert r.code == ExitCode.DATA
    assert "2 day(s) with usage loaded before would be left with none" in r.err
    assert "2026-10-01, 2026-10-02" in r.err and "--allow-empty" in r.err
    assert f"empty file(s) (no lines): {day1}" in r.err  # the notes say why
    assert f"{day2}:1" in r.err
    assert usage_by_day(tmp_path) == {"2026-10-01": 1000, "2026-10-02": 500}  # kept
    r = cli("-c", str(cfg), "pull", "--month", "2026-10", "--allow-empty")
    assert r.code == 0, r.err
    assert usage_by_day(tmp_path) == {}


def test_allow_empty_per_source_in_the_config(cli, tmp_path, prices_dir):
    cfg = make_config(tmp_path, prices_dir)
    cfg.write_text(cfg.read_text().replace('paths = ["spans/*.jsonl*"]',
                                           'paths = ["spans/*.jsonl*"]\nallow_empty = true'))
    (tmp_path / "bills" / "costs.json").write_text(json.dumps(costs_page(0.004)))
    day1 = write_spans_file(tmp_path / "spans" / "a.jsonl", [span(1, 1000)])
    assert cli("-c", str(cfg), "pull", "--month", "2026-10").code == 0
    day1.write_text("")
    r = cli("-c", str(cfg), "pull", "--month", "2026-10")
    assert r.code == 0, r.err
    assert usage_by_day(tmp_path) == {}
    assert "warning: 1 empty file(s)" in r.err


def test_pull_prints_each_sources_notes_after_the_table(cli, tmp_path, prices_dir):
    cfg = make_config(tmp_path, prices_dir)
    (tmp_path / "bills" / "costs.json").write_text(json.dumps(costs_page(0.004)))
    write_spans_file(tmp_path / "spans" / "a.jsonl", [
        span(1, 1000), {"attributes": {"http.route": "/"}, "start": "2026-10-01T00:00:00Z"}])
    r = cli("-c", str(cfg), "pull", "--month", "2026-10")
    assert r.code == 0, r.err
    assert "finops: note: spans: 1 non-LLM span(s) skipped" in r.err
    assert "note" not in r.out  # stdout is the table only
