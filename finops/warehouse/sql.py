"""Load SQL statements by name from ``sql/``: money is computed there, not in Python strings."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import duckdb

from finops.paths import data_dir

_PARAM = re.compile(r"\$([a-z_]+)")


@cache
def sql(name: str) -> str:
    """Return the text of ``sql/<name>.sql`` (``name`` like ``reconcile/20_cells``)."""
    path = data_dir("sql") / f"{name}.sql"
    return path.read_text(encoding="utf-8")


def sql_names(folder: str) -> list[str]:
    """Names of the SQL files in ``sql/<folder>``, sorted (numbered files build in order)."""
    root = data_dir("sql") / folder
    return [f"{folder}/{p.stem}" for p in sorted(root.glob("*.sql"))]


def bind(text: str, params: dict[str, Any]) -> dict[str, Any]:
    """Only the ``$params`` the statement uses (DuckDB rejects unused named parameters)."""
    return {p: params[p] for p in set(_PARAM.findall(text))}


def run_sql(con: duckdb.DuckDBPyConnection, name: str, params: dict[str, Any]) -> None:
    """Execute ``sql/<name>.sql`` with its ``$params`` bound by name."""
    text = sql(name)
    con.execute(text, bind(text, params))


def run_query(con: duckdb.DuckDBPyConnection, name: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Run ``sql/<name>.sql`` and return its rows as dicts (Decimals stay Decimals)."""
    text = sql(name)
    cur = con.execute(text, bind(text, params))
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]
