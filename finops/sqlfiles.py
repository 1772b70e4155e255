"""Load SQL statements by name from ``sql/``: money is computed there, not in Python strings."""

from __future__ import annotations

from functools import cache

from finops.paths import data_dir


@cache
def sql(name: str) -> str:
    """Return the text of ``sql/<name>.sql`` (``name`` like ``reconcile/20_cells``)."""
    path = data_dir("sql") / f"{name}.sql"
    return path.read_text(encoding="utf-8")


def sql_names(folder: str) -> list[str]:
    """Names of the SQL files in ``sql/<folder>``, sorted (numbered files build in order)."""
    root = data_dir("sql") / folder
    return [f"{folder}/{p.stem}" for p in sorted(root.glob("*.sql"))]
