"""Invariants, checked on random months with hypothesis."""

from __future__ import annotations

import tempfile
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from builders import billing, usage, write_prices
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from finops.config import parse_config
from finops.reconcile import reconcile
from finops.warehouse import connect, replace_window
from finops.windows import month_window

OCT = month_window("2026-10")
TODAY = date(2026, 11, 23)
DAYS = [date(2026, 10, d) for d in (1, 2, 15, 31)]
MODELS = ["gpt-4o", "gpt-4o-mini", "gpt-x-unpriced"]
# Spans name an account, or none (''): most instrumentation sets no account attribute.
SPAN_ACCOUNTS = ["", "", "proj_a", "proj_b", "default"]
BILL_ACCOUNTS = ["default", "proj_a", "proj_b", "proj_ops", "proj_nospans"]
TYPES = ["input", "cache_read", "output", "other"]
TEAMS = ["a", "b", "c", "d"]  # and "ops", which owns proj_ops by rule and has no spans

usage_rows = st.lists(st.fixed_dictionaries({
    "day": st.sampled_from(DAYS), "model": st.sampled_from(MODELS),
    "account": st.sampled_from(SPAN_ACCOUNTS), "team": st.sampled_from(TEAMS),
    "project": st.sampled_from(["p1", "p2"]), "feature": st.sampled_from(["f1", "f2"]),
    "input_tokens": st.integers(0, 5_000_000), "cache_read_tokens": st.integers(0, 1_000_000),
    "output_tokens": st.integers(0, 800_000), "requests": st.integers(1, 1000),
}), max_size=25, unique_by=lambda r: (r["day"], r["model"], r["account"], r["team"], r["project"], r["feature"]))

bill_rows = st.lists(st.fixed_dictionaries({
    "day": st.sampled_from(DAYS), "model": st.sampled_from(MODELS),
    "account": st.sampled_from(BILL_ACCOUNTS), "token_type": st.sampled_from(TYPES),
    "amount": st.decimals(min_value=Decimal("-5"), max_value=Decimal("900"), places=6,
                          allow_nan=False, allow_infinity=False),
    "billed_tokens": st.one_of(st.none(), st.integers(0, 5_000_000)),
}), max_size=25, unique_by=lambda r: (r["day"], r["model"], r["account"], r["token_type"]))


def fresh_config(root: Path):
    return parse_config({
        "warehouse": {"path": str(root / "w.duckdb")},
        "pricing": {"dir": str(write_prices(root / "pricing"))},
        "teams": {"ops": {"accounts": [{"provider": "openai", "account": "proj_ops"}]}},
    })


def run(root: Path, u_rows, b_rows, config=None):
    config = config or fresh_config(root)
    con = connect(config.warehouse)
    replace_window(con, "usage", "spans", OCT.window_start, OCT.window_end, usage(u_rows))
    replace_window(con, "billing", "bills", OCT.window_start, OCT.window_end, billing(b_rows),
                   providers=["openai"])
    reconcile(con, config, OCT, TODAY)
    return con, config


SETTINGS = settings(max_examples=25, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@SETTINGS
@given(usage_rows, bill_rows)
def test_allocation_ties_out_to_billed_to_the_cent(u_rows, b_rows):
    with tempfile.TemporaryDirectory() as d:
        con, _ = run(Path(d), u_rows, b_rows)
        billed = sum((r["amount"] for r in b_rows), Decimal(0))
        exact = con.execute("SELECT coalesce(sum(allocated), 0) FROM recon_alloc").fetchone()[0]
        assert exact == billed  # every cell split exactly, micro-dollar largest remainder
        per_provider = con.execute(
            "SELECT provider, sum(allocated) FROM recon_team_provider GROUP BY provider").fetchall()
        for _, cents in per_provider:
            assert cents == billed.quantize(Decimal("0.01"), ROUND_HALF_UP)
        # no team gets more than its exact share rounded up to the cent
        for exact_t, cents_t in con.execute("SELECT exact, allocated FROM recon_team_provider").fetchall():
            assert abs(exact_t - cents_t) < Decimal("0.01")
        # a team with no spans and no accounts rule gets nothing
        spanned = {r["team"] for r in u_rows} | {"ops", "unattributed"}
        paid = {t for t, a in con.execute("SELECT team, sum(exact) FROM recon_team_provider GROUP BY team").fetchall()
                if a}
        assert paid <= spanned
        # the explanation adds up to E − B on every line
        bad = con.execute("""
            SELECT count(*) FROM recon_lines
            WHERE coalesce(volume,0)+coalesce(coverage,0)+coalesce(premium,0)+coalesce(rate,0)
                  +coalesce(unpriced,0)+coalesce(unmatched,0)+coalesce(non_token,0)+coalesce(credit,0)
                  +coalesce(unexplained,0) <> coalesce(estimated,0) - coalesce(billed,0)""").fetchone()[0]
        assert bad == 0
        con.close()


TABLES = ["usage_daily", "billing_daily", "prices", "price_overrides", "recon_lines",
          "recon_alloc", "recon_team_provider"]


@SETTINGS
@given(usage_rows, bill_rows)
def test_loading_the_same_window_twice_changes_nothing(u_rows, b_rows):
    with tempfile.TemporaryDirectory() as d:
        con, config = run(Path(d), u_rows, b_rows)
        before = {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in TABLES}
        con.close()
        con, _ = run(Path(d), u_rows, b_rows, config)
        after = {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in TABLES}
        assert after == before
        con.close()


@settings(max_examples=10, deadline=None, derandomize=True)
@given(st.integers(2, 30), st.lists(st.integers(1, 31), min_size=1, max_size=10, unique=True))
def test_price_change_mid_month_reprices_only_later_days(change_day, days):
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        u_rows = [{"day": date(2026, 10, x), "team": "a", "input_tokens": 1_000_000} for x in days]
        con, config = run(root, u_rows, [])
        before = dict(con.execute("SELECT day, sum(estimated) FROM recon_alloc GROUP BY day").fetchall())
        con.close()
        # gpt-4o input goes from 2.50 to 2.00 on change_day
        p = root / "pricing" / "openai.toml"
        text = p.read_text().replace(
            "  batch = { input = 1.25, output = 5 }\n",
            "  batch = { input = 1.25, output = 5 }\n  [[models.prices]]\n"
            f"  effective_from = 2026-10-{change_day:02d}\n"
            "  standard = { input = 2.0, cache_read = 1.25, output = 10 }\n", 1)
        p.write_text(text)
        con = connect(config.warehouse)
        reconcile(con, config, OCT, TODAY)
        after = dict(con.execute("SELECT day, sum(estimated) FROM recon_alloc GROUP BY day").fetchall())
        for day, value in before.items():
            expected = Decimal("2.00") if day.day >= change_day else Decimal("2.50")
            assert value == Decimal("2.50")
            assert after[day] == expected
        con.close()


@SETTINGS
@given(usage_rows, bill_rows)
def test_matched_groups_split_by_estimate_and_one_team_accounts_charge_that_team(u_rows, b_rows):
    with tempfile.TemporaryDirectory() as d:
        con, _ = run(Path(d), u_rows, b_rows)
        # within each matched line split by cost, each row's share follows its estimate: exact to
        # the micro-dollar (largest remainder moves at most one micro-dollar per row)
        lines: dict[tuple, list[tuple[Decimal, Decimal, Decimal]]] = {}
        for *key, allocated, estimated, billed in con.execute("""
            SELECT day, provider, account, model, service_tier, token_type, a.allocated, a.estimated, l.billed
            FROM recon_alloc a
            JOIN recon_lines l USING (month, day, provider, account, model, service_tier, token_type)
            WHERE a.basis = 'cost'""").fetchall():
            lines.setdefault(tuple(key), []).append((allocated, estimated, billed))
        for rows in lines.values():
            total = sum((e for _, e, _ in rows), Decimal(0))
            for allocated, estimated, billed in rows:
                assert abs(allocated - billed * estimated / total) <= Decimal("0.000001")
        # what each level matched is charged in that level's rows, exactly
        levels = dict(con.execute("""
            SELECT matched_by, sum(billed) FROM recon_bill_match GROUP BY matched_by""").fetchall())
        pooled = con.execute("SELECT coalesce(sum(allocated), 0) FROM recon_alloc WHERE account = ''"
                             ).fetchone()[0]
        assert pooled == levels.get("pool", 0)
        ruled = con.execute("SELECT coalesce(sum(allocated), 0) FROM recon_alloc WHERE basis = 'rule'").fetchone()[0]
        assert ruled == levels.get("rule", 0)
        # an account whose spans all belong to one team charges all its matched spend to that team
        owners: dict[str, set[str]] = {}
        for r in u_rows:
            if r["account"] and (r["input_tokens"] or r["cache_read_tokens"] or r["output_tokens"]):
                owners.setdefault(r["account"], set()).add(r["team"])
        for account, teams in owners.items():
            if len(teams) != 1:
                continue
            [team] = teams
            matched = con.execute("""
                SELECT coalesce(sum(billed), 0) FROM recon_bill_match
                WHERE account = ? AND matched_by IN ('account', 'account_month')""", [account]).fetchone()[0]
            charged = dict(con.execute("""
                SELECT team, sum(allocated) FROM recon_alloc
                WHERE account = ? AND basis NOT IN ('rule', 'unattributed', 'credit', 'unbilled')
                GROUP BY team""", [account]).fetchall())
            assert sum(charged.values(), Decimal(0)) == matched
            assert all(v == 0 for t, v in charged.items() if t != team)
        con.close()
