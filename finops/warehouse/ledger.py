"""The run ledger (``runs``): every command that touches the warehouse records itself.

A run is inserted as ``running`` and finished as ``ok``, ``partial`` (errors recorded, the
command went on), ``failed`` or ``interrupted``. A run still ``running`` when the next run
holds the warehouse lock was killed; :func:`mark_killed` says so.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import duckdb

from finops.errors import redact
from finops.windows import Window

__all__ = ["Run", "ledger", "mark_killed"]


@dataclass
class Run:
    """The ledger row of a run in progress: the command adds its rows and errors."""

    run_id: str
    rows: int = 0
    errors: list[str] = field(default_factory=list)
    note: str | None = None  # e.g. "using stored results for 2026-10 (inputs unchanged since ...)"


@contextmanager
def ledger(con: duckdb.DuckDBPyConnection, command: str, window: Window | None,
           sources: list[str] | None = None) -> Iterator[Run]:
    """Record a run in the ``runs`` table: started, then ok, partial or failed with the error."""
    run = Run(uuid.uuid4().hex[:12])
    started = time.monotonic()
    con.execute(
        "INSERT INTO runs (run_id, command, started_at, status, window_start, window_end, sources) "
        "VALUES (?, ?, now()::TIMESTAMP, 'running', ?, ?, ?)",
        [run.run_id, command, window.window_start if window else None,
         window.window_end if window else None, sources or []],
    )
    status = "ok"
    try:
        yield run
    except BaseException as e:
        status = "interrupted" if isinstance(e, KeyboardInterrupt) else "failed"
        run.errors.append(redact(str(e)) or type(e).__name__)
        raise
    finally:
        if run.errors and status == "ok":
            status = "partial"
        try:
            con.execute(
                "UPDATE runs SET finished_at = now()::TIMESTAMP, status = ?, rows = ?, errors = ?, "
                "duration_s = ?, note = ? WHERE run_id = ?",
                [status, run.rows, "; ".join(run.errors) or None,
                 round(time.monotonic() - started, 3), run.note, run.run_id],
            )
        except duckdb.Error:
            # The warehouse itself failed (a full disk): the run's own error is the one that
            # names the cause. The row stays 'running' and the next run marks it 'killed'.
            if status in ("ok", "partial"):
                raise


def mark_killed(con: duckdb.DuckDBPyConnection, command: str | None = None) -> int:
    """Mark runs still ``running`` (of ``command``, or of every command) as ``killed``.

    Call it holding the warehouse lock, before the run records itself: every writing
    command takes the lock, so a run still ``running`` then is a dead process's. Returns
    how many rows were marked.
    """
    where, params = ("AND command = ?", [command]) if command else ("", [])
    row = con.execute(f"UPDATE runs SET status = 'killed', errors = coalesce(errors, "
                      f"'killed: the process ended without finishing') WHERE status = 'running' {where} "
                      "RETURNING run_id", params).fetchall()
    return len(row)
