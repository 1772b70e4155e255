"""The DuckDB warehouse: schema migrations, window loads, and the run ledger."""

from finops.warehouse.db import connect, schema_version
from finops.warehouse.load import replace_window

__all__ = ["connect", "schema_version", "replace_window"]
