"""The DuckDB warehouse: schema migrations, window loads, and the run ledger."""

from finops.warehouse.db import connect, open_warehouse, schema_version
from finops.warehouse.load import replace_window

__all__ = ["connect", "open_warehouse", "replace_window", "schema_version"]
