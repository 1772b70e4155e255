"""The manifest of a file span source (``span_files``) and the days it has loaded (``span_file_days``).

A file source (``otlp_files``) is given the manifest before a pull (:func:`file_state`) and
returns only the window days it re-read; :func:`window_frame` puts the source's other window
days back beside them, so that :func:`finops.warehouse.load.replace_window` still replaces the
whole window in one transaction. :func:`save_state` then records the new manifest. It runs
after the window is replaced: a failure in between leaves a manifest older than the rows,
which only makes the next pull read more, never count twice.
"""

from __future__ import annotations

import json
from datetime import date

import duckdb
import polars as pl

from finops.frames import FileEntry, FileState
from finops.schemas import USAGE_SCHEMA
from finops.warehouse.db import fetch_frame, register_frame, transaction

_EPOCH = date(1970, 1, 1).toordinal()


def _day(d: date) -> int:
    return d.toordinal() - _EPOCH


def _date(n: int) -> date:
    return date.fromordinal(n + _EPOCH)


def file_state(con: duckdb.DuckDBPyConnection, source: str) -> FileState:
    """The source's manifest and loaded days, as the last pull left them."""
    files = []
    for (path, size, mtime_ns, fp, days, lines, spans, llm, status, note) in con.execute(
            "SELECT path, size, mtime_ns, fingerprint, days, lines, spans, llm_spans, status, note "
            "FROM span_files WHERE source = ? ORDER BY path", [source]).fetchall():
        got = None if days is None else frozenset(_day(date.fromisoformat(d)) for d in json.loads(days))
        files.append(FileEntry(path, size, mtime_ns, fp, got, status, lines or 0, spans or 0,
                               llm or 0, note))
    loaded = {_day(d): plan for d, plan in con.execute(
        "SELECT day, plan FROM span_file_days WHERE source = ?", [source]).fetchall()}
    return FileState(files, loaded)


def window_frame(con: duckdb.DuckDBPyConnection, source: str, window_start: date, window_end: date,
                 frame: pl.DataFrame, days: list[date]) -> pl.DataFrame:
    """``frame`` (the re-read ``days``) with the source's rows of the window's other days."""
    kept = fetch_frame(
        con, f"SELECT {', '.join(USAGE_SCHEMA)} FROM usage_daily WHERE source = ? AND day >= ? "
        "AND day < ? AND NOT list_contains(?::DATE[], day)",
        [source, window_start, window_end, days])
    if not kept.height:
        return frame
    return pl.concat([kept.cast(USAGE_SCHEMA), frame.select(list(USAGE_SCHEMA)).cast(USAGE_SCHEMA)])


def save_state(con: duckdb.DuckDBPyConnection, source: str, files: list[FileEntry], days: list[date],
               plan: str, run_id: str | None) -> None:
    """Record the manifest (it replaces the source's) and the days now loaded under ``plan``."""
    rows = [(source, e.path, e.size, e.mtime_ns, e.fingerprint,
             _date(min(e.days)) if e.days else None, _date(max(e.days)) if e.days else None,
             None if e.days is None else json.dumps([_date(d).isoformat() for d in sorted(e.days)]),
             e.lines, e.spans, e.llm_spans, e.status, e.note, run_id) for e in files]
    # one INSERT from a frame: a row-by-row executemany costs about a millisecond a file,
    # which a year of daily files turns into most of a nightly pull
    manifest = pl.DataFrame(rows, schema=_MANIFEST_SCHEMA, orient="row")
    loaded = pl.DataFrame({"source": [source] * len(days), "day": days,
                           "plan": [plan] * len(days), "run_id": [run_id] * len(days)},
                          schema={"source": pl.String, "day": pl.Date, "plan": pl.String,
                                  "run_id": pl.String})
    try:
        with transaction(con):
            register_frame(con, "_manifest", manifest)
            register_frame(con, "_loaded", loaded)
            con.execute("DELETE FROM span_files WHERE source = ?", [source])
            con.execute(
                "INSERT INTO span_files (source, path, size, mtime_ns, fingerprint, day_lo, day_hi, "
                "days, lines, spans, llm_spans, status, note, read_at, run_id) SELECT source, path, "
                "size, mtime_ns, fingerprint, day_lo, day_hi, days, lines, spans, llm_spans, status, "
                "note, now()::TIMESTAMP, run_id FROM _manifest")
            con.execute("INSERT OR REPLACE INTO span_file_days SELECT source, day, plan, run_id "
                        "FROM _loaded")
    finally:
        con.unregister("_manifest")
        con.unregister("_loaded")


_MANIFEST_SCHEMA = {
    "source": pl.String, "path": pl.String, "size": pl.Int64, "mtime_ns": pl.Int64,
    "fingerprint": pl.String, "day_lo": pl.Date, "day_hi": pl.Date, "days": pl.String,
    "lines": pl.Int64, "spans": pl.Int64, "llm_spans": pl.Int64, "status": pl.String,
    "note": pl.String, "run_id": pl.String,
}
