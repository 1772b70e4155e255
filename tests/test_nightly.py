"""`finops nightly` end to end on the demo month: re-runs, the lock, a SIGKILL mid-load, a failed source.

Mail goes to the real SMTP server of test_email (STARTTLS + AUTH on loopback). The run date is
2026-11-04 with ``chargeback_day = 4``: the trailing window 2026-11-01..2026-11-04 is re-pulled,
November is reconciled, and October's chargebacks go out (every October day is loaded by
every source and, with ``provisional_days = 3``, settled from the 4th on).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from otel_helpers import write_spans_file
from test_email import Server, bodies, certificate, copy_demo, demo_month, smtp_server  # noqa: F401

from finops.config import load_config

NIGHTLY_TOML = '[nightly]\nout_dir = "nightly"\nchargeback_day = 4\n'
DATE = "2026-11-04"

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
    chargebacks = [m for m in h.received if "LLM spend alert" not in str(m.message["Subject"])]
    assert len(chargebacks) == 13  # October: 12 team chargebacks + the finance summary
    assert all("2026-10" in str(m.message["Subject"]) for m in chargebacks)
    sent = len(h.received)  # and the notices of teams whose usage dropped (November is empty)
    out = site.parent / "nightly" / DATE
    names = sorted(p.name for p in out.iterdir())
    assert names == ["chargeback-2026-11.csv", "chargeback-2026-11.html", "chargeback-2026-11.json",
                     "nightly.json"]
    summary = json.loads((out / "nightly.json").read_text())
    assert summary["window_start"] == "2026-11-01" and summary["window_end"] == DATE
    assert summary["chargeback_month"] == "2026-10"
    assert {s["name"] for s in summary["sources"]} == {"spans", "openai", "anthropic"}
    assert len([m for m in summary["mail"]["sent"] if m["kind"] == "chargeback"]) == 12
    before = snapshot(site)

    second = cli("-c", str(site), "nightly", "--date", DATE)
    assert second.code == 0, second.err
    assert len(h.received) == sent
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
    hook = Path(__file__).parent / "hooks" / "pause_load"  # sitecustomize.py: pauses the load's COMMIT
    env = {**os.environ, "FINOPS_TEST_PAUSE_LOAD": str(marker),
           "PYTHONPATH": os.pathsep.join([str(hook), os.environ.get("PYTHONPATH", "")])}
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
                             "window_start = DATE '2026-11-01' AND window_end = DATE '2026-11-04'").fetchall()
    assert sorted(x[0] for x in loaded) == ["openai", "spans"]
    # chargebacks are held back until every source loads (an anomaly notice may go out)
    assert [m for m in smtp_server.handler.received if "chargeback" in str(m.message["Subject"])] == []
    (status, errors), = [r[1:] for r in runs(site)]
    assert status == "partial" and "anthropic" in errors


# ----------------------------------------------------------------------------- anomaly notices

# A second span source, as a batch job's collector would add: growth's new bulk job writes
# 20 requests × 30,000 output tokens a day from 2026-10-16 on, on top of its usual ~350k/day.
SURGE_TOML = '[[sources]]\nname = "surge"\nkind = "otlp_files"\npaths = ["surge/*.jsonl"]\n'
SURGE_TEAM, SURGE_PROJECT, SURGE_FEATURE = "growth", "landing", "bulk-variants"
SURGE_MODEL = "claude-haiku-4-5-20251001"
SURGE_DAYS = [date(2026, 10, 16) + timedelta(days=i) for i in range(7)]  # 16th..22nd
SURGE_PER_DAY, SURGE_OUT = 20, 30_000


def write_surge(site: Path) -> Path:
    resource = {"service.name": "growth-bulk", "team.id": SURGE_TEAM, "project.id": SURGE_PROJECT,
                "anthropic.workspace.id": "wrkspc_growth"}
    spans = [{"resource": resource, "start": f"{d}T{1 + i:02d}:00:00Z",
              "attributes": {"gen_ai.provider.name": "anthropic", "gen_ai.response.model": SURGE_MODEL,
                             "gen_ai.usage.input_tokens": 2_000, "gen_ai.usage.output_tokens": SURGE_OUT,
                             "feature.id": SURGE_FEATURE}}
             for d in SURGE_DAYS for i in range(SURGE_PER_DAY)]
    return write_spans_file(site.parent / "surge" / "growth-bulk.jsonl", spans)


def output_tokens(cfg: Path, team: str, start: str, end: str, source: str = "spans") -> int:
    """A team's output tokens (reasoning included) for days start..end inclusive."""
    with duckdb.connect(str(cfg.parent / "finops.duckdb"), read_only=True) as con:
        return con.execute("SELECT coalesce(sum(output_tokens + reasoning_tokens), 0) FROM usage_daily "
                           "WHERE team = ? AND source = ? AND day BETWEEN ? AND ?",
                           [team, source, start, end]).fetchone()[0]


def anomaly_rows(cfg: Path) -> list[tuple]:
    with duckdb.connect(str(cfg.parent / "finops.duckdb"), read_only=True) as con:
        return con.execute("SELECT period, team, recipients, message_id, topics FROM emails_sent "
                           "WHERE kind = 'anomaly' ORDER BY sent_at").fetchall()


def _money(v) -> str:  # noqa: ANN001 - as the anomaly sentence prints an amount
    from finops.reconcile.anomalies import _money as fmt
    return fmt(v)


def test_a_doubled_team_is_notified_once_with_only_its_numbers(cli, demo_month: Path, smtp_server: Server,  # noqa: F811
                                                                tmp_path: Path) -> None:
    from finops import api

    # chargeback_day = 0: this test is about the notices, not the chargebacks; without the demo's
    # growth budget, the anomaly's notice alone.
    site = copy_demo(demo_month, tmp_path / "site", smtp_server.toml + NIGHTLY_TOML.replace("= 4", "= 0")
                     + SURGE_TOML)
    site.write_text(site.read_text().replace("budget_usd = 60\n", ""))  # the notice of the anomaly alone
    write_surge(site)
    config = load_config(site)
    lead = config.teams[SURGE_TEAM].leads[0]
    others = {n: t.leads[0] for n, t in config.teams.items() if n != SURGE_TEAM and t.leads}
    assert len(others) == 11
    # The nightly re-pulls only its trailing window (3 days): load the job's earlier days once.
    pulled = cli("-c", str(site), "pull", "--month", "2026-10", "--source", "surge")
    assert pulled.code == 0, pulled.err
    assert output_tokens(site, SURGE_TEAM, "2026-10-01", "2026-10-31", "surge") == 7 * SURGE_PER_DAY * SURGE_OUT

    # Run on the 22nd: current window 15th..21st (six days of the job), prior 8th..14th.
    day = date(2026, 10, 22)
    prior = output_tokens(site, SURGE_TEAM, "2026-10-08", "2026-10-14")
    current = output_tokens(site, SURGE_TEAM, "2026-10-15", "2026-10-21") + 6 * SURGE_PER_DAY * SURGE_OUT
    assert current >= 2 * prior  # the team's usage (more than) doubled week over week
    rep = api.anomalies(replace(config, today=day), as_of=day - timedelta(days=1))
    assert [(f.team, f.kind) for f in rep.flags] == [(SURGE_TEAM, "up")]
    (flag,) = rep.flags
    assert (flag.prior_output_tokens, flag.current_output_tokens) == (prior, current)

    first = cli("-c", str(site), "nightly", "--date", day.isoformat())
    assert first.code == 0, first.err
    assert "1 anomaly flag(s)" in first.out
    h = smtp_server.handler
    alerts = [m for m in h.received if "LLM spend alert" in str(m.message["Subject"])]
    assert len(alerts) == 1
    (alert,) = alerts
    assert alert.rcpt_tos == [lead] and alert.tls and alert.authenticated
    assert str(alert.message["Subject"]) == f"[finops] LLM spend alert · {SURGE_TEAM}: up (2026-10-21)"
    for name, other in others.items():  # no other lead got anything (the September run has no teams)
        assert h.to(other) == [], name
    text = bodies(alert.message)
    ratio = max((flag.current_cost / flag.prior_cost), Decimal(current) / prior).quantize(Decimal("0.01"))
    assert flag.ratio == ratio and ratio >= 2
    metric = "cost" if flag.metric == "cost" else "output tokens"
    for part in ("prior 8–14 October 2026 vs current 15–21 October 2026",  # the two windows
                 f"output tokens {prior:,} → {current:,}",  # the two numbers
                 f"estimated cost {_money(flag.prior_cost)} → {_money(flag.current_cost)} USD",
                 f"ratio {ratio} ({metric}) ≥ threshold 2.0",  # the ratio and the threshold
                 # the top contributor; claude-haiku-4-5 lists at $1 in / $5 out per million tokens:
                 # 120 requests × (2,000 × $1 + 30,000 × $5) / 1M = 18.24
                 f"Look at {SURGE_FEATURE} × {SURGE_MODEL} × {SURGE_PROJECT}: output tokens 0 → "
                 f"{6 * SURGE_PER_DAY * SURGE_OUT:,}, cost 0.00 → 18.24, new usage"):
        assert part in text, part
    assert f"{SURGE_PROJECT} · {SURGE_FEATURE} · {SURGE_MODEL}" in text  # the where-to-look table
    # Nothing about any other team: no name, no weekly number.
    for w in rep.teams:
        if w.team == SURGE_TEAM:
            continue
        assert not re.search(rf"(?<![\w-]){re.escape(w.team)}(?![\w-])", text), w.team
        for n in (f"{w.prior_output_tokens:,}", f"{w.current_output_tokens:,}",
                  _money(w.prior_cost), _money(w.current_cost)):
            if len(n) >= 6:  # tiny amounts (0.45) could match a digit run by chance
                assert not re.search(rf"(?<![\d.,]){re.escape(n)}(?![\d,]|\.\d)", text), (w.team, n)
    summary = json.loads((site.parent / "nightly" / day.isoformat() / "nightly.json").read_text())
    assert [(f["team"], f["kind"]) for f in summary["flags"]] == [(SURGE_TEAM, "up")]
    assert [m["to"] for m in summary["mail"]["sent"] if m["kind"] == "anomaly"] == [[lead]]
    # a long Message-ID may be folded onto a continuation line: compare it unfolded
    assert anomaly_rows(site) == [("2026-10-21", SURGE_TEAM, [lead], str(alert.message["Message-ID"]).strip(),
                                   ["anomaly:up"])]

    # The next night the team is still flagged (the job runs on), but it was told yesterday.
    nxt = day + timedelta(days=1)
    second = cli("-c", str(site), "nightly", "--date", nxt.isoformat())
    assert second.code == 0, second.err
    summary = json.loads((site.parent / "nightly" / nxt.isoformat() / "nightly.json").read_text())
    assert [(f["team"], f["kind"]) for f in summary["flags"]] == [(SURGE_TEAM, "up")]
    assert "16–22 October 2026" in summary["flags"][0]["message"]
    assert [m for m in summary["mail"]["sent"] if m["kind"] == "anomaly"] == []
    assert [m for m in h.received if "LLM spend alert" in str(m.message["Subject"])] == [alert]
    assert anomaly_rows(site) == [("2026-10-21", SURGE_TEAM, [lead], str(alert.message["Message-ID"]).strip(),
                                   ["anomaly:up"])]
