"""The HTML chargeback report (jinja2, autoescaped; charts inline SVG; no JavaScript)."""

from __future__ import annotations

from decimal import Decimal
from functools import cache

from jinja2 import Environment, FileSystemLoader, select_autoescape

from finops.money import fmt_money, fmt_pct
from finops.paths import data_dir
from finops.report.charts import daily_chart, share_bars
from finops.report.model import Report

BASIS_LABELS = {
    "cost": "span cost share", "tokens": "span token share (unpriced model)",
    "cell_cost": "span cost share (other token types)", "cell_tokens": "span token share (other types)",
    "rule": "account rule", "unattributed": "unattributed",
}


@cache
def environment() -> Environment:
    """The template environment: autoescape on for every template."""
    env = Environment(loader=FileSystemLoader(str(data_dir("templates"))),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["money"] = fmt_money
    env.filters["pct"] = fmt_pct
    env.globals.update(daily_chart=daily_chart, share_bars=share_bars, basis_labels=BASIS_LABELS)
    return env


def render_html(report: Report, team: str | None = None) -> str:
    """The whole report, or one team's section (the team-lead view) when ``team`` is given."""
    teams = [t for t in report.teams if team is None or t.team == team]
    coverage_total = sum(report.coverage.values(), Decimal(0)) or Decimal(1)
    return environment().get_template("report.html.j2").render(
        r=report, teams=teams, only_team=team, coverage_total=coverage_total,
        team_bars=[(t.team, t.billed) for t in report.teams])
