"""The HTML chargeback report (jinja2, autoescaped; charts inline SVG; no JavaScript)."""

from __future__ import annotations

from decimal import Decimal
from functools import cache

from jinja2 import Environment, FileSystemLoader, select_autoescape

from finops.money import fmt_money, fmt_pct
from finops.paths import data_dir
from finops.report.charts import daily_chart, share_bars
from finops.report.keys import KEYS_SHOWN
from finops.report.keys import KINDS as KEY_KINDS
from finops.report.model import Report

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


@cache
def environment() -> Environment:
    """The template environment: autoescape on for every template."""
    env = Environment(loader=FileSystemLoader(str(data_dir("templates"))),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["money"] = fmt_money
    env.filters["pct"] = fmt_pct
    env.globals.update(daily_chart=daily_chart, share_bars=share_bars, basis_labels=BASIS_LABELS,
                       part_meanings=PART_MEANINGS, key_kinds=KEY_KINDS, keys_shown=KEYS_SHOWN)
    return env


def render_html(report: Report, team: str | None = None) -> str:
    """The whole report, or one team's section (the team-lead view) when ``team`` is given."""
    teams = [t for t in report.teams if team is None or t.team == team]
    coverage_total = sum(report.coverage.values(), Decimal(0)) or Decimal(1)
    return environment().get_template("report.html.j2").render(
        r=report, teams=teams, only_team=team, coverage_total=coverage_total,
        drift_words={p.part: p.text for p in report.drift_parts},
        team_bars=[(t.team, t.billed) for t in report.teams])
