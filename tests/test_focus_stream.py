"""The FOCUS export streamed from DuckDB in batches writes the same file as the whole frame."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from finops import api
from finops.api.demo import DemoResult
from finops.config import load_config
from finops.report.focus import columns, focus_batches, render_focus_csv, write_focus_batches
from finops.warehouse import open_warehouse


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_batches_write_the_same_csv_and_parquet_as_the_whole_frame(demo_result: DemoResult, tmp_path: Path,
                                                                    version: str) -> None:
    config = load_config(demo_result.config_path)
    window = demo_result.report.window
    whole = api.export(config, window, "focus", focus_version=version)
    assert whole.frame is not None and whole.frame.height > 500
    with open_warehouse(config.warehouse, "report", create=False) as con:
        rep = api.report(config, window)
        csv_path, pq_path = tmp_path / "f.csv", tmp_path / "f.parquet"
        frames = list(focus_batches(con, window, rep, version, batch_rows=97))
        assert len(frames) > 5 and all(f.height <= 97 for f in frames)
        n = write_focus_batches(iter(frames), csv_path)
        write_focus_batches(focus_batches(con, window, rep, version, batch_rows=97), pq_path)
    assert n == whole.frame.height
    assert csv_path.read_text(encoding="utf-8") == whole.text == render_focus_csv(whole.frame)
    parquet = pl.read_parquet(pq_path)
    assert parquet.schema == whole.frame.schema and parquet.equals(whole.frame)
    assert parquet["BilledCost"].sum() == demo_result.report.billed_total
    # 1.3's columns only in 1.3
    assert ("AllocatedMethodDetails" in parquet.columns) == (version == "1.3")
    assert parquet.columns == columns(version)


def test_cli_out_streams_and_a_team_without_rows_still_gets_a_header(demo_result: DemoResult,
                                                                     tmp_path: Path, cli) -> None:
    config = load_config(demo_result.config_path)
    window = demo_result.report.window
    team = demo_result.report.teams[0].team
    out = tmp_path / "team.csv"
    run = cli("-c", str(demo_result.config_path), "report", "--month", window.label(), "--format", "focus",
              "--team", team, "--out", str(out))
    assert run.code == 0, run.err
    want = api.export(config, window, "focus", team=team).text
    assert out.read_text(encoding="utf-8") == want
    with open_warehouse(config.warehouse, "report", create=False) as con:
        rep = api.report(config, window)
        empty = tmp_path / "none.csv"
        assert write_focus_batches(focus_batches(con, window, rep, "1.2", team="no such team"), empty) == 0
    assert empty.read_text(encoding="utf-8").splitlines() == [",".join(columns("1.2"))]


@pytest.mark.parametrize(("operator", "polars_first", "want"), [
    (None, False, "dirty_decay_ms:1000,muzzy_decay_ms:1000"),  # the export keeps freed pages a second
    (None, True, "unchanged"),  # too late: polars has read the variable
    ("narenas:1", False, "narenas:1"),  # the operator's own setting wins
])
def test_the_export_allocator_policy(operator: str | None, polars_first: bool, want: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "_RJEM_MALLOC_CONF"}
    if operator is not None:
        env["_RJEM_MALLOC_CONF"] = operator
    code = ("import os, finops; " + ("import polars; " if polars_first else "")
            + "before = os.environ['_RJEM_MALLOC_CONF']; finops.keep_freed_pages(); "
            + "after = os.environ['_RJEM_MALLOC_CONF']; "
            + f"print('unchanged' if {polars_first} and after == before else after)")
    got = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert got.stdout.strip() == want
