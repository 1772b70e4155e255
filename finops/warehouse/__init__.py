"""The DuckDB warehouse: schema migrations, window loads, and the run ledger."""

from typing import Any

from finops.warehouse.db import connect, open_warehouse, schema_version

__all__ = ["connect", "open_warehouse", "replace_window", "schema_version"]


def __getattr__(name: str) -> Any:
    # the loader (polars, pandera) only when something loads: a report of stored results does not
    if name == "replace_window":
        from finops.warehouse.load import replace_window

        return replace_window
    raise AttributeError(f"module 'finops.warehouse' has no attribute {name!r}")
