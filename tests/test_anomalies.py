"""Week-over-week anomalies on synthetic weeks with known answers (finops.reconcile.anomalies)."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest
from builders import usage

from finops import api
from finops.config import parse_config
from finops.errors import ConfigError, DataError
from finops.reconcile.anomalies import (
    find_flags,
    last_complete_week,
    parse_week,
    trailing_windows,
    week_windows,
)
from finops.warehouse import connect, replace_window
from finops.windows import month_window

AS_OF = date(2026, 11, 15)  # a Sunday: current = Nov 9..15 = 2026-W46, prior = Nov 2..8
CURRENT, PRIOR = trailing_windows(AS_OF)
LOAD_START, LOAD_END = date(2026, 10, 1), date(2026, 12, 1)


def day_rows(team: str, start: date, *, out_per_day: int, requests: int = 100, days: int = 7,
             feature: str = "chat", model: str = "gpt-4o", project: str = "web",
             noise: random.Random | None = None, pct: float = 0.3) -> list[dict]:
    rows = []
    for i in range(days):
        f = 1 + noise.uniform(-pct, pct) if noise else 1
        rows.append({"day": start + timedelta(days=i), "team": team, "feature": feature, "model": model,
                     "project": project, "requests": max(1, round(requests * f)),
                     "output_tokens": round(out_per_day * f)})
    return rows


def cfg_with(config, **anomalies):
    """The conftest config with [anomalies] / teams settings."""
    data = {"warehouse": {"path": str(config.warehouse)}, "pricing": {"dir": str(config.pricing_dir)},
            "reconcile": {"today": date(2026, 11, 16)}}
    teams = anomalies.pop("teams", None)
    if teams:
        data["teams"] = teams
    if anomalies:
        data["anomalies"] = anomalies
    return parse_config(data)


def load(config, rows):
    con = connect(config.warehouse)
    replace_window(con, "usage", "spans", LOAD_START, LOAD_END, usage(rows))
    con.close()


# gpt-4o output is $10 per million tokens: 200k output tokens a day = $2/day = $14/week.
def steady(team, per_day=200_000, **kw):
    return (day_rows(team, PRIOR.window_start, out_per_day=per_day, **kw)
            + day_rows(team, CURRENT.window_start, out_per_day=per_day, **kw))


def test_windows_trailing_and_iso_week():
    assert (str(CURRENT), str(PRIOR)) == ("2026-11-09..2026-11-16", "2026-11-02..2026-11-09")
    assert week_windows("2026-W46") == (CURRENT, PRIOR)
    assert parse_week("2026-W01") == date(2025, 12, 29)  # ISO week 1 can start in December
    assert last_complete_week(date(2026, 11, 15)) == "2026-W46"  # a Sunday closes its week
    assert last_complete_week(date(2026, 11, 14)) == "2026-W45"
    for bad in ("2026-46", "2026-W54", "2026-W00", "W46", "2026-W4"):
        with pytest.raises(ConfigError, match="--week"):
            parse_week(bad)


def test_doubled_team_is_flagged_with_the_right_top_contributor(config):
    cfg = cfg_with(config, min_cost_usd=5)
    rows = steady("support", per_day=150_000)
    # search: chat steady at 150k/day; agent doubles requests (a retry loop) 100k → 300k/day
    rows += steady("search", per_day=150_000, feature="chat")
    rows += day_rows("search", PRIOR.window_start, out_per_day=100_000, feature="agent", project="bots")
    rows += day_rows("search", CURRENT.window_start, out_per_day=400_000, requests=400,
                     feature="agent", project="bots")
    load(cfg, rows)
    rep = api.anomalies(cfg, as_of=AS_OF)
    assert [(f.team, f.kind) for f in rep.flags] == [("search", "up")]
    f = rep.flags[0]
    # prior 250k/day × 7 = 1.75M tokens = $17.50; current 550k/day = 3.85M = $38.50 → ratio 2.2
    assert (f.prior_output_tokens, f.current_output_tokens) == (1_750_000, 3_850_000)
    assert (f.prior_cost, f.current_cost) == (Decimal("17.5"), Decimal("38.5"))
    assert f.ratio == Decimal("2.20") and f.threshold == Decimal("2.0")
    top = f.contributors[0]
    assert (top.feature, top.model, top.project) == ("agent", "gpt-4o", "bots")
    assert (top.prior_output_tokens, top.current_output_tokens) == (700_000, 2_800_000)
    assert top.driver == "volume"  # 4× requests, same output per request
    assert len(f.contributors) == 1  # chat did not move: it is not a place to look
    # the sentence states the two windows, the two numbers, the ratio and the threshold
    for part in ("2–8 November 2026", "9–15 November 2026", "1,750,000 → 3,850,000",
                 "17.50 → 38.50", "ratio 2.20", "threshold 2.0", "agent × gpt-4o × bots"):
        assert part in f.message, part


def test_size_driver_when_requests_are_steady_and_answers_longer(config):
    cfg = cfg_with(config, min_cost_usd=5)
    load(cfg, day_rows("search", PRIOR.window_start, out_per_day=200_000)
         + day_rows("search", CURRENT.window_start, out_per_day=500_000))
    f = api.anomalies(cfg, as_of=AS_OF).flags[0]
    assert (f.kind, f.driver, f.contributors[0].driver) == ("up", "size", "size")
    assert "more output tokens per request" in f.message


def test_steady_traffic_with_30pct_daily_noise_is_not_flagged(config):
    cfg = cfg_with(config, min_cost_usd=1)
    rnd = random.Random(20261115)
    rows = []
    for i in range(40):
        per_day = rnd.choice([50_000, 200_000, 1_000_000, 5_000_000])
        for feat in ("chat", "summarise"):
            rows += steady(f"team-{i:02d}", per_day=per_day, feature=feat, noise=rnd)
    load(cfg, rows)
    rep = api.anomalies(cfg, as_of=AS_OF)
    assert len(rep.teams) == 40
    assert rep.flags == []
    assert all(Decimal("0.6") < w.ratio < Decimal("1.6") for w in rep.teams)


def test_team_below_the_floor_is_not_flagged(config):
    cfg = cfg_with(config)  # floor: 1,000,000 output tokens or $50 a week
    # tiny: 10k → 50k output tokens a day (×5), $0.70 → $3.50 a week: below both floors
    load(cfg, day_rows("tiny", PRIOR.window_start, out_per_day=10_000)
         + day_rows("tiny", CURRENT.window_start, out_per_day=50_000))
    rep = api.anomalies(cfg, as_of=AS_OF)
    assert rep.flags == []
    assert rep.teams[0].ratio == Decimal("5.00") and rep.teams[0].below_floor
    # the same team above the token floor pages
    cfg2 = cfg_with(config, min_output_tokens=300_000)
    assert [f.kind for f in api.anomalies(cfg2, as_of=AS_OF).flags] == ["up"]


def test_new_team_and_vanished_team(config):
    cfg = cfg_with(config)
    rows = steady("steady", per_day=500_000)
    rows += day_rows("fresh", CURRENT.window_start, out_per_day=300_000)  # 2.1M tokens, $21
    rows += day_rows("gone", PRIOR.window_start, out_per_day=300_000)
    rows += day_rows("fresh-tiny", CURRENT.window_start, out_per_day=1_000)  # below the floor
    load(cfg, rows)
    rep = api.anomalies(cfg, as_of=AS_OF)
    kinds = {f.team: f for f in rep.flags}
    assert sorted(kinds) == ["fresh", "gone"]
    new, gone = kinds["fresh"], kinds["gone"]
    assert (new.kind, new.ratio, new.prior_output_tokens) == ("new", None, 0)
    assert new.current_output_tokens == 2_100_000
    assert new.contributors[0].driver == "new"
    assert "no usage in the prior window" in new.message
    assert (gone.kind, gone.ratio, gone.current_output_tokens) == ("drop", Decimal("0.00"), 0)
    assert "ratio 0.00 ≤ 1/threshold 2.0 = 0.50" in gone.message
    assert "lost instrumentation" in gone.message
    assert gone.contributors[0].driver == "gone"


def test_drop_at_the_inverse_threshold(config):
    cfg = cfg_with(config)
    load(cfg, day_rows("halved", PRIOR.window_start, out_per_day=400_000)
         + day_rows("halved", CURRENT.window_start, out_per_day=200_000)
         + day_rows("dipped", PRIOR.window_start, out_per_day=400_000, feature="x")
         + day_rows("dipped", CURRENT.window_start, out_per_day=220_000, feature="x"))
    rep = api.anomalies(cfg, as_of=AS_OF)
    assert [(f.team, f.kind, f.ratio) for f in rep.flags] == [("halved", "drop", Decimal("0.50"))]


def test_per_team_override_changes_only_that_team(config):
    rows = []
    for team in ("a", "b", "c"):  # each ×1.6: under the default 2.0
        rows += day_rows(team, PRIOR.window_start, out_per_day=1_000_000)
        rows += day_rows(team, CURRENT.window_start, out_per_day=1_600_000)
    base = cfg_with(config)
    load(base, rows)
    assert api.anomalies(base, as_of=AS_OF).flags == []
    tuned = cfg_with(config, teams={"b": {"anomaly_ratio": 1.5}})
    rep = api.anomalies(tuned, as_of=AS_OF)
    assert [(f.team, f.ratio, f.threshold) for f in rep.flags] == [("b", Decimal("1.60"), Decimal("1.5"))]
    assert "threshold 1.5" in rep.flags[0].message
    assert {w.team: w.threshold for w in rep.teams} == {"a": Decimal("2.0"), "b": Decimal("1.5"),
                                                         "c": Decimal("2.0")}


def test_cost_ratio_catches_a_switch_to_a_pricier_model(config):
    cfg = cfg_with(config, min_cost_usd=5)
    # same output tokens, moved from gpt-4o-mini ($0.60/M) to gpt-4o ($10/M)
    load(cfg, day_rows("t", PRIOR.window_start, out_per_day=500_000, model="gpt-4o-mini")
         + day_rows("t", CURRENT.window_start, out_per_day=500_000, model="gpt-4o"))
    f = api.anomalies(cfg, as_of=AS_OF).flags[0]
    assert (f.kind, f.metric) == ("up", "cost")
    assert f.ratio == Decimal("16.67")  # 35.00 / 2.10
    assert "(cost)" in f.message
    assert f.contributors[0].model == "gpt-4o"


def test_unpriced_model_counts_in_tokens_and_is_noted(config):
    cfg = cfg_with(config)
    load(cfg, day_rows("t", PRIOR.window_start, out_per_day=200_000, model="gpt-9")
         + day_rows("t", CURRENT.window_start, out_per_day=600_000, model="gpt-9"))
    rep = api.anomalies(cfg, as_of=AS_OF)
    f = rep.flags[0]
    assert (f.kind, f.metric, f.ratio, f.current_cost) == ("up", "output_tokens", Decimal("3.00"), 0)
    assert any("unpriced" in n for n in rep.notes)


def test_iso_week_mode_and_json(config):
    cfg = cfg_with(config)
    load(cfg, day_rows("fresh", CURRENT.window_start, out_per_day=300_000))
    rep = api.anomalies(cfg, week="2026-W46")
    assert (rep.current, rep.prior, rep.mode, rep.label) == (CURRENT, PRIOR, "week", "2026-W46")
    from finops.reconcile.anomalies import report_dict
    doc = json.loads(json.dumps(report_dict(rep)))
    assert doc["flagged"] is True
    assert doc["anomalies"]["current"] == {"window_start": "2026-11-09", "window_end": "2026-11-16"}
    flag = doc["anomalies"]["flags"][0]
    assert (flag["kind"], flag["ratio"], flag["current_cost"]) == ("new", None, "21.00")
    assert flag["contributors"][0]["feature"] == "chat"


def test_find_flags_is_pure_on_rows(config):
    cfg = cfg_with(config, teams={"x": {"anomaly_ratio": 3}})
    row = {"team": "x", "project": "p", "feature": "f", "model": "m", "prior_requests": 10,
           "current_requests": 25, "prior_output_tokens": 2_000_000, "current_output_tokens": 5_000_000,
           "prior_cost": Decimal("20"), "current_cost": Decimal("50")}
    flags, weeks = find_flags(cfg, [row], CURRENT, PRIOR)
    assert flags == [] and weeks[0].ratio == Decimal("2.50")
    flags, _ = find_flags(cfg, [replace_row(row, current_output_tokens=6_000_000)], CURRENT, PRIOR)
    assert flags[0].ratio == Decimal("3.00") and flags[0].metric == "output_tokens"


def replace_row(row, **kw):
    return {**row, **kw}


def test_config_validation(config):
    with pytest.raises(ConfigError, match="anomalies.ratio must be greater than 1"):
        cfg_with(config, ratio=0.5)
    with pytest.raises(ConfigError, match="did you mean 'min_cost_usd'"):
        cfg_with(config, min_cost=5)
    with pytest.raises(ConfigError, match="teams.b.anomaly_ratio"):
        cfg_with(config, teams={"b": {"anomaly_ratio": "high"}})
    c = cfg_with(config, ratio=3, min_output_tokens=10, min_cost_usd=1.5)
    assert (c.anomalies.ratio, c.anomalies.min_output_tokens, c.anomalies.min_cost_usd) == (
        Decimal("3"), 10, Decimal("1.5"))
    assert replace(c.anomalies) == c.anomalies


# ----------------------------------------------------------------------------- CLI and report

def write_cli_config(tmp_path, prices_dir, extra=""):
    cfg = tmp_path / "finops.toml"
    cfg.write_text(f'[warehouse]\npath = "w.duckdb"\n[pricing]\ndir = "{prices_dir}"\n'
                   f'[reconcile]\ntoday = 2026-11-16\n{extra}')
    return cfg


def test_cli_exit_codes_and_formats(cli, tmp_path, prices_dir):
    cfg = write_cli_config(tmp_path, prices_dir, "[teams.search]\nbudget_usd = 1000\n")
    con = connect(tmp_path / "w.duckdb")
    replace_window(con, "usage", "spans", LOAD_START, LOAD_END,
                   usage(steady("calm", per_day=500_000)
                         + day_rows("calm", date(2026, 10, 26), out_per_day=500_000)
                         + day_rows("search", date(2026, 10, 26), out_per_day=500_000)
                         + day_rows("search", PRIOR.window_start, out_per_day=500_000)
                         + day_rows("search", CURRENT.window_start, out_per_day=1_500_000, requests=300)))
    con.close()
    c = str(cfg)
    # nothing flagged in the week before: 0 even with --fail-on-anomaly
    r = cli("-c", c, "anomalies", "--as-of", "2026-11-08", "--fail-on-anomaly")
    assert r.code == 0, r.err
    r = cli("-c", c, "anomalies", "--fail-on-anomaly")  # default: yesterday = 2026-11-15
    assert r.code == 1, r.err
    assert "search up" in r.out and "where" not in r.err
    assert cli("-c", c, "anomalies").code == 0  # a finding without --fail-on-anomaly is not a failure
    r = cli("-c", c, "anomalies", "--week", "2026-W46", "--format", "json")
    assert r.code == 0
    doc = json.loads(r.out)
    assert doc["anomalies"]["label"] == "2026-W46" and doc["flagged"] is True
    flags = doc["anomalies"]["flags"]
    assert [(f["team"], f["kind"], f["ratio"]) for f in flags] == [("search", "up", "3.00")]
    assert doc["budgets"][0]["team"] == "search"
    r = cli("-c", c, "anomalies", "--format", "markdown")
    assert r.code == 0 and "| search | up |" in r.out
    for bad in (("--week", "2026-46"), ("--week", "2026-W99"), ("--as-of", "yesterday"),
                ("--week", "2026-W46", "--as-of", "2026-11-15"), ("--format", "csv")):
        r = cli("-c", c, "anomalies", *bad)
        assert r.code == 2, (bad, r.err)
    r = cli("-c", c, "anomalies", "--week", "2026-46")
    assert "--week '2026-46': expected an ISO week YYYY-Www" in r.err


def test_command_is_documented(cli):
    from pathlib import Path
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    r = cli("anomalies", "--help")
    assert r.code == 0 and "--fail-on-anomaly" in r.out
    for text in ("finops anomalies", "[anomalies]", "anomaly_ratio", "[budgets]", "min_output_tokens",
                 '"anomalies"', '"budgets"'):
        assert text in readme, text


def test_report_carries_anomalies_and_budgets(tmp_path, prices_dir):
    from finops import api
    from finops.report.html import render_html
    from finops.report.jsonout import report_dict as report_json

    cfg = parse_config({"warehouse": {"path": str(tmp_path / "w.duckdb")},
                        "pricing": {"dir": str(prices_dir)},
                        "reconcile": {"today": date(2026, 11, 16)},
                        "teams": {"search": {"budget_usd": 60}, "calm": {"budget_usd": 1000}}})
    con = connect(cfg.warehouse)
    replace_window(con, "usage", "spans", LOAD_START, LOAD_END,
                   usage(steady("calm", per_day=500_000)
                         + day_rows("search", PRIOR.window_start, out_per_day=500_000)
                         + day_rows("search", CURRENT.window_start, out_per_day=1_500_000, requests=300,
                                    feature="<agent>")))
    con.close()
    rep = api.report(cfg, month_window("2026-11"))
    # the running month: as of yesterday (Nov 15), the last complete ISO week is 2026-W46
    assert rep.anomalies.label == "2026-W46"
    assert [f.team for f in rep.anomalies.flags] == ["search"]
    doc = report_json(rep)
    assert doc["anomalies"]["flags"][0]["contributors"][0]["feature"] == "<agent>"
    by = {b["team"]: b for b in doc["budgets"]}
    # search: 3.5M + 10.5M output tokens at $10/M = $140 (no billing: all estimated) of $60
    assert (by["search"]["spent"], by["search"]["flagged"], by["calm"]["flagged"]) == ("140.00", True, False)
    assert [b["team"] for b in report_json(rep, "calm")["budgets"]] == ["calm"]
    assert report_json(rep, "calm")["anomalies"]["flags"] == []
    html = render_html(rep)
    assert "Anomalies (week over week)" in html and "Budgets as of 15 November 2026" in html
    assert "&lt;agent&gt;" in html and "<agent>" not in html  # team data is escaped
    team_page = render_html(rep, "search")
    assert "Anomaly: where to look" in team_page and "Budget</h3>" in team_page
    assert "Anomaly: where to look" not in render_html(rep, "calm")
    # a future month has no anomaly section
    with pytest.raises(DataError, match="nothing loaded for 2027-01-01..2027-02-01"):  # never an empty report
        api.report(cfg, month_window("2027-01"))


def test_markdown_escapes_pipes_in_team_names(cli, tmp_path, prices_dir):
    cfg = write_cli_config(tmp_path, prices_dir, '[teams."web|app"]\nbudget_usd = 1000\n')
    con = connect(tmp_path / "w.duckdb")
    replace_window(con, "usage", "spans", LOAD_START, LOAD_END,
                   usage(day_rows("web|app", PRIOR.window_start, out_per_day=500_000)
                         + day_rows("web|app", CURRENT.window_start, out_per_day=1_500_000, requests=300)))
    con.close()
    r = cli("-c", str(cfg), "anomalies", "--format", "markdown")
    assert r.code == 0, r.err
    rows = [line for line in r.out.splitlines() if line.startswith("| web")]
    assert len(rows) == 2, r.out  # the flag and the budget
    assert rows[0].startswith("| web\\|app | up | ") and rows[1].startswith("| web\\|app | 1,000.00 | ")
    # every row keeps its table's column count: 6 cells, 7 unescaped pipes
    for line in rows:
        assert line.replace("\\|", "").count("|") == 7, line
    assert "- web|app up:" in r.out  # outside a table the name is left as it is
