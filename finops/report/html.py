"""The HTML chargeback report (jinja2, autoescaped; charts inline SVG; no JavaScript)."""

from __future__ import annotations

from decimal import Decimal
from functools import cache

from jinja2 import Environment, FileSystemLoader, select_autoescape

from finops.paths import data_dir
from finops.report.charts import daily_chart, share_bars
from finops.report.model import Report, cents

BASIS_LABELS = {
    "cost": "span cost share", "tokens": "span token share (unpriced model)",
    "cell_cost": "span cost share (other token types)", "cell_tokens": "span token share (other types)",
    "rule": "account rule", "unattributed": "unattributed",
}


def money(v: Decimal | None) -> str:
    """Money to the cent with thousands separators: 1,234.56."""
    return f"{cents(v):,}"


def pct(v: Decimal | None) -> str:
    """A signed percentage, or a dash when there is none."""
    return "—" if v is None else f"{v:+.2f} %"


@cache
def environment() -> Environment:
    """The template environment: autoescape on for every template."""
    env = Environment(loader=FileSystemLoader(str(data_dir("templates"))),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["money"] = money
    env.filters["pct"] = pct
    env.globals.update(daily_chart=daily_chart, share_bars=share_bars, basis_labels=BASIS_LABELS)
    return env


def render_html(report: Report, team: str | None = None) -> str:
    """The whole report, or one team's section (the team-lead view) when ``team`` is given."""
    teams = [t for t in report.teams if team is None or t.team == team]
    coverage_total = sum(report.coverage.values(), Decimal(0)) or Decimal(1)
    return environment().get_template("report.html.j2").render(
        r=report, teams=teams, only_team=team, coverage_total=coverage_total,
        team_bars=[(t.team, t.billed) for t in report.teams])
