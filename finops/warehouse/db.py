"""Open the warehouse file and bring its schema up to date from ``sql/migrations``."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from finops.canonical import CACHE_WRITE_AT_INPUT_RATE
from finops.errors import ConfigError, DataError
from finops.paths import data_dir
from finops.warehouse.ledger import mark_killed
from finops.warehouse.lock import held, warehouse_lock
from finops.warehouse.sql import sql

if TYPE_CHECKING:
    import polars as pl

_MIGRATION = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")


def migrations() -> list[tuple[int, Path]]:
    """Migration files as (version, path), in order."""
    out = []
    for p in sorted((data_dir("sql") / "migrations").glob("*.sql")):
        m = _MIGRATION.match(p.name)
        if m:
            out.append((int(m.group(1)), p))
    return out


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    """The highest migration applied to this file (0 for a new file)."""
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations'"
    ).fetchone()
    if not exists or not exists[0]:
        return 0
    row = con.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
    return int(row[0]) if row else 0


@contextmanager
def transaction(con: Any) -> Iterator[None]:
    """Run the block in one transaction: committed whole, or rolled back and the error raised.

    ``con`` is a DuckDB connection (or an object that forwards ``execute`` to one). When the
    rollback itself fails (the transaction was already aborted, e.g. by a full disk), the
    original error is the one raised: it names the cause.
    """
    con.execute("BEGIN TRANSACTION")
    try:
        yield
        con.execute("COMMIT")  # inside: a COMMIT that fails (full disk, Ctrl-C) is rolled back too
    except BaseException:
        try:
            con.execute("ROLLBACK")
        except duckdb.Error:
            pass
        raise


def migrate(con: duckdb.DuckDBPyConnection, upto: int | None = None) -> int:
    """Apply pending migrations, each in its own transaction; returns the new version."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)"
    )
    current = schema_version(con)
    for version, path in migrations():
        if version <= current or (upto is not None and version > upto):
            continue
        with transaction(con):
            con.execute(path.read_text(encoding="utf-8"))
            con.execute(
                "INSERT INTO schema_migrations VALUES (?, ?, now()::TIMESTAMP)", [version, path.stem]
            )
        current = version
    return current


def connect(path: str | Path, *, read_only: bool = False, upto: int | None = None, create: bool = True,
            settings: Mapping[str, str] | None = None) -> duckdb.DuckDBPyConnection:
    """Open the warehouse at ``path`` and migrate it to the latest schema.

    The file is created if needed unless ``read_only`` or ``create=False`` (commands that only
    read loaded data: a missing file is then a data error, never an empty report).
    ``settings`` (``Config.warehouse_settings``: ``memory_limit``, ``temp_directory``) are set
    on the database: beyond the memory limit DuckDB spills to the temporary folder.
    """
    path = Path(path)
    if (read_only or not create) and not path.exists():
        raise DataError(f"warehouse {path} does not exist: run 'finops pull' first")
    if path.parent and not path.parent.exists():
        raise ConfigError(f"warehouse {path}: directory {path.parent} does not exist")
    try:
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as e:
        raise DataError(f"warehouse {path}: cannot open: {' '.join(str(e).split())}") from None
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")  # the library never prints
    for key, value in (settings or {}).items():
        if key not in ("memory_limit", "temp_directory"):
            raise ValueError(f"warehouse setting {key!r}")
        quoted = str(value).replace("'", "''")
        try:
            con.execute(f"SET {key} = '{quoted}'")  # key is one of ours; DuckDB binds no SET value
        except duckdb.Error as e:
            con.close()
            raise ConfigError(f"warehouse.{key} = {value!r}: {' '.join(str(e).split())}") from None
    if not read_only:
        migrate(con, upto=upto)
    if schema_version(con) >= 1:  # the macros read the price tables of migration 1
        define_macros(con)
    return con


def define_macros(con: duckdb.DuckDBPyConnection) -> None:
    """The rules several statements share (``sql/warehouse/macros.sql``), for this connection."""
    con.execute("SET VARIABLE cache_write_at_input_rate = $providers",
                {"providers": list(CACHE_WRITE_AT_INPUT_RATE)})
    con.execute(sql("warehouse/macros"))


def fetch_frame(con: duckdb.DuckDBPyConnection, query: str, params: object = None) -> pl.DataFrame:
    """Run ``query`` and return a polars frame.

    Through the Arrow C stream interface, as :func:`register_frame` goes the other way: the
    same frame as ``pl.from_arrow(relation.to_arrow_table())`` without importing pyarrow
    (DuckDB 2.0 has no ``.pl()``).
    """
    import polars as pl

    return pl.DataFrame(con.sql(query, params=params))


class _ArrowStream:
    """A polars frame as DuckDB scans it: through the Arrow C stream interface.

    One stream per scan: a view may be scanned several times in one transaction.
    """

    __slots__ = ("frame",)

    def __init__(self, frame: pl.DataFrame) -> None:
        self.frame = frame

    def __arrow_c_stream__(self, requested_schema: object = None) -> object:
        return self.frame.__arrow_c_stream__(requested_schema)


def register_frame(con: duckdb.DuckDBPyConnection, name: str, frame: pl.DataFrame) -> None:
    """Make ``frame`` the view ``name`` on ``con``, without pyarrow.

    ``con.register(name, frame)`` and ``frame.to_arrow()`` both import pyarrow, 57 MB of
    resident memory in a process that needs none of it (a pull's load, a reconcile): DuckDB
    reads any object with ``__arrow_c_stream__``, and polars frames have one.
    """
    con.register(name, _ArrowStream(frame))


@contextmanager
def open_warehouse(path: str | Path, command: str, *, create: bool = True,
                   settings: Mapping[str, str] | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse for a command that writes to it, under finops' lock.

    Runs of killed processes are marked ``killed`` first; the connection is closed at the end.
    ``settings``: DuckDB's memory limit and temporary folder (``Config.warehouse_settings``).

    A second run is refused with finops' one line naming the holder
    (:class:`~finops.warehouse.lock.LockedError`), never DuckDB's file-lock message.
    """
    if not create and not Path(path).exists():  # before the lock: a reading command leaves no file
        raise DataError(f"warehouse {path} does not exist: run 'finops pull' first")
    outer = not held(Path(path))
    with warehouse_lock(Path(path), command):
        con = connect(path, create=create, settings=settings)
        try:
            if outer:
                mark_killed(con)
            yield con
        finally:
            con.close()
