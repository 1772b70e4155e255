"""``finops demo``: generate a month, load it into a fresh DuckDB file, reconcile, report."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from finops.api.month import report
from finops.api.pull import PullResult, pull
from finops.config import load_config
from finops.demo.generate import DemoData, demo_config, generate
from finops.errors import DataError
from finops.frames import ProgressFn
from finops.report.model import Report, previous_month
from finops.report.write import write_report
from finops.windows import month_window

__all__ = ["DemoResult", "run_demo"]


@dataclass
class DemoResult:
    """Where the demo wrote things, and its report."""

    report: Report
    html_path: Path
    warehouse: Path
    config_path: Path
    data: DemoData
    pulled: PullResult


def run_demo(out_dir: Path, *, seed: int = 7, month: str = "2026-10",
             progress: ProgressFn | None = None) -> DemoResult:
    """Generate ``month`` (and the month before, for month over month), load, reconcile, write the reports."""
    window = month_window(month)
    previous = previous_month(window)
    out_dir.mkdir(parents=True, exist_ok=True)
    if progress:
        progress("generate demo month", 0, 1)
    data = generate(out_dir, window, seed=seed)
    before = previous.label() if previous else None
    if previous is not None:  # its own folder and random stream: the demo month stays as it was
        generate(out_dir / previous.label(), previous, seed=seed + 1, growth=False)
    if progress:
        progress("generate demo month", 1, 1)
    config_path = out_dir / "finops.toml"
    # "today" is pinned well after the month so every day is settled and runs repeat exactly.
    config_path.write_text(demo_config(out_dir, window, window.window_end + timedelta(days=22), before))
    warehouse = out_dir / "finops.duckdb"
    for stale in (warehouse, warehouse.with_suffix(".duckdb.wal")):
        stale.unlink(missing_ok=True)
    config = load_config(config_path)
    if previous is not None:
        earlier = pull(config, previous, progress=progress)
        if earlier.failed:
            raise DataError("; ".join(f"{s.name}: {s.error}" for s in earlier.failed))
    pulled = pull(config, window, progress=progress)
    if pulled.failed:
        raise DataError("; ".join(f"{s.name}: {s.error}" for s in pulled.failed))
    rep = report(config, window)
    paths = write_report(rep, out_dir / "reports", fmt="table")
    return DemoResult(rep, paths[0], warehouse, config_path, data, pulled)
