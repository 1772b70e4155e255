"""`finops nightly` end to end on the demo month: re-runs, the lock, a SIGKILL mid-load, a failed source.

Mail goes to the real SMTP server of test_email (STARTTLS + AUTH on loopback). The run date is
2026-11-02 with ``chargeback_day = 2``: the trailing window 2026-10-30..2026-11-02 is re-pulled,
October and November are reconciled, and October's chargebacks go out.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from test_email import Server, certificate, copy_demo, demo_month, smtp_server  # noqa: F401

NIGHTLY_TOML = '[nightly]\nout_dir = "nightly"\nchargeback_day = 2\n'
DATE = "2026-11-02"

# Data and reconciliation tables, compared whole (load_windows without when/which run).
TABLES = {
    "usage_daily": "*", "billing_daily": "*", "recon_lines": "*", "recon_alloc": "*",
    "recon_team_provider": "*", "restatements": "*",
    "load_windows": "source, kind, provider, window_start, window_end, rows",
}


def snapshot(cfg: Path, *, emails: bool = True) -> dict[str, list[tuple]]:
    tables = dict(TABLES)
    if emails:
        tables["emails_sent"] = "*"
    with duckdb.connect(str(cfg.parent / "finops.duckdb"), read_only=True) as con:
        return {t: con.execute(f"SELECT {cols} FROM {t} ORDER BY ALL").fetchall()
                for t, cols in tables.items()}


def runs(cfg: Path) -> list[tuple]:
    with duckdb.connect(str(cfg.parent / "finops.duckdb"), read_only=True) as con:
        return con.execute("SELECT command, status, errors FROM runs WHERE command = 'nightly' "
                           "ORDER BY started_at").fetchall()


@pytest.fixture
def site(demo_month: Path, smtp_server: Server, tmp_path: Path) -> Path:  # noqa: F811
    return copy_demo(demo_month, tmp_path / "site", smtp_server.toml + NIGHTLY_TOML)


def test_twice_on_the_same_day_is_identical_and_sends_nothing_new(cli, site: Path,
                                                                    smtp_server: Server) -> None:  # noqa: F811
    first = cli("-c", str(site), "nightly", "--date", DATE)
    assert first.code == 0, first.err
    h = smtp_server.handler
    assert len(h.received) == 13  # October: 12 team chargebacks + the finance summary
    assert all("2026-10" in str(m.message["Subject"]) for m in h.received)
    out = site.parent / "nightly" / DATE
    names = sorted(p.name for p in out.iterdir())
    assert names == ["chargeback-2026-10.csv", "chargeback-2026-10.html", "chargeback-2026-10.json",
                     "chargeback-2026-11.csv", "chargeback-2026-11.html", "chargeback-2026-11.json",
                     "nightly.json"]
    summary = json.loads((out / "nightly.json").read_text())
    assert summary["window_start"] == "2026-10-30" and summary["window_end"] == DATE
    assert {s["name"] for s in summary["sources"]} == {"spans", "openai", "anthropic"}
    assert len(summary["mail"]["sent"]) == 13
    before = snapshot(site)

    second = cli("-c", str(site), "nightly", "--date", DATE)
    assert second.code == 0, second.err
    assert len(h.received) == 13
    assert snapshot(site) == before
    assert [r[:2] for r in runs(site)] == [("nightly", "ok"), ("nightly", "ok")]


def _wait_for(path: Path, proc: subprocess.Popen, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"nightly exited early ({proc.returncode}): {proc.stderr.read()}")
        if time.monotonic() > deadline:
            raise AssertionError("nightly never reached the paused load")
        time.sleep(0.1)


def test_concurrent_run_is_refused_and_a_killed_run_leaves_the_warehouse_consistent(
        cli, demo_month: Path, smtp_server: Server, tmp_path: Path) -> None:  # noqa: F811
    # An uninterrupted run, for the totals to compare against.
    baseline = copy_demo(demo_month, tmp_path / "baseline", smtp_server.toml + NIGHTLY_TOML)
    assert cli("-c", str(baseline), "nightly", "--date", DATE).code == 0
    expected = snapshot(baseline, emails=False)

    site = copy_demo(demo_month, tmp_path / "site", smtp_server.toml + NIGHTLY_TOML)
    untouched = snapshot(site, emails=False)
    marker = tmp_path / "paused"
    env = {**os.environ, "FINOPS_TEST_PAUSE_LOAD": str(marker)}
    proc = subprocess.Popen([sys.executable, "-m", "finops", "-c", str(site), "nightly", "--date", DATE],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(marker, proc)  # the first window load has deleted and inserted, not committed
        second = cli("-c", str(site), "nightly", "--date", DATE)
        assert second.code == 3
        assert "locked by another finops run" in second.err
        assert f"pid {proc.pid}" in second.err and "finops.duckdb.lock" in second.err
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    # Nothing half-loaded: the killed load's delete and insert are gone with it.
    assert snapshot(site, emails=False) == untouched
    third = cli("-c", str(site), "nightly", "--date", DATE)
    assert third.code == 0, third.err
    assert snapshot(site, emails=False) == expected
    assert [r[1] for r in runs(site)] == ["killed", "ok"]


def test_a_failing_source_does_not_stop_the_others(cli, site: Path, smtp_server: Server) -> None:  # noqa: F811
    before = snapshot(site)
    cfg = site.read_text().replace("billing/anthropic/cost_report_page*.json", "billing/anthropic/gone.json")
    site.write_text(cfg)
    r = cli("-c", str(site), "nightly", "--date", DATE)
    assert r.code == 3
    assert "anthropic" in r.err and "source(s) failed: anthropic" in r.err
    after = snapshot(site)
    anthropic = [row for row in before["billing_daily"] if row[1] == "anthropic"]
    assert [row for row in after["billing_daily"] if row[1] == "anthropic"] == anthropic
    assert after["usage_daily"] == before["usage_daily"]  # the spans reloaded, to the same rows
    with duckdb.connect(str(site.parent / "finops.duckdb"), read_only=True) as con:
        loaded = con.execute("SELECT DISTINCT source FROM load_windows WHERE "
                             "window_start = DATE '2026-10-30' AND window_end = DATE '2026-11-02'").fetchall()
    assert sorted(x[0] for x in loaded) == ["openai", "spans"]
    assert smtp_server.handler.received == []  # chargebacks are held back until every source loads
    (status, errors), = [r[1:] for r in runs(site)]
    assert status == "partial" and "anthropic" in errors
