"""Fail loud (issue 13): what an operator, a new user or an on-call engineer can get wrong.

One case per finding, each on the demo month or a small built month: the exit code, the one
line on stderr naming the file, key or path, and that the warehouse is unchanged where it
should be. No money goes out from partial data; no traceback for an operator's mistake.
"""

from __future__ import annotations

import csv
import email
import email.policy
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import duckdb
import pytest
import requests
from fake_billing_servers import FakeAnthropic, FakeOpenAI, loopback
from test_email import copy_demo, demo_month  # noqa: F401

from finops import api
from finops.errors import register_secret

HOOK = Path(__file__).parent / "hooks" / "pause_load"  # sitecustomize.py: pauses a load's COMMIT


def one_line(text: str) -> str:
    """The single stderr line of an operator error (no traceback, no second line)."""
    lines = [x for x in text.splitlines() if x.strip()]
    assert len(lines) == 1, text
    assert "Traceback" not in text and "internal error" not in text
    return lines[0]


def tables(db: Path) -> dict[str, list[tuple]]:
    """Everything a run could change, whole."""
    with duckdb.connect(str(db), read_only=True) as con:
        names = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables "
                                           "WHERE table_schema = 'main' ORDER BY 1").fetchall()]
        return {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in names}


def fresh_site(demo: Path, target: Path, extra_toml: str = "") -> Path:
    """The demo's sources and config on a warehouse that has loaded nothing yet."""
    shutil.copytree(demo, target, ignore=shutil.ignore_patterns("reports", "*.lock", "*.duckdb*"))
    cfg = target / "finops.toml"
    cfg.write_text(cfg.read_text() + "\n" + extra_toml)
    return cfg


def subprocess_env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(HOOK), os.environ.get("PYTHONPATH", "")]), **extra}


# ============================================================ money never goes out from partial data

def test_nightly_on_a_fresh_warehouse_mails_no_chargeback_of_a_partial_month(cli, demo_month: Path,  # noqa: F811
                                                                             tmp_path: Path) -> None:
    # Run on the 3rd with chargeback_day = 3: the trailing window loads October 31 only.
    cfg = fresh_site(demo_month, tmp_path / "site", '[nightly]\nout_dir = "nightly"\nchargeback_day = 3\n')
    r = cli("-c", str(cfg), "nightly", "--date", "2026-11-03", "--dry-run")
    assert r.code == 3, r.err
    line = next(x for x in r.err.splitlines() if "chargeback 2026-10 not sent" in x)
    for source in ("spans", "openai", "anthropic"):
        assert f"{source} has not loaded 2026-10-01..2026-10-30" in line
    assert "run 'finops pull --month 2026-10' first" in line
    outbox = tmp_path / "site" / "nightly" / "2026-11-03" / "outbox"
    assert not any(p.name.startswith("chargeback") for p in outbox.glob("*.eml"))
    db = tables(tmp_path / "site" / "finops.duckdb")
    assert db["emails_sent"] == []  # the sent-mail ledger does not block the real month
    with duckdb.connect(str(tmp_path / "site" / "finops.duckdb"), read_only=True) as con:
        (status, errors), = con.execute("SELECT status, errors FROM runs WHERE command = 'nightly'").fetchall()
    assert status == "partial" and "chargeback 2026-10 not sent" in errors

    # Once the month is pulled and settled (from the 4th), the same night sends it.
    assert cli("-c", str(cfg), "pull", "--month", "2026-10").code == 0
    ok = cli("-c", str(cfg), "nightly", "--date", "2026-11-04", "--dry-run")
    assert ok.code == 0, ok.err
    written = sorted(p.name for p in (tmp_path / "site" / "nightly" / "2026-11-04" / "outbox").glob("chargeback*"))
    assert len(written) == 12


def test_email_refuses_a_month_not_every_source_loaded(cli, demo_month: Path, tmp_path: Path) -> None:  # noqa: F811
    cfg = fresh_site(demo_month, tmp_path / "site")
    assert cli("-c", str(cfg), "pull", "--start", "2026-10-31", "--end", "2026-11-01").code == 0
    before = tables(tmp_path / "site" / "finops.duckdb")
    r = cli("-c", str(cfg), "email", "--month", "2026-10", "--dry-run", "--out", str(tmp_path / "outbox"))
    assert r.code == 3
    line = one_line(r.err)
    assert line.startswith("finops: error: chargeback 2026-10 not sent: anthropic has not loaded "
                           "2026-10-01..2026-10-30; openai has not loaded 2026-10-01..2026-10-30; "
                           "spans has not loaded 2026-10-01..2026-10-30")
    assert line.endswith("run 'finops pull --month 2026-10' first")
    assert not (tmp_path / "outbox").exists()
    after = tables(tmp_path / "site" / "finops.duckdb")
    assert after["emails_sent"] == before["emails_sent"] == []
    assert after["usage_daily"] == before["usage_daily"] and after["billing_daily"] == before["billing_daily"]


def test_email_waits_for_a_month_to_settle(cli, demo_month: Path, tmp_path: Path) -> None:  # noqa: F811
    cfg = copy_demo(demo_month, tmp_path / "site", "")
    cfg.write_text(cfg.read_text().replace("today = 2026-11-23", "today = 2026-11-02"))
    r = cli("-c", str(cfg), "email", "--month", "2026-10", "--dry-run", "--out", str(tmp_path / "outbox"))
    assert r.code == 3
    assert "its last days are provisional" in one_line(r.err) and "settles on 2026-11-04" in r.err
    assert not (tmp_path / "outbox").exists()


def test_no_config_in_the_folder_is_a_config_error_and_creates_nothing(cli, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for args in (("report", "--month", "2026-10"), ("pull", "--month", "2026-10"), ("gate", "--month", "2026-10")):
        r = cli(*args)
        assert r.code == 2, args
        line = one_line(r.err)
        assert str(tmp_path / "finops.toml") in line and "finops init" in line
    assert list(tmp_path.iterdir()) == []  # no finops.duckdb appeared


def test_a_month_never_pulled_is_exit_3_not_an_empty_report(cli, demo_month: Path, tmp_path: Path) -> None:  # noqa: F811
    cfg = copy_demo(demo_month, tmp_path / "site", "")
    before = tables(tmp_path / "site" / "finops.duckdb")
    for args in (("report", "--month", "2026-08"), ("report", "--month", "2026-08", "--format", "json"),
                 ("report", "--month", "2026-08", "--format", "focus"), ("reconcile", "--month", "2026-08")):
        r = cli("-c", str(cfg), *args)
        assert r.code == 3, (args, r.err)
        assert r.out == ""
        line = one_line(r.err)
        assert "nothing loaded for 2026-08-01..2026-09-01" in line
        assert "run 'finops pull --month 2026-08' first" in line
    assert tables(tmp_path / "site" / "finops.duckdb") == before  # not even a ledger row
    gate = cli("-c", str(cfg), "gate", "--month", "2026-08", "--format", "json")  # fails closed, in its format
    assert gate.code == 3 and json.loads(gate.out)["status"] == "billing_missing"
    # A warehouse that does not exist is not created by a command that only reads it.
    gone = tmp_path / "elsewhere" / "finops.duckdb"
    gone.parent.mkdir()
    r = cli("-c", str(cfg), "-w", str(gone), "report", "--month", "2026-10")
    assert r.code == 3 and "does not exist: run 'finops pull' first" in one_line(r.err)
    assert list(gone.parent.iterdir()) == []


# ============================================================ config: exit 2, one line, file and key

BASE_TOML = """
[warehouse]
path = "w.duckdb"

[[sources]]
name = "spans"
kind = "otlp_files"
paths = ["spans/*.jsonl"]

[[billing]]
name = "openai"
kind = "openai_files"
costs = ["costs.json"]

[teams.search]
leads = ["ana@example.com"]
budget_usd = 100
"""

# (what is written, the key the error must name, a phrase of the error)
BAD_CONFIGS = [
    (BASE_TOML.replace('kind = "otlp_files"', 'kind = "otlp_files"\ninput_conventon = "auto"'),
     "input_conventon", "did you mean 'input_convention'?"),
    (BASE_TOML.replace('costs = ["costs.json"]', 'costs = ["costs.json"]\nusgae = ["u.json"]'),
     "usgae", "did you mean 'usage'?"),
    (BASE_TOML + '\n[[billing]]\nname = "anthropic"\nkind = "anthropic"\nbase_ur = "https://proxy.internal"\n',
     "base_ur", "did you mean 'base_url'?"),
    (BASE_TOML + '\n[reconcile]\nprovisional_days = "three"\n', "reconcile.provisional_days", "whole number"),
    (BASE_TOML + "\n[reconcile]\nprovisional_days = -1\n", "reconcile.provisional_days", "0..31"),
    (BASE_TOML + '\n[gate]\nmax_drift_pct = "five"\n', "gate.max_drift_pct", "must be a number"),
    (BASE_TOML + "\n[gate]\nmax_drift_pct = -1\n", "gate.max_drift_pct", "≥ 0"),
    (BASE_TOML.replace("budget_usd = 100", 'budget_usd = "lots"'), "teams.search.budget_usd", "must be a number"),
    (BASE_TOML.replace("budget_usd = 100", "budget_usd = -100"), "teams.search.budget_usd", "≥ 0"),
    (BASE_TOML.replace('[teams.search]\nleads = ["ana@example.com"]\nbudget_usd = 100', "[teams]\nsearch = 5"),
     "teams.search", "must be a table"),
    (BASE_TOML.replace('kind = "otlp_files"', 'kind = "otlp_files"\ninput_convention = 5'),
     "sources.spans.input_convention", "auto"),
    (BASE_TOML.replace('leads = ["ana@example.com"]', 'leads = ["not an address"]'), "teams.search.leads",
     "is not an email address"),
    (BASE_TOML.replace('paths = ["spans/*.jsonl"]', "paths = 5"), "sources.spans.paths", "list of file paths"),
    (BASE_TOML + "\n[budgets]\nthresholds = [-10, 50]\n", "budgets.thresholds", "positive"),
    (BASE_TOML + "\n[budgets]\nearly_pct = -5\n", "budgets.early_pct", "percent"),
    (BASE_TOML + "\n[anomalies]\nmin_cost_usd = -1\n", "min_cost_usd", ">= 0"),
    (BASE_TOML.replace('kind = "openai_files"', 'kind = "openai_filez"'), "billing.openai",
     "unknown kind 'openai_filez'"),
    (BASE_TOML.replace('kind = "otlp_files"', 'kind = "otlp_files"\nworkers = "many"'), "workers",
     "positive integer"),
]


@pytest.mark.parametrize(("toml", "key", "phrase"), BAD_CONFIGS, ids=[k for _, k, _ in BAD_CONFIGS])
@pytest.mark.parametrize("command", [("report", "--month", "2026-10"), ("sources", "check")],
                         ids=["report", "sources-check"])
def test_every_config_mistake_is_exit_2_naming_file_and_key(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            toml: str, key: str, phrase: str,
                                                            command: tuple[str, ...]) -> None:
    monkeypatch.delenv("ANTHROPIC_ADMIN_KEY", raising=False)  # the check reads no secret
    cfg = tmp_path / "finops.toml"
    cfg.write_text(toml)
    r = cli("-c", str(cfg), *command)
    assert r.code == 2, r.err
    line = one_line(r.err)
    assert str(cfg) in line and key in line and phrase in line, line
    assert not (tmp_path / "w.duckdb").exists()


def test_a_string_where_a_list_is_expected_is_a_list_of_one(tmp_path: Path) -> None:
    cfg = tmp_path / "finops.toml"
    cfg.write_text(BASE_TOML.replace('paths = ["spans/*.jsonl"]', 'paths = "spans/one.jsonl"')
                   .replace('leads = ["ana@example.com"]', 'leads = "ana@example.com"'))
    config = api.load_config(cfg)
    assert config.span_sources[0].options["paths"] == [str(tmp_path / "spans" / "one.jsonl")]  # not letters
    assert config.teams["search"].leads == ("ana@example.com",)


def test_the_starter_config_documents_and_loads_every_kind(tmp_path: Path) -> None:
    from finops.api.pull import BILLING_KINDS, SPAN_KINDS
    from finops.starter import STARTER

    for kind in [*SPAN_KINDS, *BILLING_KINDS]:
        assert f'kind = "{kind}"' in STARTER or f'"{kind}"' in STARTER, kind
    cfg = tmp_path / "finops.toml"
    api.init(cfg)
    assert len(api.load_config(cfg).billing_sources) == 2  # the keys are named, not needed to load


# ============================================================ sources check checks every source

def _site_with(tmp_path: Path, toml: str) -> Path:
    cfg = tmp_path / "finops.toml"
    cfg.write_text('[warehouse]\npath = "w.duckdb"\n' + toml)
    return cfg


def test_sources_check_fails_for_an_admin_api_without_its_key(cli, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_ADMIN_KEY", raising=False)
    cfg = _site_with(tmp_path, '[[billing]]\nname = "openai"\nkind = "openai"\n')
    r = cli("-c", str(cfg), "sources", "check")
    assert r.code == 3
    assert "environment variable OPENAI_ADMIN_KEY is not set" in r.out
    assert "nothing to check" not in r.out


def test_sources_check_fails_on_a_closed_port(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("ANTHROPIC_ADMIN_KEY", "sk-ant-admin01-" + "x" * 40)
    cfg = _site_with(tmp_path, f'[[billing]]\nname = "anthropic"\nkind = "anthropic"\n'
                               f'base_url = "http://127.0.0.1:{port}"\n')
    r = cli("-c", str(cfg), "sources", "check")
    assert r.code == 3
    assert "cannot connect" in r.out and str(port) in r.out


def test_sources_check_makes_one_small_authorised_request_per_report(cli, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    key = "sk-admin-" + "k" * 40
    monkeypatch.setenv("OPENAI_ADMIN_KEY", key)
    with loopback() as server:
        fake = FakeOpenAI(server, key)
        cfg = _site_with(tmp_path, f'[[billing]]\nname = "openai"\nkind = "openai"\nbase_url = "{fake.base_url}"\n')
        ok = cli("-c", str(cfg), "sources", "check")
        assert ok.code == 0, ok.out + ok.err
        assert "OPENAI_ADMIN_KEY is set" in ok.out and ok.out.count("authorised") == 2
        assert [q["limit"] for q in (fake.requests("costs") + fake.requests("usage"))] == [["1"], ["1"]]
        monkeypatch.setenv("OPENAI_ADMIN_KEY", "sk-admin-" + "w" * 40)  # a wrong key
        bad = cli("-c", str(cfg), "sources", "check")
        assert bad.code == 3 and "HTTP 401" in bad.out


def test_sources_check_fails_when_tempo_refuses_the_credentials(cli, tmp_path: Path, httpserver,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEMPO_TOKEN", "glc_" + "t" * 30)
    httpserver.expect_request(re.compile(".*")).respond_with_data("unauthorized", status=401)
    cfg = _site_with(tmp_path, f'[[sources]]\nname = "tempo"\nkind = "tempo"\nurl = "{httpserver.url_for("/")}"\n'
                               'token_env = "TEMPO_TOKEN"\n')
    r = cli("-c", str(cfg), "sources", "check")
    assert r.code == 3, r.out
    assert "HTTP 401" in r.out


def test_sources_check_reads_span_files(cli, demo_month: Path, tmp_path: Path) -> None:  # noqa: F811
    cfg = fresh_site(demo_month, tmp_path / "site")
    cfg.write_text(re.sub(r', "2026-09/[^"]+"', "", cfg.read_text()))  # October's files only
    ok = cli("-c", str(cfg), "sources", "check")
    assert ok.code == 0, ok.out + ok.err
    assert "first and last line parse; spans from 2026-10-01" in ok.out
    assert "days 2026-10-01..2026-10-31" in ok.out  # the saved billing pages
    cfg.write_text(cfg.read_text().replace('paths = ["spans/*.jsonl.gz"]', 'paths = ["spanz/*.jsonl.gz"]'))
    bad = cli("-c", str(cfg), "sources", "check")
    assert bad.code == 3 and "matched no files" in bad.out
    (tmp_path / "site" / "spans" / "broken.jsonl").write_text('{"resourceSpans": [\n')
    cfg.write_text(cfg.read_text().replace('paths = ["spanz/*.jsonl.gz"]', 'paths = ["spans/*"]'))
    broken = cli("-c", str(cfg), "sources", "check")
    assert broken.code == 3 and "broken.jsonl:1: not a valid OTLP JSON line" in broken.out


# ============================================================ one line, never 70, for what an operator can cause

@pytest.mark.parametrize("args", [
    ("report", "--month", "2026-10", "--format", "html", "--out", "{blocker}/reports"),
    ("report", "--month", "2026-10", "--format", "focus", "--out", "{blocker}/focus.csv"),
    ("email", "--month", "2026-10", "--dry-run", "--out", "{blocker}/outbox"),
    ("nightly", "--date", "2026-11-05", "--dry-run"),
], ids=["html", "focus", "email-dry-run", "nightly-out_dir"])
def test_an_unwritable_out_is_one_line_naming_the_path(cli, demo_month: Path, tmp_path: Path,  # noqa: F811
                                                       args: tuple[str, ...]) -> None:
    blocker = tmp_path / "blocker"  # a file where a folder should be: unwritable even for root
    blocker.write_text("not a folder")
    cfg = copy_demo(demo_month, tmp_path / "site", f'[nightly]\nout_dir = "{blocker}/nightly"\nchargeback_day = 0\n')
    r = cli("-c", str(cfg), *[a.format(blocker=blocker) for a in args])
    assert r.code == 3, r.err
    line = one_line(r.err)
    assert line.startswith(f"finops: error: {blocker}") and "a file is in the way where a folder is needed" in line


def test_out_with_a_file_suffix_is_a_file(cli, demo_month: Path, tmp_path: Path) -> None:  # noqa: F811
    cfg = copy_demo(demo_month, tmp_path / "site", "")
    for fmt in ("html", "json", "csv"):
        target = tmp_path / "out" / f"report.{fmt}"
        r = cli("-c", str(cfg), "report", "--month", "2026-10", "--format", fmt, "--out", str(target))
        assert r.code == 0, r.err
        assert target.is_file() and f"wrote {target}" in r.err
    wrong = cli("-c", str(cfg), "report", "--month", "2026-10", "--format", "html", "--out", str(tmp_path / "r.csv"))
    assert wrong.code == 2 and "--format html writes a .html file or a folder" in one_line(wrong.err)


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 24 MB tmpfs (a real full disk: ENOSPC from the kernel); skipped where mounting is not allowed."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mnt)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _fill(disk: Path) -> Path:
    """Fill the disk but for 64 KB: the lock file's few bytes fit, DuckDB's next write does not."""
    reserve = disk / "reserve"
    reserve.write_bytes(b"\0" * 65536)
    filler = disk / "filler"
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    reserve.unlink()
    return filler


def test_a_full_disk_during_a_pull_is_one_line_and_keeps_the_warehouse(demo_month: Path, tmp_path: Path,  # noqa: F811
                                                                       small_disk: Path) -> None:
    cfg = fresh_site(demo_month, tmp_path / "site")
    db = small_disk / "finops.duckdb"
    finops = [sys.executable, "-m", "finops", "-c", str(cfg), "-w", str(db)]
    first = subprocess.run([*finops, "pull", "--start", "2026-10-01", "--end", "2026-10-02"],
                           capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr
    before = tables(db)
    filler = _fill(small_disk)
    full = subprocess.run([*finops, "pull", "--month", "2026-10"], capture_output=True, text=True, timeout=600)
    assert full.returncode == 3, full.stderr
    line = one_line(full.stderr)
    assert line.startswith("finops: error: warehouse: ") and "No space left on device" in line, line
    assert f'Could not write file "{db}.wal"' in line and "cannot rollback" not in line
    filler.unlink()
    after = tables(db)
    for t in ("usage_daily", "billing_daily", "load_windows"):
        assert after[t] == before[t], t  # nothing half-loaded
    retry = subprocess.run([*finops, "pull", "--month", "2026-10"], capture_output=True, text=True, timeout=600)
    assert retry.returncode == 0, retry.stderr
    runs = tables(db)["runs"]
    assert [r[4] for r in runs if r[4] not in ("ok",)] == ["failed"]  # the failed run says so
    assert "No space left on device" in next(r[9] for r in runs if r[4] == "failed")


def _start_paused(cfg: Path, marker: Path, *args: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "finops", "-c", str(cfg), *args],
                            env=subprocess_env(FINOPS_TEST_PAUSE_LOAD=str(marker)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not marker.exists():
        if proc.poll() is not None:
            raise AssertionError(f"finops exited early ({proc.returncode}): {proc.stderr.read()}")
        assert time.monotonic() < deadline, "never reached the paused load"
        time.sleep(0.1)
    return proc


def test_ctrl_c_says_interrupted_and_exits_130(demo_month: Path, tmp_path: Path) -> None:  # noqa: F811
    cfg = copy_demo(demo_month, tmp_path / "site", "")
    before = tables(tmp_path / "site" / "finops.duckdb")
    proc = _start_paused(cfg, tmp_path / "paused", "pull", "--month", "2026-10")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert one_line(err) == "finops: interrupted"
    assert "Exception ignored" not in err
    after = tables(tmp_path / "site" / "finops.duckdb")
    assert after["usage_daily"] == before["usage_daily"]
    assert [r[4] for r in after["runs"] if r not in before["runs"]] == ["interrupted"]


# ============================================================ email and names

def _rename_teams(site: Path, renames: dict[str, str], accounts: dict[str, str] | None = None) -> None:
    with duckdb.connect(str(site.parent / "finops.duckdb")) as con:
        for old, new in renames.items():
            con.execute("UPDATE usage_daily SET team = ? WHERE team = ?", [new, old])
        for old, new in (accounts or {}).items():
            con.execute("UPDATE usage_daily SET account = ? WHERE account = ?", [new, old])
            con.execute("UPDATE billing_daily SET account = ? WHERE account = ?", [new, old])
        # an edit made outside finops: the stored results are recomputed (as 'reconcile --force' would)
        con.execute("DELETE FROM recon_state")


def test_any_unicode_team_name_gets_its_email(cli, demo_month: Path, tmp_path: Path) -> None:  # noqa: F811
    names = {"docs": "données", "growth": "growth\nteam", "legal": "法务"}
    extra = "".join(f'\n[teams.{json.dumps(n)}]\nleads = ["{i}@example.com"]\n' for i, n in enumerate(names.values()))
    cfg = copy_demo(demo_month, tmp_path / "site", extra)
    _rename_teams(cfg, names)
    r = cli("-c", str(cfg), "email", "--month", "2026-10", "--dry-run", "--out", str(tmp_path / "outbox"))
    assert r.code == 0, r.err
    emls = sorted((tmp_path / "outbox").glob("*.eml"))
    assert len(emls) == 13  # every team with leads, and the demo's finance summary
    subjects = {}
    for path in emls:
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert str(msg["Message-ID"]).isascii()
        subjects[str(msg["Subject"])] = msg
    for i, name in enumerate(names.values()):
        flat = " ".join(name.split())
        (msg,) = [m for s, m in subjects.items() if f"· {flat}:" in s]
        assert msg["To"] == f"{i}@example.com"
        html = msg.get_body(("html",)).get_content()
        assert name.split()[0] in html
        for part in msg.walk():
            assert str(part.get("Content-ID", "")).isascii()


def test_one_teams_failure_does_not_stop_the_others(cli, demo_month: Path, tmp_path: Path,  # noqa: F811
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import finops.mail.deliver as deliver

    real = deliver.chargeback_email

    def broken_for_docs(report, team, to, cfg):  # noqa: ANN001, ANN202
        if team.team == "docs":
            raise ValueError("a header the email package refuses")
        return real(report, team, to, cfg)

    monkeypatch.setattr(deliver, "chargeback_email", broken_for_docs)
    cfg = copy_demo(demo_month, tmp_path / "site", "")
    r = cli("-c", str(cfg), "email", "--month", "2026-10", "--dry-run", "--out", str(tmp_path / "outbox"))
    assert r.code == 3
    assert "chargeback docs -> dot.docs@example.com: message not built: ValueError" in r.err
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 12  # every other team, and finance's summary


def test_csv_cells_that_are_formulas_are_made_inert(cli, demo_month: Path, tmp_path: Path) -> None:  # noqa: F811
    cfg = copy_demo(demo_month, tmp_path / "site", "")
    _rename_teams(cfg, {"docs": '=HYPERLINK("http://evil.example","x")', "growth": "+1+2", "legal": "@SUM(A1)",
                        "risk": "-2+3"}, accounts={"proj_search": "=cmd|' /C calc'!A0"})
    r = cli("-c", str(cfg), "report", "--month", "2026-10", "--format", "csv")
    assert r.code == 0, r.err
    rows = list(csv.DictReader(io.StringIO(r.out)))
    teams = {row["team"] for row in rows}
    assert {"'=HYPERLINK(\"http://evil.example\",\"x\")", "'+1+2", "'@SUM(A1)", "'-2+3"} <= teams
    assert not any(t[:1] in "=+-@" for t in teams)
    drifts = [row["drift_pct"] for row in rows if row["drift_pct"].startswith("-")]
    assert drifts and all(float(d) < 0 for d in drifts)  # a negative number stays a number

    focus = cli("-c", str(cfg), "report", "--month", "2026-10", "--format", "focus")
    assert focus.code == 0, focus.err
    frows = list(csv.DictReader(io.StringIO(focus.out)))
    subs = {row["SubAccountId"] for row in frows}
    # (pooled rows have no single project: their SubAccountId is empty)
    assert "'=cmd|' /C calc'!A0" in subs and not any(s and s[0] in "=+-@" for s in subs)
    for row in frows:
        for value in row.values():
            assert value[:1] not in ("=", "+", "@"), value
        float(row["BilledCost"])  # numbers stay numbers


# ============================================================ secrets

def _response(status: int, body: str) -> requests.Response:
    r = requests.Response()
    r.status_code, r._content, r.encoding = status, body.encode(), "utf-8"
    return r


def test_a_key_straddling_the_excerpt_cut_is_redacted_whole() -> None:
    from finops.billing.admin_api import error_message
    from finops.http import body_excerpt

    key = "k3yStraddle" + "Q" * 29  # 40 characters, registered like every key read from the environment
    register_secret(key)
    text = "x" * 280 + key + " tail"  # the cut at 300 falls inside the key
    for out in (body_excerpt(_response(500, text)), error_message(_response(401, json.dumps({"error": {"message": text}})))):
        assert "k3yStraddle" not in out and "QQQQ" not in out, out
        assert "***" in out


def test_credentials_never_follow_a_redirect_to_another_host(monkeypatch: pytest.MonkeyPatch) -> None:
    from finops.billing import anthropic
    from finops.config import BillingSource
    from finops.errors import SourceError

    key = "sk-ant-admin01-" + "r" * 40
    monkeypatch.setenv("ANTHROPIC_ADMIN_KEY", key)
    with loopback() as home, loopback() as elsewhere:
        target = f"http://localhost:{elsewhere.port}/v1/organizations/cost_report"
        home.expect_request(re.compile(".*")).respond_with_data("", status=302, headers={"Location": target})
        elsewhere.expect_request(re.compile(".*")).respond_with_data("{}", status=200)
        source = BillingSource("anthropic", "anthropic", {"base_url": f"http://127.0.0.1:{home.port}"})
        with pytest.raises(SourceError, match="redirected to another host") as err:
            anthropic.pull(source, date(2026, 10, 1), date(2026, 10, 2), sleep=lambda s: None)
        assert key not in str(err.value)
        assert elsewhere.log == []  # the key never reached the other host


def test_the_anthropic_401_hint_reads_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    from finops.billing import anthropic
    from finops.config import BillingSource
    from finops.errors import SourceError, redact

    monkeypatch.setenv("ANTHROPIC_ADMIN_KEY", "sk-ant-api03-" + "a" * 40)
    with loopback() as server:
        FakeAnthropic(server, "sk-ant-admin01-" + "b" * 40)
        source = BillingSource("anthropic", "anthropic", {"base_url": f"http://127.0.0.1:{server.port}"})
        with pytest.raises(SourceError) as err:
            anthropic.pull(source, date(2026, 10, 1), date(2026, 10, 2), sleep=lambda s: None)
    line = redact(str(err.value))
    assert "an Admin API key is required (sk-ant-admin…), not an API key" in line and "(***…)" not in line


# ============================================================ runs and the ledger

def test_pull_and_reconcile_are_refused_while_a_run_holds_the_warehouse(cli, demo_month: Path,  # noqa: F811
                                                                        tmp_path: Path) -> None:
    cfg = copy_demo(demo_month, tmp_path / "site", "")
    proc = _start_paused(cfg, tmp_path / "paused", "pull", "--month", "2026-10")
    try:
        for args in (("pull", "--month", "2026-10"), ("reconcile", "--month", "2026-10"),
                     ("report", "--month", "2026-10")):
            r = cli("-c", str(cfg), *args)
            assert r.code == 3, (args, r.err)
            line = one_line(r.err)
            assert "is locked by another finops run" in line and f"pid {proc.pid}, 'pull'" in line, line
            assert "Conflicting lock" not in line  # finops' message, not DuckDB's
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)


def test_a_killed_pull_is_marked_killed_by_the_next_run(cli, demo_month: Path, tmp_path: Path) -> None:  # noqa: F811
    cfg = copy_demo(demo_month, tmp_path / "site", "")
    before = tables(tmp_path / "site" / "finops.duckdb")
    proc = _start_paused(cfg, tmp_path / "paused", "pull", "--month", "2026-10")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    dead = [r for r in tables(tmp_path / "site" / "finops.duckdb")["runs"] if r not in before["runs"]]
    assert [r[4] for r in dead] == ["running"]
    assert cli("-c", str(cfg), "report", "--month", "2026-10").code == 0  # any next run
    after = {r[0]: r for r in tables(tmp_path / "site" / "finops.duckdb")["runs"]}
    assert after[dead[0][0]][4] == "killed" and "killed" in after[dead[0][0]][9]


# ============================================================ CI gate and terminal output

def test_the_gate_headline_agrees_with_its_rows(cli, demo_month: Path, tmp_path: Path) -> None:  # noqa: F811
    cfg = copy_demo(demo_month, tmp_path / "site", "")
    # At ±4.6 %: the organisation (-4.40 %) passes, openai (-4.71 %) does not.
    md = cli("-c", str(cfg), "gate", "--month", "2026-10", "--max-drift", "4.6", "--format", "markdown")
    assert md.code == 0, md.err
    assert md.out.startswith("### finops gate 2026-10: **PASS**")
    assert "❌" not in md.out  # no red cross under a pass
    assert "| openai |" in md.out and "⚠️ not gated" in md.out and "openai outside ±4.6 % (not gated" in md.out
    text = cli("-c", str(cfg), "gate", "--month", "2026-10", "--max-drift", "4.6", "--per-provider")
    assert text.code == 1
    assert text.out.splitlines()[0].startswith("finops gate 2026-10: FAIL (openai drift -4.71 % outside ±4.6 %)")
    pm = cli("-c", str(cfg), "gate", "--month", "2026-10", "--max-drift", "4.6", "--per-provider", "--format", "markdown")
    assert pm.out.startswith("### finops gate 2026-10: **FAIL**: openai drift -4.71 % outside ±4.6 %")
    js = json.loads(cli("-c", str(cfg), "gate", "--month", "2026-10", "--max-drift", "4.6", "--per-provider",
                        "--format", "json").out)
    assert js["failed"] == ["openai drift -4.71 % outside ±4.6 %"]


def test_no_number_is_truncated_at_80_columns(demo_month: Path) -> None:  # noqa: F811
    from rich.console import Console

    from finops.present import anomaly_tables, price_table, unpriced_table

    cfg = api.load_config(demo_month / "finops.toml")
    day = date(2026, 10, 15)
    prices = api.pricing_table(cfg, day)
    check = api.pricing_check(cfg)
    anomalies = api.anomalies(cfg, as_of=date(2026, 10, 22))
    console = Console(width=80, record=True, file=io.StringIO())
    for t in [price_table(prices, day, 80), unpriced_table(check.rows, 80), *anomaly_tables(anomalies, 80)]:
        console.print(t)
    screen = console.export_text()
    assert max(len(line) for line in screen.splitlines()) <= 80
    assert not re.search(r"\d…|…\d|\d\.…", screen), screen
    numbers = {f"{r['tokens']:,}" for r in check.rows}
    numbers |= {f"{w.current_output_tokens:,}" for w in anomalies.teams}
    numbers |= {f"{v.normalize():f}" for v in prices["output"].drop_nulls()}
    for n in numbers:
        assert re.search(rf"(?<![\d.,]){re.escape(n)}(?![\d,]|\.\d)", screen), n
