from __future__ import annotations

from datetime import date

import duckdb
import pytest
from builders import billing, usage

from finops.errors import DataError
from finops.warehouse import connect, replace_window, schema_version
from finops.warehouse.db import migrations

OCT1, OCT2, NOV1 = date(2026, 10, 1), date(2026, 10, 2), date(2026, 11, 1)


def test_new_file_is_created_at_latest_version(tmp_path):
    con = connect(tmp_path / "w.duckdb")
    assert schema_version(con) == migrations()[-1][0]
    tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert {"usage_daily", "billing_daily", "prices", "price_overrides", "runs", "load_windows",
            "recon_lines", "recon_alloc", "recon_team_provider"} <= tables
    con.close()


def test_older_file_is_upgraded_in_place_and_keeps_data(tmp_path, monkeypatch):
    path = tmp_path / "w.duckdb"
    con = connect(path)
    replace_window(con, "usage", "spans", OCT1, OCT2, usage([{"input_tokens": 7}]))
    con.close()
    # a later release adds a migration: the file is upgraded on open, data intact
    extra = tmp_path / "sql" / "migrations"
    extra.mkdir(parents=True)
    for _, p in migrations():
        (extra / p.name).write_text(p.read_text())
    (extra / "999_add_note.sql").write_text("ALTER TABLE usage_daily ADD COLUMN note VARCHAR")
    import finops.warehouse.db as db
    monkeypatch.setattr(db, "data_dir", lambda name: tmp_path / name)
    con = connect(path)
    assert schema_version(con) == 999
    assert con.execute("SELECT input_tokens, note FROM usage_daily").fetchall() == [(7, None)]
    con.close()


def test_replace_window_is_idempotent(tmp_path):
    con = connect(tmp_path / "w.duckdb")
    frame = usage([{"input_tokens": 100}, {"team": "b", "input_tokens": 5}])
    replace_window(con, "usage", "spans", OCT1, NOV1, frame)
    first = con.execute("SELECT * FROM usage_daily ORDER BY ALL").fetchall()
    replace_window(con, "usage", "spans", OCT1, NOV1, frame)
    assert con.execute("SELECT * FROM usage_daily ORDER BY ALL").fetchall() == first
    con.close()


def test_replace_window_touches_only_its_window_and_source(tmp_path):
    con = connect(tmp_path / "w.duckdb")
    replace_window(con, "usage", "spans", OCT1, NOV1,
                   usage([{"day": date(2026, 10, d), "input_tokens": d} for d in (1, 2, 3)]))
    replace_window(con, "usage", "other", OCT1, NOV1, usage([{"input_tokens": 1}], source="other"))
    replace_window(con, "usage", "spans", OCT2, date(2026, 10, 3), usage([]))
    rows = con.execute("SELECT source, day, input_tokens FROM usage_daily ORDER BY ALL").fetchall()
    assert rows == [("other", OCT1, 1), ("spans", OCT1, 1), ("spans", date(2026, 10, 3), 3)]
    con.close()


def test_bad_frame_leaves_previous_window_untouched(tmp_path):
    con = connect(tmp_path / "w.duckdb")
    replace_window(con, "usage", "spans", OCT1, NOV1, usage([{"input_tokens": 10}]))
    with pytest.raises(DataError, match="input_tokens"):
        replace_window(con, "usage", "spans", OCT1, NOV1, usage([{"input_tokens": -1}]))
    with pytest.raises(DataError, match="outside the window"):
        replace_window(con, "usage", "spans", OCT1, OCT2, usage([{"day": OCT2, "input_tokens": 1}]))
    with pytest.raises(DataError, match="currency"):
        replace_window(con, "billing", "bills", OCT1, NOV1, billing([{"currency": "XYZ"}]))
    assert con.execute("SELECT input_tokens FROM usage_daily").fetchall() == [(10,)]
    con.close()


def test_failed_insert_rolls_back_the_delete(tmp_path):
    con = connect(tmp_path / "w.duckdb")
    replace_window(con, "usage", "spans", OCT1, NOV1, usage([{"input_tokens": 10}]))
    # the last statement of the load fails after the delete and insert ran
    con.execute("DROP TABLE load_windows")
    with pytest.raises(duckdb.CatalogException):
        replace_window(con, "usage", "spans", OCT1, NOV1, usage([{"input_tokens": 5000}]))
    assert con.execute("SELECT input_tokens FROM usage_daily").fetchall() == [(10,)]
    con.close()


def test_billing_coverage_is_recorded_even_for_empty_loads(tmp_path):
    con = connect(tmp_path / "w.duckdb")
    replace_window(con, "billing", "openai", OCT1, NOV1, billing([]), providers=["openai"])
    assert con.execute("SELECT provider, window_start, window_end, rows FROM load_windows").fetchall() == [
        ("openai", OCT1, NOV1, 0)]
    con.close()


def test_restated_settled_day_is_recorded_not_silently_overwritten(tmp_path):
    con = connect(tmp_path / "w.duckdb")
    first = billing([{"day": OCT1, "amount": "10.00"}, {"day": date(2026, 10, 30), "amount": "5.00"}],
                    source="openai")
    replace_window(con, "billing", "openai", OCT1, NOV1, first, settled_before=date(2026, 10, 29))
    assert con.execute("SELECT count(*) FROM restatements").fetchone()[0] == 0  # first load: no history
    # re-pull: Oct 1 (settled) changed, Oct 30 (provisional) changed too, only Oct 1 is a restatement
    second = billing([{"day": OCT1, "amount": "10.40"}, {"day": date(2026, 10, 30), "amount": "6.00"}],
                     source="openai")
    replace_window(con, "billing", "openai", OCT1, NOV1, second, settled_before=date(2026, 10, 29),
                   run_id="r2")
    rows = con.execute("SELECT day, old_amount, new_amount, run_id FROM restatements").fetchall()
    from decimal import Decimal
    assert rows == [(OCT1, Decimal("10.000000"), Decimal("10.400000"), "r2")]
    # the bill is the provider's latest word
    assert con.execute("SELECT sum(amount) FROM billing_daily").fetchone()[0] == Decimal("16.4")
    # re-pulling the same data again records nothing new and changes nothing
    replace_window(con, "billing", "openai", OCT1, NOV1, second, settled_before=date(2026, 10, 29))
    assert con.execute("SELECT count(*) FROM restatements").fetchone()[0] == 1
    assert con.execute("SELECT sum(amount) FROM billing_daily").fetchone()[0] == Decimal("16.4")
    con.close()


def test_overlapping_repull_leaves_totals_unchanged(tmp_path):
    con = connect(tmp_path / "w.duckdb")
    days = {d: date(2026, 10, d) for d in range(1, 13)}
    rows = {d: {"day": day, "amount": f"{d}.25", "billed_tokens": d * 1000} for d, day in days.items()}
    replace_window(con, "billing", "openai", days[1], days[9],
                   billing([rows[d] for d in range(1, 9)], source="openai"))
    replace_window(con, "billing", "openai", days[5], days[12] + (days[2] - days[1]),
                   billing([rows[d] for d in range(5, 13)], source="openai"))
    total = con.execute("SELECT sum(amount), count(*) FROM billing_daily").fetchone()
    from decimal import Decimal
    assert total == (sum(Decimal(f"{d}.25") for d in range(1, 13)), 12)
    con.close()


def test_spans_loaded_with_the_old_made_up_default_account_name_no_account_after_upgrade(tmp_path):
    path = tmp_path / "w.duckdb"
    con = connect(path, upto=3)
    con.execute("INSERT INTO usage_daily VALUES (DATE '2026-10-01', 'openai', 'default', 'gpt-4o', 'standard', "
                "'a', 'p', 'f', 'spans', 1, 10, 0, 0, 1, 0), (DATE '2026-10-01', 'openai', 'proj_a', 'gpt-4o', "
                "'standard', 'a', 'p', 'f', 'spans', 1, 10, 0, 0, 1, 0)")
    con.close()
    con = connect(path)
    assert sorted(r[0] for r in con.execute("SELECT account FROM usage_daily").fetchall()) == ["", "proj_a"]
    assert con.execute("SELECT count(*) FROM billing_daily WHERE billed_requests IS NOT NULL").fetchone() == (0,)
    con.close()
