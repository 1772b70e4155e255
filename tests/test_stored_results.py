"""Reconcile once: stored results are reused while their inputs are unchanged, and recomputed
when a price file, an override, an account rule or a loaded window changes (finops.reconcile.stored)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

from builders import PRICES_TOML, billing, usage

from finops.api.month import gate, reconcile_window, report
from finops.config import AccountRule
from finops.warehouse import connect, open_warehouse, replace_window
from finops.windows import month_window

OCT = month_window("2026-10")


def _load(config, amount="2.50", tokens=1_000_000):
    with open_warehouse(config.warehouse, "pull") as con:
        replace_window(con, "usage", "spans", OCT.window_start, OCT.window_end,
                       usage([{"team": "a", "input_tokens": tokens}, {"team": "b", "input_tokens": tokens}]))
        replace_window(con, "billing", "bills", OCT.window_start, OCT.window_end,
                       billing([{"token_type": "input", "amount": amount, "billed_tokens": 2 * tokens},
                                {"account": "proj_ops", "token_type": "output", "amount": "1.00"}]))


def _runs(config):
    con = connect(config.warehouse)
    try:
        return con.execute("SELECT command, note FROM runs WHERE note IS NOT NULL ORDER BY started_at").fetchall()
    finally:
        con.close()


def test_second_command_reads_stored_results_and_says_so(config, cli, tmp_path):
    _load(config)
    first = reconcile_window(config, OCT)
    assert first.results_note == "reconciled 2026-10 (no stored results)"
    assert first.billed_total == Decimal("3.50")
    again = report(config, OCT)
    assert again.results_note.startswith("using stored results for 2026-10 (inputs unchanged since 20")
    # the same numbers, to the cent, read back
    assert again.billed_total == first.billed_total
    assert {t.team: t.billed for t in again.teams} == {t.team: t.billed for t in first.teams} == {
        "a": Decimal("1.25"), "b": Decimal("1.25"), "ops": Decimal("1.00")}
    g = gate(config, OCT)
    assert g.report.results_note.startswith("using stored results")
    # --force recomputes
    assert reconcile_window(config, OCT, force=True).results_note == "reconciled 2026-10 (--force)"
    notes = _runs(config)
    assert [c for c, _ in notes] == ["reconcile", "report", "report", "reconcile"]
    assert notes[1][1].startswith("using stored results for 2026-10")
    # the CLI says it on stderr
    cfg = tmp_path / "finops.toml"
    cfg.write_text(f'[warehouse]\npath = "{config.warehouse}"\n[pricing]\ndir = "{config.pricing_dir}"\n'
                   '[reconcile]\ntoday = 2026-11-23\n[teams.ops]\n'
                   'accounts = [{provider = "openai", account = "proj_ops"}]\n')
    r = cli("-c", str(cfg), "report", "--month", "2026-10", "--format", "json")
    assert r.code == 0
    assert "finops: using stored results for 2026-10 (inputs unchanged since" in r.err


def test_a_changed_price_file_reprices_history(config):
    _load(config)
    assert reconcile_window(config, OCT).estimated_total == Decimal("5.00")  # 2M × 2.50
    (config.pricing_dir / "openai.toml").write_text(PRICES_TOML.replace("input = 2.5,", "input = 2.0,"))
    rep = report(config, OCT)
    assert rep.results_note == "reconciled 2026-10 (prices changed)"
    assert rep.estimated_total == Decimal("4.00")
    assert report(config, OCT).results_note.startswith("using stored results")


def test_a_changed_override_or_rule_recomputes(config, tmp_path):
    _load(config)
    reconcile_window(config, OCT)
    ov = tmp_path / "overrides.toml"
    ov.write_text('[[override]]\nprovider = "openai"\ndiscount_pct = 10\neffective_from = 2026-10-01\n')
    with_ov = replace(config, overrides=ov)
    rep = report(with_ov, OCT)
    assert rep.results_note == "reconciled 2026-10 (price overrides changed)"
    assert rep.estimated_total == Decimal("4.50")
    # the ops account rule removed: its dollar goes unattributed
    no_rule = replace(with_ov, account_rules=())
    rep = report(no_rule, OCT)
    assert rep.results_note == "reconciled 2026-10 (allocation rules changed)"
    assert "ops" not in {t.team for t in rep.teams}
    rep = report(replace(no_rule, account_rules=(AccountRule("openai", "proj_ops", "ops"),)), OCT)
    assert rep.results_note == "reconciled 2026-10 (allocation rules changed)"
    assert {t.team: t.billed for t in rep.teams}["ops"] == Decimal("1.00")


def test_a_loaded_window_recomputes(config):
    _load(config)
    assert reconcile_window(config, OCT).billed_total == Decimal("3.50")
    _load(config, amount="3.10")  # the provider restated the month
    rep = report(config, OCT)
    assert rep.results_note == "reconciled 2026-10 (data loaded)"
    assert rep.billed_total == Decimal("4.10")
    assert sum(t.billed for t in rep.teams) == Decimal("4.10")
    # a load of another month does not touch October's results
    with open_warehouse(config.warehouse, "pull") as con:
        nov = month_window("2026-11")
        replace_window(con, "usage", "spans", nov.window_start, nov.window_end,
                       usage([{"day": date(2026, 11, 2), "team": "a", "input_tokens": 5}]))
    assert report(config, OCT).results_note.startswith("using stored results")


def test_the_provisional_cutoff_moves_the_running_month_only(config):
    _load(config)
    reconcile_window(config, OCT)
    # a day later, October (long past the 3 provisional days) keeps its results
    later = replace(config, today=date(2026, 11, 24))
    assert report(later, OCT).results_note.startswith("using stored results")
    # within October the cutoff moves the provisional flags: recomputed
    inside = replace(config, today=date(2026, 10, 20))
    rep = report(inside, OCT)
    assert rep.results_note == "reconciled 2026-10 (provisional cutoff moved)"


def test_a_direct_reconcile_clears_the_stored_fingerprint(config):
    """Results written by reconcile() itself (not through the fingerprint) are never taken as current."""
    from finops.reconcile import reconcile

    _load(config)
    reconcile_window(config, OCT)
    with open_warehouse(config.warehouse, "reconcile") as con:
        reconcile(con, config, OCT, date(2026, 11, 23))
        assert con.execute("SELECT count(*) FROM recon_state").fetchone()[0] == 0
    assert report(config, OCT).results_note == "reconciled 2026-10 (no stored results)"


def test_warehouse_memory_limit_and_temp_directory_are_set_and_checked(tmp_path):
    import pytest

    from finops.config import parse_config
    from finops.errors import ConfigError

    cfg = parse_config({"warehouse": {"path": str(tmp_path / "w.duckdb"), "memory_limit": "300MB",
                                      "temp_directory": str(tmp_path / "spill")}})
    assert cfg.warehouse_settings == {"memory_limit": "300MB", "temp_directory": str(tmp_path / "spill")}
    with open_warehouse(cfg.warehouse, "pull", settings=cfg.warehouse_settings) as con:
        limit = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
        temp = con.execute("SELECT current_setting('temp_directory')").fetchone()[0]
    assert limit.replace(" ", "") in ("286.1MiB", "300.0MB", "286.1MB")
    assert temp == str(tmp_path / "spill")
    assert parse_config({"warehouse": {"path": "w.duckdb"}}).warehouse_settings == {"memory_limit": "1GB"}
    with pytest.raises(ConfigError, match=r"warehouse.memory_limit must be a size such as \"1GB\""):
        parse_config({"warehouse": {"path": "w.duckdb", "memory_limit": "lots"}})


def test_month_report_anomalies_from_stored_results_equal_the_repriced_ones(config):
    """The month report reads its weeks' cost from the stored results of the months it made
    current (no re-pricing of the spans); the flags, contributors and costs are the same as
    re-pricing gives, here for weeks that straddle September and October."""
    from datetime import timedelta

    from finops.config import Team
    from finops.reconcile.anomalies import _stored_months, anomalies_dict, budgets_list, detect_on, week_windows
    from finops.windows import Window

    sep = month_window("2026-09")
    rows = []
    day = date(2026, 9, 14)
    while day < date(2026, 10, 6):
        week40 = day >= date(2026, 9, 28)
        rows += [{"day": day, "team": "a", "input_tokens": 2_000_000, "output_tokens": 100_000},
                 {"day": day, "team": "b", "project": "p1", "input_tokens": 900_000 * (3 if week40 else 1),
                  "output_tokens": 50_000 * (3 if week40 else 1)},
                 {"day": day, "team": "b", "project": "p2", "model": "gpt-4o-mini", "input_tokens": 300_000,
                  "output_tokens": 20_000}]
        if week40:
            rows.append({"day": day, "team": "c", "input_tokens": 5_000_000, "output_tokens": 400_000})
        day += timedelta(days=1)
    use = usage(rows)
    with open_warehouse(config.warehouse, "pull") as con:
        for w in (sep, OCT):
            part = use.filter((use["day"] >= w.window_start) & (use["day"] < w.window_end))
            replace_window(con, "usage", "spans", w.window_start, w.window_end, part)
            replace_window(con, "billing", "bills", w.window_start, w.window_end,
                           billing([{"day": w.window_start, "token_type": "input", "amount": "40.00"}]))
    cfg = replace(config, today=date(2026, 10, 6), teams={**config.teams, "b": Team("b", budget_usd=5.0)})
    rep = report(cfg, OCT)  # reconciles October and September, then reads the weeks from them
    assert rep.anomalies is not None and rep.anomalies.label == "2026-W40"
    stored = anomalies_dict(rep.anomalies), budgets_list(rep.anomalies)
    assert {f["team"]: f["kind"] for f in stored[0]["flags"]} == {"b": "up", "c": "new"}
    with open_warehouse(cfg.warehouse, "report") as con:
        current, prior = week_windows("2026-W40")
        repriced = detect_on(con, cfg, current, prior, mode="week", budget_as_of=date(2026, 10, 5),
                             reconciled=True)
        assert (anomalies_dict(repriced), budgets_list(repriced)) == stored
        # stored only when the months made current hold every loaded day of the two weeks
        assert _stored_months(con, [OCT, sep], prior.window_start, current.window_end) == (
            OCT.window_start, sep.window_start)
        assert _stored_months(con, [OCT], prior.window_start, current.window_end) is None  # September loaded
        assert _stored_months(con, [OCT], date(2026, 10, 5), date(2026, 10, 12)) == (
            OCT.window_start, OCT.window_start)
        assert _stored_months(con, [Window(date(2026, 10, 1), date(2026, 10, 15))], date(2026, 10, 5),
                              date(2026, 10, 12)) is None  # not a calendar month
