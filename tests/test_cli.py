"""The CLI as a user meets it: exit codes, errors, docs kept true."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from builders import billing, usage

from finops.errors import ExitCode
from finops.warehouse import connect, replace_window
from finops.windows import month_window

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
OCT = month_window("2026-10")


def write_config(tmp_path: Path, prices_dir: Path, extra: str = "") -> Path:
    cfg = tmp_path / "finops.toml"
    cfg.write_text(f'[warehouse]\npath = "w.duckdb"\n[pricing]\ndir = "{prices_dir}"\n'
                   f'[reconcile]\ntoday = 2026-11-23\n{extra}')
    return cfg


def seed(tmp_path: Path, drift_bill: str = "2.60") -> None:
    con = connect(tmp_path / "w.duckdb")
    replace_window(con, "usage", "spans", OCT.window_start, OCT.window_end,
                   usage([{"input_tokens": 1_000_000}]))  # estimate 2.50
    replace_window(con, "billing", "bills", OCT.window_start, OCT.window_end,
                   billing([{"amount": drift_bill, "billed_tokens": 1_000_000}]))
    con.close()


def test_readme_exit_code_table_matches_the_enum():
    rows = dict(re.findall(r"^\| (\d+) \| ([^|]+) \|$", README, re.M))
    assert {int(k) for k in rows} == {int(c) for c in ExitCode}


def test_readme_opens_with_demo_and_test():
    head = README.split("```")[1]
    assert head.strip().splitlines()[0].startswith("make demo")
    assert head.strip().splitlines()[1].startswith("make test")


@pytest.mark.parametrize("command", ["init", "pull", "reconcile", "report", "gate", "demo",
                                     "pricing show", "pricing check", "sources check",
                                     "anomalies", "email", "nightly"])
def test_every_command_has_help_and_is_documented(cli, command):
    r = cli(*command.split(), "--help")
    assert r.code == 0 and "Usage" in r.out
    assert f"finops {command}" in README


def test_gate_exit_codes(cli, tmp_path, prices_dir):
    cfg = write_config(tmp_path, prices_dir)
    seed(tmp_path)  # drift = (2.50 − 2.60) / 2.60 = −3.85 %
    r = cli("-c", str(cfg), "gate", "--month", "2026-10")
    assert r.code == ExitCode.OK, r.err
    assert "PASS" in r.out and "-3.85 %" in r.out
    r = cli("-c", str(cfg), "gate", "--month", "2026-10", "--max-drift", "3")
    assert r.code == ExitCode.GATE_FAILED and "FAIL" in r.out
    r = cli("-c", str(cfg), "gate", "--month", "2026-09")
    assert r.code == ExitCode.DATA and "no billing loaded" in r.out


def test_gate_fails_closed_when_a_day_has_spans_but_no_billing_load(cli, tmp_path, prices_dir):
    from datetime import date
    cfg = write_config(tmp_path, prices_dir)
    seed(tmp_path)
    con = connect(tmp_path / "w.duckdb")
    replace_window(con, "usage", "late", date(2026, 11, 1), date(2026, 11, 3),
                   usage([{"day": date(2026, 11, 2), "input_tokens": 5}], source="late"))
    replace_window(con, "billing", "bills", date(2026, 11, 1), date(2026, 11, 2), billing([]),
                   providers=["openai"])
    con.close()
    r = cli("-c", str(cfg), "gate", "--month", "2026-11", "--format", "json")
    assert r.code == ExitCode.DATA
    assert '"openai": [\n      "2026-11-02"\n    ]' in r.out


def test_config_errors_exit_2_and_name_file_and_key(cli, tmp_path, prices_dir):
    cfg = write_config(tmp_path, prices_dir, "[gate]\nmax_drfit_pct = 3\n")
    r = cli("-c", str(cfg), "gate", "--month", "2026-10")
    assert r.code == ExitCode.USAGE
    assert "finops.toml: unknown key gate.'max_drfit_pct' (did you mean 'max_drift_pct'?)" in r.err
    assert cli("-c", str(tmp_path / "nope.toml"), "gate", "--month", "2026-10").code == ExitCode.USAGE
    r = cli("-c", str(write_config(tmp_path, prices_dir)), "gate", "--month", "2026-13")
    assert r.code == ExitCode.USAGE and "expected YYYY-MM" in r.err
    assert cli("gate").code == ExitCode.USAGE  # missing --month: click usage error


def test_internal_error_exits_70_not_1(cli, tmp_path, prices_dir, monkeypatch):
    from finops import api
    cfg = write_config(tmp_path, prices_dir)

    def boom(*a, **k):
        raise ZeroDivisionError("a bug")
    monkeypatch.setattr(api, "gate", boom)
    r = cli("-c", str(cfg), "gate", "--month", "2026-10")
    assert r.code == ExitCode.INTERNAL
    assert "internal error: ZeroDivisionError: a bug" in r.err


def test_interrupt_exits_130(cli, tmp_path, prices_dir, monkeypatch):
    from finops import api
    cfg = write_config(tmp_path, prices_dir)

    def interrupted(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(api, "report", interrupted)
    assert cli("-c", str(cfg), "report", "--month", "2026-10").code == ExitCode.INTERRUPTED


def test_init_writes_a_config_that_loads(cli, tmp_path):
    from finops.config import load_config
    target = tmp_path / "finops.toml"
    assert cli("init", str(target)).code == 0
    cfg = load_config(target)
    assert [s.kind for s in cfg.billing_sources] == ["openai", "anthropic"]
    assert ("openai", "proj_search", "search") in [(r.provider, r.account, r.team) for r in cfg.account_rules]
    assert cli("init", str(target)).code == ExitCode.USAGE  # refuses to overwrite


def test_report_formats_write_clean_stdout(cli, tmp_path, prices_dir):
    import csv
    import io
    import json
    cfg = write_config(tmp_path, prices_dir)
    seed(tmp_path)
    r = cli("-c", str(cfg), "report", "--month", "2026-10", "--format", "json")
    doc = json.loads(r.out)
    assert doc["billed_total"] == "2.60" and doc["teams"][0]["billed"] == "2.60"
    r = cli("-c", str(cfg), "report", "--month", "2026-10", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(r.out)))
    assert rows == [{"month": "2026-10", "team": "search", "provider": "openai", "currency": "USD",
                     "billed": "2.60", "estimated": "2.50", "drift_pct": "-3.85",
                     "provisional": "false"}]
    r = cli("-c", str(cfg), "report", "--month", "2026-10", "--format", "html", "--out", str(tmp_path / "o"))
    assert r.code == 0 and (tmp_path / "o" / "chargeback-2026-10.html").exists()
    r = cli("-c", str(cfg), "report", "--month", "2026-10", "--team", "nobody")
    assert r.code == ExitCode.USAGE and "teams: search" in r.err


def test_installed_command_runs_as_a_subprocess(tmp_path, prices_dir):
    cfg = write_config(tmp_path, prices_dir)
    seed(tmp_path)
    exe = Path(sys.executable).parent / "finops"
    r = subprocess.run([str(exe), "-c", str(cfg), "gate", "--month", "2026-10", "--format", "markdown"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("### finops gate 2026-10: **PASS**")
    assert "leaked" not in r.stderr  # no DuckDB/nanobind noise at exit
