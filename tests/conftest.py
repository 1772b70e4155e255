"""Shared fixtures: a price directory, a config, a warehouse file, and a CLI runner."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from builders import write_prices  # noqa: E402

from finops.config import Config, parse_config  # noqa: E402


@pytest.fixture
def prices_dir(tmp_path: Path) -> Path:
    """A small price directory (gpt-4o, gpt-4o-mini, claude-sonnet-4)."""
    return write_prices(tmp_path / "pricing")


@pytest.fixture
def config(tmp_path: Path, prices_dir: Path) -> Config:
    """A config on a fresh warehouse file, with the small price table and one account rule."""
    return parse_config({
        "warehouse": {"path": str(tmp_path / "w.duckdb")},
        "pricing": {"dir": str(prices_dir)},
        "reconcile": {"today": __import__("datetime").date(2026, 11, 23)},
        "teams": {"ops": {"accounts": [{"provider": "openai", "account": "proj_ops"}]}},
    })


@dataclass
class Run:
    """The outcome of one CLI invocation."""

    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]):
    """Run ``finops`` in-process; any exception other than SystemExit is re-raised (a bug)."""
    from finops.cli import main

    def run(*args: str) -> Run:
        capsys.readouterr()
        try:
            main(list(args))
            code = 0
        except SystemExit as e:
            code = int(e.code or 0) if not isinstance(e.code, str) else 1
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run


@pytest.fixture(scope="session")
def demo_result(tmp_path_factory: pytest.TempPathFactory):
    """The demo month, generated, loaded and reconciled once per test session.

    Tests must treat it as read-only (copy the folder to change anything): several
    modules share it.
    """
    from finops.api.demo import run_demo
    return run_demo(tmp_path_factory.getbasetemp() / "demo-month", seed=7)
