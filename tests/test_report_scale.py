"""The HTML report people can read at many teams (issue 18): 500 teams from tests/scale_month.py.

Stable anchors by team name, the team chart as the top teams and "others", budgets once, team
sections collapsed, and with --split-teams an index plus a page per team, each under 1 MB; no
JavaScript anywhere.
"""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
import scale_month

from finops import api
from finops.report.anchors import anchors
from finops.report.html import render_html
from finops.report.write import write_report
from finops.windows import month_window

N = 500
MB = 1_000_000


@pytest.fixture(scope="module")
def month(tmp_path_factory):
    from builders import write_prices
    tmp = tmp_path_factory.mktemp("scale")
    names = scale_month.team_names(N)
    cfg = scale_month.config(tmp, write_prices(tmp / "pricing"), names)
    scale_month.load(cfg, names)
    return api.report(cfg, month_window("2026-10")), tmp


def test_one_page_for_500_teams_is_collapsed_and_charts_the_top_teams_only(month):
    rep, _ = month
    assert len(rep.teams) == N
    html = render_html(rep)
    assert "<script" not in html.lower() and "javascript:" not in html.lower()
    # every team a collapsed <details> section, id = its stable anchor, and the table links to it
    ids = re.findall(r'<details class="team" id="team-([^"]+)">', html)
    assert len(ids) == N and len(set(ids)) == N
    assert 'href="#team-search"' in html and f'id="team-{anchors(t.team for t in rep.teams)["Search"]}"' in html
    assert "&lt;b&gt;markup&lt;/b&gt;" in html and "<b>markup</b>" not in html
    # the team chart: 15 teams and one "others (485)" bar
    chart = html[html.index('<h2 id="teams">'):html.index("</svg>", html.index('<h2 id="teams">'))]
    assert chart.count("<rect") == 16 and "others (485)" in chart
    # budgets once: one table, each budget team once in it (and its own section a one-line status)
    assert html.count("<h2 id=\"budgets\">") == 1
    budgets = html[html.index('<h2 id="budgets">'):html.index('<h2 id="teams">')]
    assert budgets.count('<a href="#team-team-0010">team-0010</a>') == 1
    assert len(rep.anomalies.budgets) == N // 10
    # month over month for every team, parts adding up to the change
    for t in rep.teams:
        assert t.change is not None and sum(t.change.parts.values(), Decimal(0)) == t.change.change


def test_split_teams_writes_an_index_and_a_page_per_team_each_under_a_megabyte(month):
    rep, tmp = month
    paths = write_report(rep, tmp / "split", fmt="html", split_teams=True)
    index, pages = paths[0], paths[1:]
    assert index.name == "chargeback-2026-10.html" and len(pages) == N
    text = index.read_text()
    assert '<details class="team"' not in text and 'href="chargeback-2026-10-teams/search.html"' in text
    assert index.stat().st_size < MB
    assert max(p.stat().st_size for p in pages) < MB
    for href in re.findall(r'href="(chargeback-2026-10-teams/[^"]+)"', text):
        assert (index.parent / href).exists()
    page = (index.parent / "chargeback-2026-10-teams" / "search.html").read_text()
    assert '<details class="team" id="team-search" open>' in page and 'href="../chargeback-2026-10.html"' in page
