"""Migration 51: the load tables keep no primary-key index; the window load keeps their keys unique."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from builders import billing, usage

from finops.errors import DataError
from finops.warehouse import connect, replace_window
from finops.warehouse.db import migrate

START, END = date(2026, 10, 1), date(2026, 11, 1)


def test_upgrade_keeps_rows_and_loads_stay_unique(tmp_path):
    con = connect(tmp_path / "w.duckdb", upto=50)
    # rows written as a version-50 warehouse held them (today's loader writes later columns)
    for table, frame in (("usage_daily", usage([{"team": "a", "input_tokens": 7}])),
                         ("billing_daily", billing([{"amount": "1.25", "billed_tokens": 7}]))):
        have = {r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()}
        cols = ", ".join(c for c in frame.columns if c in have)
        con.register("_old", frame.to_arrow())
        con.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM _old")
        con.unregister("_old")
    assert migrate(con) >= 51
    indexes = con.execute("SELECT count(*) FROM duckdb_constraints() WHERE table_name IN "
                          "('usage_daily', 'billing_daily') AND constraint_type = 'PRIMARY KEY'").fetchone()[0]
    assert indexes == 0
    assert con.execute("SELECT team, input_tokens FROM usage_daily").fetchall() == [("a", 7)]
    assert con.execute("SELECT amount FROM billing_daily").fetchall() == [(Decimal("1.25"),)]
    # a re-load of the window replaces, never adds
    replace_window(con, "usage", "spans", START, END, usage([{"team": "a", "input_tokens": 9}]))
    assert con.execute("SELECT team, input_tokens FROM usage_daily").fetchall() == [("a", 9)]
    # a frame repeating a key is refused before anything is written (the old primary key's job)
    twice = usage([{"team": "a", "input_tokens": 1}, {"team": "a", "input_tokens": 2}])
    with pytest.raises(DataError):
        replace_window(con, "usage", "spans", START, END, twice)
    assert con.execute("SELECT sum(input_tokens) FROM usage_daily").fetchone()[0] == 9
    # NOT NULL stays
    with pytest.raises(Exception, match="NOT NULL"):
        con.execute("INSERT INTO billing_daily (day, provider) VALUES (DATE '2026-10-02', 'openai')")
    con.close()
