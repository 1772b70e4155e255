"""The HTML chargeback report (jinja2, autoescaped; charts inline SVG; no JavaScript)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from functools import cache
from typing import Any

from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape

from finops.money import fmt_money, fmt_pct
from finops.paths import data_dir
from finops.report.charts import daily_chart, share_bars
from finops.report.keys import KEYS_SHOWN
from finops.report.keys import KINDS as KEY_KINDS
from finops.report.model import Report
from finops.report.words import amount, days_label, rate, signed_amount

BASIS_LABELS = {
    "cost": "span cost share", "tokens": "span token share (unpriced model)",
    "cell_cost": "span cost share (other token types)", "cell_tokens": "span token share (other types)",
    "day_cost": "non-token charge: the day's span cost share", "day_tokens": "non-token charge: the day's token share",
    "rule": "account rule", "key_rule": "API key rule (the key's share by billed tokens)",
    "account_cost": "the account's spans elsewhere in the month (cost share)",
    "account_tokens": "the account's spans elsewhere in the month (token share)",
    "unattributed": "unattributed: no spans, no account rule", "credit": "credits (pro rata to charges)",
    "tag": "no spans: the bill's tags ([teams.X] tags)",
    "resource": "no spans: the bill's resource ([teams.X] resources)",
    "untagged": "unattributed: no spans, untagged charges of a tagged line",
    "capacity": "provisioned capacity: token share of the model it serves",
    "capacity_day": "provisioned capacity: the day's token share (model not named)",
}
# What each drift part is (sql/reconcile/40_lines.sql).
PART_MEANINGS = {
    "coverage": "spans seen vs requests billed: sampling, missing instrumentation",
    "volume": "span vs billed tokens after coverage: token mix and mapping",
    "premium": "surcharges the bill names (long context, region, priority, 1-hour cache writes) above the table rate",
    "rate": "billed tokens at table price vs billed money: stale prices, discounts, cache/batch rates",
    "unpriced": "billed money for models with no price in the table",
    "unmatched": "bills with no spans (−) and spans with no bill (+)",
    "non_token": "charges that are not tokens (web search, code execution): no span estimates them",
    "credit": "credits and refunds (negative billed lines)",
    "unexplained": "billed token counts unknown",
}


def _currency(ctx: Any) -> str:
    r = ctx.get("r")
    return str(ctx.get("currency") or (r.currency if r is not None else "USD"))


@pass_context
def _cur(ctx: Any, value: Decimal | None) -> str:
    return amount(value, _currency(ctx))


@pass_context
def _signed(ctx: Any, value: Decimal | None) -> str:
    return signed_amount(value, _currency(ctx))


@pass_context
def _rate(ctx: Any, value: Decimal | None) -> str:
    return rate(value, _currency(ctx))


def _int(value: int | None) -> str:
    return f"{value or 0:,}"


def add_filters(env: Environment) -> None:
    """Filters shared by the report and the emails: every amount with its currency, days as words."""
    env.filters.update(cur=_cur, signed=_signed, rate=_rate, int=_int)
    env.globals.update(days_label=days_label)


# What each month-over-month part is (finops.report.trends.decompose).
CHANGE_PARTS = {
    "volume": "more or fewer tokens, at last month's average billed rate",
    "mix": "which models and token types the tokens went to",
    "price": "each model's and token type's billed rate against last month's",
    "other": "money with no tokens: account rules, bills no span matched, non-token charges, credits",
}


@cache
def environment() -> Environment:
    """The template environment: autoescape on for every template."""
    env = Environment(loader=FileSystemLoader(str(data_dir("templates"))),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["money"] = fmt_money
    env.filters["pct"] = fmt_pct
    add_filters(env)
    env.globals.update(daily_chart=daily_chart, share_bars=share_bars, basis_labels=BASIS_LABELS,
                       part_meanings=PART_MEANINGS, part_words=CHANGE_PARTS, key_kinds=KEY_KINDS,
                       keys_shown=KEYS_SHOWN)
    return env


def render_html(report: Report, team: str | None = None, *, team_href: str = "#team-{anchor}",
                with_teams: bool = True, back: str | None = None) -> str:
    """The whole report, or one team's section (the team-lead view) when ``team`` is given.

    ``team_href`` is how the organisation's tables link to a team (``{anchor}`` filled in): a
    section of this page, or with ``with_teams=False`` (``--split-teams``'s index) a page of its own.
    ``back`` links a team's page to the index.
    """
    teams = [t for t in report.teams if team is None or t.team == team] if with_teams else []
    coverage_total = sum(report.coverage.values(), Decimal(0)) or Decimal(1)
    budgets = {b.team: b for b in report.anomalies.budgets} if report.anomalies else {}
    return environment().get_template("report.html.j2").render(
        r=report, teams=teams, only_team=team, coverage_total=coverage_total,
        drift_words={p.part: p.text for p in report.drift_parts}, budgets=budgets,
        team_href=team_href, back=back, anchors={t.team: t.anchor for t in report.teams}, one_day=timedelta(days=1),
        team_bars=[(t.team, t.billed) for t in report.teams])
