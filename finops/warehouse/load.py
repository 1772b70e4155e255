"""Window loads: a source's rows for ``[window_start, window_end)`` replace exactly that window.

Delete and insert happen in one transaction, so re-running a night or back-filling a month
never double-counts, and a failure leaves the previous contents untouched.
"""

from __future__ import annotations

from datetime import date

import duckdb
import polars as pl

from finops.errors import DataError
from finops.frames import CHARGES_SCHEMA
from finops.schemas import (
    API_KEYS_SCHEMA,
    BILLING_SCHEMA,
    KEY_TOKENS_SCHEMA,
    USAGE_SCHEMA,
    BillingDaily,
    BillingKeyTokens,
    UsageDaily,
    validate,
)
from finops.warehouse.db import register_frame, transaction
from finops.warehouse.sql import run_query, run_sql

_TABLES = {
    "usage": ("usage_daily", USAGE_SCHEMA, UsageDaily),
    "billing": ("billing_daily", BILLING_SCHEMA, BillingDaily),
}


def replace_window(
    con: duckdb.DuckDBPyConnection,
    kind: str,
    source: str,
    window_start: date,
    window_end: date,
    frame: pl.DataFrame,
    *,
    providers: list[str] | None = None,
    run_id: str | None = None,
    settled_before: date | None = None,
    excluded: pl.DataFrame | None = None,
    key_tokens: pl.DataFrame | None = None,
    api_keys: pl.DataFrame | None = None,
    charges: pl.DataFrame | None = None,
    allow_empty: bool = True,
    sampling: str | None = None,
) -> int:
    """Replace ``source``'s rows of ``kind`` (usage|billing) in the window with ``frame``.

    ``providers`` are the providers this load covers (recorded for billing coverage); by
    default those present in the frame. For billing, days before ``settled_before`` are
    settled: a change to one is recorded in ``restatements`` (and still applied: the
    provider's latest word is the bill). ``excluded`` (billing only: what the source left out
    as not LLM billing, ``finops.billing.exclusions.EXCLUDED_SCHEMA``) replaces the source's
    ``billing_excluded`` rows of the window in the same transaction; so do ``key_tokens``
    (billed tokens per API key, ``KEY_TOKENS_SCHEMA``) its ``billing_key_tokens`` rows,
    ``api_keys`` (the keys' names, ``API_KEYS_SCHEMA``) update ``api_keys`` by key id, and
    ``charges`` (FOCUS billing: the same money per resource, tags and capacity,
    ``finops.frames.CHARGES_SCHEMA``) its ``billing_charges`` rows, which must add up to the
    frame per billing key. A load that covers no
    provider is recorded under provider ``*``. With ``allow_empty`` False (usage pulls), a day
    that had usage and would be left without any (an empty span file, a stream gone quiet) is
    refused with a :class:`DataError` and nothing is replaced. ``sampling`` (usage) records how
    the spans were weighted for sampling, or why their sampling was not seen, with the window.
    Returns the number of rows inserted.
    """
    table, schema, model = _TABLES[kind]
    where = f"{source} {window_start}..{window_end}"
    frame = validate(frame.select(list(schema)).cast(schema), model, where)
    if frame.height:
        lo, hi = frame["day"].min(), frame["day"].max()
        if lo < window_start or hi >= window_end:  # type: ignore[operator]
            raise DataError(f"{where}: rows dated {lo}..{hi} fall outside the window")
        if frame["source"].unique().to_list() != [source]:
            raise DataError(f"{where}: frame carries rows of another source")
    covered = providers if providers is not None else sorted(frame["provider"].unique().to_list())
    # A load with no rows still loaded the window: recorded under provider '*' so that the
    # window counts as loaded (a chargeback needs every day loaded by every source).
    covered = covered or ["*"]
    try:
        with transaction(con):  # registered inside: BEGIN first settles any pending result
            register_frame(con, "_incoming", frame)
            if not allow_empty:
                _refuse_emptied_days(con, source, window_start, window_end, where)
            if kind == "billing" and settled_before is not None:
                run_sql(con, "warehouse/record_restatements", {
                    "source": source, "window_start": window_start, "window_end": window_end,
                    "settled_before": settled_before, "run_id": run_id})
            con.execute(
                f"DELETE FROM {table} WHERE source = ? AND day >= ? AND day < ?",  # table is ours
                [source, window_start, window_end],
            )
            if frame.height:
                cols = ", ".join(schema)
                con.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM _incoming")
            if kind == "billing" and excluded is not None:
                _replace_excluded(con, source, window_start, window_end, excluded, run_id)
            if kind == "billing" and key_tokens is not None:
                _replace_key_tokens(con, source, window_start, window_end, key_tokens, run_id)
            if kind == "billing" and api_keys is not None and api_keys.height:
                _upsert_api_keys(con, api_keys)
            if kind == "billing" and charges is not None:
                _replace_charges(con, source, where, window_start, window_end, charges, run_id)
            for prov in covered:
                con.execute(
                    "INSERT OR REPLACE INTO load_windows (source, kind, provider, window_start, "
                    "window_end, rows, loaded_at, run_id, sampling) "
                    "VALUES (?, ?, ?, ?, ?, ?, now()::TIMESTAMP, ?, ?)",
                    [source, kind, prov, window_start, window_end,
                     frame.filter(pl.col("provider") == prov).height, run_id, sampling],
                )
    finally:
        con.unregister("_incoming")  # after the rollback: an aborted transaction refuses it
    return frame.height


def _replace_excluded(con: duckdb.DuckDBPyConnection, source: str, window_start: date,
                      window_end: date, excluded: pl.DataFrame, run_id: str | None) -> None:
    """Inside the caller's transaction: the window's excluded money, replaced."""
    con.execute("DELETE FROM billing_excluded WHERE source = ? AND day >= ? AND day < ?",
                [source, window_start, window_end])
    if not excluded.height:
        return
    lo, hi = excluded["day"].min(), excluded["day"].max()
    if lo < window_start or hi >= window_end:  # type: ignore[operator]
        raise DataError(f"{source} {window_start}..{window_end}: excluded rows dated {lo}..{hi} "
                        "fall outside the window")
    register_frame(con, "_excluded", excluded.select("day", "reason", "service", "rows", "amount",
                                                      "currency"))
    try:
        con.execute("INSERT INTO billing_excluded (source, day, reason, service, rows, amount, "
                    "currency, run_id) SELECT ?, day, reason, service, rows, amount, currency, ? "
                    "FROM _excluded", [source, run_id])
    finally:
        con.unregister("_excluded")


def _replace_key_tokens(con: duckdb.DuckDBPyConnection, source: str, window_start: date,
                        window_end: date, key_tokens: pl.DataFrame, run_id: str | None) -> None:
    """Inside the caller's transaction: the window's billed tokens per API key, replaced."""
    where = f"{source} {window_start}..{window_end} key tokens"
    frame = validate(key_tokens.select(list(KEY_TOKENS_SCHEMA)).cast(KEY_TOKENS_SCHEMA), BillingKeyTokens, where)
    con.execute("DELETE FROM billing_key_tokens WHERE source = ? AND day >= ? AND day < ?",
                [source, window_start, window_end])
    if not frame.height:
        return
    lo, hi = frame["day"].min(), frame["day"].max()
    if lo < window_start or hi >= window_end:  # type: ignore[operator]
        raise DataError(f"{where}: rows dated {lo}..{hi} fall outside the window")
    if frame["source"].unique().to_list() != [source]:
        raise DataError(f"{where}: frame carries rows of another source")
    cols = ", ".join(KEY_TOKENS_SCHEMA)
    register_frame(con, "_key_tokens", frame)
    try:
        con.execute(f"INSERT INTO billing_key_tokens ({cols}, run_id) SELECT {cols}, ? FROM _key_tokens",
                    [run_id])
    finally:
        con.unregister("_key_tokens")


def _upsert_api_keys(con: duckdb.DuckDBPyConnection, api_keys: pl.DataFrame) -> None:
    """Inside the caller's transaction: the listed keys' names, by provider · key id."""
    frame = api_keys.select(list(API_KEYS_SCHEMA)).cast(API_KEYS_SCHEMA)
    cols = ", ".join(API_KEYS_SCHEMA)
    register_frame(con, "_api_keys", frame)
    try:
        con.execute(f"INSERT OR REPLACE INTO api_keys ({cols}, listed_at) "
                    f"SELECT {cols}, now()::TIMESTAMP FROM _api_keys")
    finally:
        con.unregister("_api_keys")


def _replace_charges(con: duckdb.DuckDBPyConnection, source: str, where: str, window_start: date,
                     window_end: date, charges: pl.DataFrame, run_id: str | None) -> None:
    """Inside the caller's transaction: the window's charges, replaced and tied to the bill."""
    con.execute("DELETE FROM billing_charges WHERE source = ? AND day >= ? AND day < ?",
                [source, window_start, window_end])
    if not charges.height:
        return
    register_frame(con, "_charges", charges.select(list(CHARGES_SCHEMA)).cast(CHARGES_SCHEMA))
    try:
        con.execute(f"INSERT INTO billing_charges ({', '.join(CHARGES_SCHEMA)}, source, run_id) "
                    f"SELECT {', '.join(CHARGES_SCHEMA)}, ?, ? FROM _charges", [source, run_id])
    finally:
        con.unregister("_charges")
    off = run_query(con, "warehouse/charges_off", {"source": source, "window_start": window_start,
                                                    "window_end": window_end})
    if off:  # the side table would split money the bill does not hold
        o = off[0]
        raise DataError(f"{where}: charges of {o['provider']} {o['account']} {o['model']} "
                        f"{o['token_type']} {o['line_item']!r} on {o['day']} add up to "
                        f"{o['charged']}, the billing row to {o['billed']}")


def _refuse_emptied_days(con: duckdb.DuckDBPyConnection, source: str, window_start: date,
                         window_end: date, where: str) -> None:
    emptied = run_query(con, "warehouse/emptied_days", {
        "source": source, "window_start": window_start, "window_end": window_end})
    if not emptied:
        return
    days = [str(r["day"]) for r in emptied]
    shown = ", ".join(days[:7]) + (f" and {len(days) - 7} more" if len(days) > 7 else "")
    requests = sum(int(r["requests"]) for r in emptied)
    raise DataError(
        f"{where}: {len(days)} day(s) with usage loaded before would be left with none "
        f"({shown}; {requests:,} requests): the source gave nothing for them (an empty or "
        "unreadable span file? see the notes); nothing was replaced. To replace them with "
        "nothing, pull with --allow-empty (or set allow_empty = true on the source)")
