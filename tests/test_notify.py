"""`[[notify]]` targets (Slack, Teams workflows, JSON webhooks) against a real HTTP server on loopback.

The server records every POST (path with its query string, headers, decoded JSON) and answers
as the services do: Slack ``200 ok``, a Teams workflow ``202 Accepted``, a webhook ``204``;
scripted answers (429 with Retry-After, 500, 404) are consumed first. The flags are real: the
demo month with growth's bulk job of test_nightly added (its usage more than doubles week over
week) and a growth budget the month's run rate passes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from fake_billing_servers import loopback
from hypothesis import example, given
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer
from test_email import copy_demo, demo_month  # noqa: F401
from test_nightly import SURGE_TEAM, SURGE_TOML, write_surge
from werkzeug import Request, Response

from finops.config import load_config, parse_config
from finops.errors import ConfigError
from finops.windows import days_label

DAY = date(2026, 10, 22)  # the nightly run: flags as of the 21st
AS_OF = DAY - timedelta(days=1)
GROWTH_BUDGET = 100
NIGHTLY = '[nightly]\nout_dir = "nightly"\nchargeback_day = 0\nnotify_anomalies = false\n'
ENV = {"slack": "FINOPS_TEST_SLACK_URL", "teams": "FINOPS_TEST_TEAMS_URL", "hook": "FINOPS_TEST_HOOK_URL",
       "search-only": "FINOPS_TEST_SEARCH_URL", "gone": "FINOPS_TEST_GONE_URL"}


# ----------------------------------------------------------------------------- the recording server

@dataclass
class Post:
    """One POST as the server got it."""

    path: str  # with the query string
    headers: dict[str, str]
    body: Any


@dataclass
class Recorder:
    """Records POSTs; answers from ``script[path]`` first, then as the service at that path would."""

    server: HTTPServer
    posts: list[Post] = field(default_factory=list)
    script: dict[str, list[tuple[int, dict[str, str], str]]] = field(default_factory=dict)

    DEFAULT = {"/slack": (200, {"Content-Type": "text/html"}, "ok"), "/teams": (202, {}, ""),
               "/gone": (404, {}, "no_service")}

    def handle(self, request: Request) -> Response:
        self.posts.append(Post(request.full_path.rstrip("?"), dict(request.headers), json.loads(request.data)))
        queue = self.script.get(request.path)
        status, headers, body = queue.pop(0) if queue else self.DEFAULT.get(request.path, (204, {}, ""))
        return Response(body, status=status, headers=headers)

    def url(self, path: str) -> str:
        return self.server.url_for(path)

    def to(self, path: str) -> list[Any]:
        """Bodies posted to ``path``."""
        return [p.body for p in self.posts if p.path.split("?")[0] == path]


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    with loopback() as server:
        rec = Recorder(server)
        server.expect_request(re.compile(".*"), method="POST").respond_with_handler(rec.handle)
        yield rec


def targets_toml(extra: str = "") -> str:
    return f'''
[[notify]]
name = "slack"
kind = "slack"
url_env = "{ENV["slack"]}"

[[notify]]
name = "teams"
kind = "teams"
url_env = "{ENV["teams"]}"
events = ["anomaly"]
teams = ["growth"]

[[notify]]
name = "hook"
kind = "webhook"
url_env = "{ENV["hook"]}"
timeout = 5
attempts = 3

[[notify]]
name = "search-only"
kind = "webhook"
url_env = "{ENV["search-only"]}"
teams = ["search"]
{extra}'''


@pytest.fixture
def site(demo_month: Path, tmp_path: Path, recorder: Recorder, monkeypatch: pytest.MonkeyPatch) -> Path:  # noqa: F811
    """The demo with growth's surge, a growth budget and four targets on the recorder."""
    monkeypatch.setenv(ENV["slack"], recorder.url("/slack"))
    monkeypatch.setenv(ENV["teams"], recorder.url("/teams") + "?api-version=2016-06-01&sp=%2Ftriggers&sig=Zm9v")
    monkeypatch.setenv(ENV["hook"], recorder.url("/hook"))
    monkeypatch.setenv(ENV["search-only"], recorder.url("/search"))
    monkeypatch.setenv(ENV["gone"], recorder.url("/gone"))
    cfg = copy_demo(demo_month, tmp_path / "site", NIGHTLY + SURGE_TOML + targets_toml())
    text = cfg.read_text().replace("budget_usd = 60\n", "")  # the demo's own growth budget
    cfg.write_text(text.replace('[teams."growth"]\n', f'[teams."growth"]\nbudget_usd = {GROWTH_BUDGET}\n'))
    write_surge(cfg)
    return cfg


def ledger(cfg: Path) -> list[tuple]:
    with duckdb.connect(str(cfg.parent / "finops.duckdb"), read_only=True) as con:
        return con.execute("SELECT kind, period, team, recipients, message_id, topics FROM emails_sent "
                           "WHERE kind LIKE 'notify:%' ORDER BY sent_at, kind").fetchall()


def money(value: str) -> str:
    """A JSON decimal string as the messages print money: ``1234.50`` -> ``1,234.50``."""
    return f"{Decimal(value):,}"


def mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def expected_slack(title: str, facts: list[tuple[str, str]], where: str, footer: str) -> dict[str, Any]:
    return {"text": title, "blocks": [
        {"type": "section", "text": mrkdwn(f"*{title}*")},
        {"type": "section", "fields": [mrkdwn(f"*{k}*\n{v}") for k, v in facts]},
        {"type": "section", "text": mrkdwn(f"*Where to look:* {where}")},
        {"type": "context", "elements": [mrkdwn(footer)]}]}


def expected_teams(title: str, facts: list[tuple[str, str]], where: str, footer: str) -> dict[str, Any]:
    return {"type": "message", "attachments": [{
        "contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None,
        "content": {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard",
            "version": "1.4", "msteams": {"width": "Full"},
            "body": [
                {"type": "RichTextBlock", "inlines": [
                    {"type": "TextRun", "text": title, "weight": "Bolder", "size": "Medium"}]},
                {"type": "FactSet", "facts": [{"title": k, "value": v} for k, v in facts]},
                {"type": "RichTextBlock", "inlines": [
                    {"type": "TextRun", "text": "Where to look: ", "weight": "Bolder"},
                    {"type": "TextRun", "text": where}]},
                {"type": "RichTextBlock", "inlines": [
                    {"type": "TextRun", "text": footer, "isSubtle": True, "size": "Small"}]}]}}]}


def nightly_summary(cfg: Path, day: date) -> dict[str, Any]:
    return json.loads((cfg.parent / "nightly" / day.isoformat() / "nightly.json").read_text())


# ----------------------------------------------------------------------------- the nightly run

def test_nightly_posts_each_flag_once_to_each_target_that_takes_it(cli, site: Path, recorder: Recorder) -> None:
    from finops import api
    from finops.reconcile.anomalies import DRIVER_WORDS

    pulled = cli("-c", str(site), "pull", "--month", "2026-10", "--source", "surge")
    assert pulled.code == 0, pulled.err
    # What `finops anomalies --format json` says for the same week, run on that day (so the last
    # provisional days count at their estimate, as in the nightly run): one flag (growth up) and
    # growth's budget.
    report = json.loads(json.dumps(api.anomalies(replace(load_config(site), today=DAY), as_of=AS_OF).as_dict()))
    (flag,) = report["anomalies"]["flags"]
    (budget,) = [b for b in report["budgets"] if b["flagged"]]
    assert (flag["team"], flag["kind"], budget["team"]) == (SURGE_TEAM, "up", SURGE_TEAM)
    # the projection, by hand: spent × 31 days / 21 days elapsed, over the 100 USD budget
    projected = (Decimal(budget["spent"]) * 31 / 21).quantize(Decimal("0.01"))
    assert Decimal(budget["projected"]) == projected > GROWTH_BUDGET

    recorder.script["/slack"] = [(429, {"Retry-After": "0"}, "rate_limited")]  # then 200 ok
    first = cli("-c", str(site), "nightly", "--date", DAY.isoformat())
    assert first.code == 0, first.err
    anomaly_label, budget_label = f"anomaly up growth {AS_OF}", f"budget growth {AS_OF}"
    for line in (f"notify slack (slack): posted {anomaly_label}, {budget_label}",
                 f"notify teams (teams): posted {anomaly_label}",
                 f"notify hook (webhook): posted {anomaly_label}, {budget_label}",
                 "notify search-only (webhook): nothing to post"):
        assert line in first.out.splitlines(), line

    # Slack got the flag twice (429, then the retry) and the budget once; Teams only the flag
    # (events = ["anomaly"]); the search-only webhook nothing (teams = ["search"]).
    assert [p.path for p in recorder.posts] == [
        "/slack", "/slack", "/slack", "/teams?api-version=2016-06-01&sp=%2Ftriggers&sig=Zm9v", "/hook", "/hook"]
    assert all(p.headers["Content-Type"] == "application/json" and p.headers["User-Agent"] == "finops-notify"
               for p in recorder.posts)

    # The anomaly, exactly, in each format. Numbers from `finops anomalies`; the top
    # contributor by hand (test_nightly): 120 requests × 30,000 output tokens, 18.24 USD.
    title = f"LLM spend up: growth ×{flag['ratio']} (7 days to {AS_OF})"
    metric = "output tokens" if flag["metric"] == "output_tokens" else "cost"
    facts = [("Estimated cost", f"{money(flag['prior_cost'])} → {money(flag['current_cost'])} USD"),
             ("Output tokens", f"{flag['prior_output_tokens']:,} → {flag['current_output_tokens']:,}"),
             ("Ratio", f"{flag['ratio']} ({metric}) ≥ threshold 2.0"),
             ("Windows (UTC)", "2026-10-08..2026-10-14 → 2026-10-15..2026-10-21"),
             ("Mostly", DRIVER_WORDS[flag["driver"]])]
    where = ("landing · bulk-variants · claude-haiku-4-5-20251001: output tokens 0 → 3,600,000, "
             "cost 0.00 → 18.24 USD, new usage")
    footer = f"finops anomalies --as-of {AS_OF} lists every contributor"
    slack_flag, slack_flag_again, slack_budget = recorder.to("/slack")
    assert slack_flag == slack_flag_again == expected_slack(title, facts, where, footer)
    assert recorder.to("/teams") == [expected_teams(title, facts, where, footer)]
    hook_flag, hook_budget = recorder.to("/hook")
    assert hook_flag == {
        "schema_version": 1, "source": "finops", "id": f"anomaly:up:{AS_OF}:growth", "event": "anomaly",
        "topic": "anomaly:up", "period": AS_OF.isoformat(), "team": "growth", "currency": "USD",
        "title": title, "facts": [{"label": k, "value": v} for k, v in facts], "where_to_look": where,
        "text": "\n".join([title, *(f"{k}: {v}" for k, v in facts), f"Where to look: {where}"]),
        "anomaly": flag}

    # The budget: the same numbers as `finops anomalies`; where to look from the month's report.
    team = json.loads(cli("-c", str(site), "report", "--month", "2026-10", "--team", "growth",
                          "--format", "json").out)["teams"][0]
    largest = ", ".join(f"{what} {top['name']} {money(top['billed'])}" for what, top in (
        (w, max(team[f"by_{w}"], key=lambda x: (Decimal(x["billed"]), x["name"]))) for w in ("project", "feature", "model")))
    b_title = f"LLM budget: growth at {budget['pct_used']} % of 100.00 USD, projected {budget['projected_pct']} % ({AS_OF})"
    b_facts = [("Spent", f"{money(budget['spent'])} of 100.00 USD ({budget['pct_used']} %), 2026-10-01..{AS_OF}, "
                         "day 21 of 31"),
               ("Projected month end", f"{money(budget['projected'])} USD ({budget['projected_pct']} %) "
                                       "= spent × 31 / 21"),
               ("Flagged", "projected over budget"),
               ("Spend is", f"billed (allocated) money through {budget['settled_through']}; estimate from spans "
                            f"for {days_label(date.fromisoformat(budget['provisional_from']), AS_OF + timedelta(days=1))} "
                            "(provisional)")]
    b_where = (f"largest billed this month: {largest} USD; finops report --month 2026-10 --team growth: "
               "the team's spend by project, feature and model")
    assert slack_budget == expected_slack(b_title, b_facts, b_where, f"finops anomalies --as-of {AS_OF} shows every budget")
    assert hook_budget["budget"] == budget and hook_budget["team"] == "growth" and hook_budget["event"] == "budget"
    assert hook_budget["id"] == f"budget:{AS_OF}:growth"

    posted = [("notify:slack", f"anomaly:up:{AS_OF}:growth"), ("notify:slack", f"budget:{AS_OF}:growth"),
              ("notify:teams", f"anomaly:up:{AS_OF}:growth"), ("notify:hook", f"anomaly:up:{AS_OF}:growth"),
              ("notify:hook", f"budget:{AS_OF}:growth")]
    assert sorted((r[0], r[4]) for r in ledger(site)) == sorted(posted)
    assert {(r[0], tuple(r[3]), tuple(r[5])) for r in ledger(site)} >= {("notify:teams", ("teams",), ("anomaly:up",))}
    summary = nightly_summary(site, DAY)
    assert {t["target"]: t["posted"] for t in summary["notify"]} == {
        "slack": [f"anomaly:up:{AS_OF}:growth", f"budget:{AS_OF}:growth"], "teams": [f"anomaly:up:{AS_OF}:growth"],
        "hook": [f"anomaly:up:{AS_OF}:growth", f"budget:{AS_OF}:growth"], "search-only": []}

    # The same night again: nothing is posted twice.
    count, rows = len(recorder.posts), ledger(site)
    second = cli("-c", str(site), "nightly", "--date", DAY.isoformat())
    assert second.code == 0, second.err
    assert len(recorder.posts) == count and ledger(site) == rows
    assert (f"notify slack (slack): already posted, not again: {anomaly_label}, {budget_label}"
            in second.out.splitlines())

    # The next night growth is still flagged, but every target heard of it yesterday (7 quiet days).
    nxt = DAY + timedelta(days=1)
    third = cli("-c", str(site), "nightly", "--date", nxt.isoformat())
    assert third.code == 0, third.err
    assert [(f["team"], f["kind"]) for f in nightly_summary(site, nxt)["flags"]] == [(SURGE_TEAM, "up")]
    assert len(recorder.posts) == count and ledger(site) == rows


def test_a_target_that_fails_does_not_stop_the_others(cli, demo_month: Path, tmp_path: Path,  # noqa: F811
                                                       recorder: Recorder, site: Path) -> None:
    site.write_text(site.read_text() + f'\n[[notify]]\nname = "gone"\nkind = "slack"\nurl_env = "{ENV["gone"]}"\n'
                    'attempts = 2\n[[notify]]\nname = "unset"\nkind = "teams"\nurl_env = "FINOPS_TEST_UNSET_URL"\n')
    assert cli("-c", str(site), "pull", "--month", "2026-10", "--source", "surge").code == 0
    recorder.script["/hook"] = [(503, {"Retry-After": "0"}, "busy")]  # then 204
    r = cli("-c", str(site), "nightly", "--date", DAY.isoformat())
    assert r.code == 3
    assert f"finops: error: notify gone anomaly up growth {AS_OF}: HTTP 404: no_service" in r.err
    assert "FINOPS_TEST_UNSET_URL is not set" in r.err
    assert "finops: notify target(s) not posted: gone, unset" in r.err
    assert "notify gone (slack): 2 not posted" in r.out  # 404 is not retried: one request per message
    assert [p.path for p in recorder.posts].count("/gone") == 2
    assert len(recorder.to("/slack")) == 2 and len(recorder.to("/hook")) == 3  # 503, retry, budget
    assert {r[0] for r in ledger(site)} == {"notify:slack", "notify:teams", "notify:hook"}
    with duckdb.connect(str(site.parent / "finops.duckdb"), read_only=True) as con:
        status, errors = con.execute("SELECT status, errors FROM runs WHERE command = 'nightly'").fetchone()
    assert status == "partial" and "notify gone" in errors

    # The next run tries only what did not get through.
    recorder.posts.clear()
    again = cli("-c", str(site), "nightly", "--date", DAY.isoformat())
    assert again.code == 3
    assert [p.path for p in recorder.posts] == ["/gone", "/gone"]


# ----------------------------------------------------------------------------- retries, at the library

def test_retries_honour_retry_after_and_a_permanent_error_is_not_retried(recorder: Recorder, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from finops.notify import Target, post
    from finops.notify.events import Event
    from finops.warehouse import connect

    event = Event("gate", "gate:fail", "2026-10", "*", "finops gate 2026-10: FAIL", (("Drift", "+6.00 %"),),
                  "rate", "finops report --month 2026-10")
    paths = {"limited": "/slack", "flaky": "/hook", "gone": "/gone", "down": "/down"}
    for name, path in paths.items():
        monkeypatch.setenv(f"FINOPS_TEST_{name.upper()}_URL", recorder.url(path))
    recorder.script = {"/slack": [(429, {"Retry-After": "7"}, "rate_limited")],
                       "/hook": [(500, {}, "oops"), (502, {}, "<html>bad gateway</html>")],
                       "/down": [(503, {}, "")] * 3}
    targets = [Target(n, "slack" if n == "limited" else "webhook", f"FINOPS_TEST_{n.upper()}_URL", attempts=3)
               for n in paths]
    waits: list[float] = []
    con = connect(tmp_path / "w.duckdb")
    try:
        out = post(con, targets, [event], kinds=("gate",), sleep=waits.append)
    finally:
        con.close()
    got = {t.name: (len(t.posted), t.requests, t.failed) for t in out.targets}
    assert got["limited"] == (1, 2, [])
    assert got["flaky"] == (1, 3, [])
    assert got["gone"] == (0, 1, ["notify gone gate fail 2026-10: HTTP 404: no_service"])
    assert got["down"] == (0, 3, ["notify down gate fail 2026-10: HTTP 503 after 3 attempts: "])
    assert waits[0] == 7.0  # the server's Retry-After, not a guess
    assert len(waits) == 1 + 2 + 2 and all(0 < w <= 30 for w in waits[1:])  # backoff, bounded
    assert out.failed == ["gone", "down"]
    assert [p.path for p in recorder.posts].count("/down") == 3


# ----------------------------------------------------------------------------- the gate

@pytest.fixture
def demo_site(demo_month: Path, tmp_path: Path, recorder: Recorder, monkeypatch: pytest.MonkeyPatch) -> Path:  # noqa: F811
    """The demo as written, its three gate targets pointed at the recorder."""
    monkeypatch.setenv("FINOPS_DEMO_SLACK_URL", recorder.url("/slack"))
    monkeypatch.setenv("FINOPS_DEMO_TEAMS_URL", recorder.url("/teams"))
    monkeypatch.setenv("FINOPS_DEMO_WEBHOOK_URL", recorder.url("/hook"))
    return copy_demo(demo_month, tmp_path / "site", "")


def test_gate_posts_a_failure_once_with_notify(cli, demo_site: Path, recorder: Recorder) -> None:
    c = str(demo_site)
    quiet = cli("-c", c, "gate", "--month", "2026-10", "--max-drift", "4")
    assert quiet.code == 1 and recorder.posts == []  # without --notify nothing is posted

    as_json = json.loads(cli("-c", c, "gate", "--month", "2026-10", "--max-drift", "4", "--format", "json").out)
    assert as_json["status"] == "fail" and as_json["drift_pct"] == "-4.40"
    r = cli("-c", c, "gate", "--month", "2026-10", "--max-drift", "4", "--notify")
    assert r.code == 1, r.err  # the gate's verdict; every target was posted
    assert r.out.startswith("finops gate 2026-10: FAIL")  # stdout stays the gate's output
    for name, kind in (("demo-slack", "slack"), ("demo-teams", "teams"), ("demo-webhook", "webhook")):
        assert f"notify {name} ({kind}): posted gate fail 2026-10" in r.err.splitlines()
    assert [p.path for p in recorder.posts] == ["/slack", "/teams", "/hook"]
    (hook,) = recorder.to("/hook")
    assert hook["gate"] == as_json and hook["team"] is None and hook["id"] == "gate:fail:2026-10:*"
    # E − B by part, from the report; the largest names where to look
    parts = json.loads(cli("-c", c, "report", "--month", "2026-10", "--format", "json").out)["explanation"]
    big = max((k for k in parts if Decimal(parts[k])), key=lambda k: abs(Decimal(parts[k])))
    assert big == "volume" and parts[big] == "-55.35"
    title = "finops gate 2026-10: FAIL, drift -4.40 % (threshold ±4.0 %)"
    facts = [("Billed / estimated", "4,294.93 / 4,105.78 USD"),
             ("Providers over ±4.0 %", "anthropic -4.25 %, openai -4.71 %"),
             ("Drift parts (E − B)", "volume -55.35, premium -54.14, unmatched -31.28, coverage -29.35, "
                                     "credit 25.00, non_token -22.87, unpriced -21.15 USD"),
             ("Drift explained", json.loads(cli("-c", c, "report", "--month", "2026-10", "--format", "json").out)[
                 "drift_summary"])]
    where = ("the largest part of the drift is volume (-55.35 of -189.15 USD): span tokens differ from billed "
             "tokens: token attributes mapped wrong, or (without billed request counts) missing or sampled spans")
    assert recorder.to("/slack") == [expected_slack(title, facts, where, "finops report --month 2026-10 explains the drift")]
    assert hook["text"].splitlines()[0] == title

    again = cli("-c", c, "gate", "--month", "2026-10", "--max-drift", "4", "--notify")
    assert again.code == 1 and len(recorder.posts) == 3
    assert "notify demo-slack (slack): already posted, not again: gate fail 2026-10" in again.err.splitlines()
    passing = cli("-c", c, "gate", "--month", "2026-10", "--notify")
    assert passing.code == 0 and len(recorder.posts) == 3
    assert "notify demo-slack (slack): nothing to post" in passing.err.splitlines()


def test_gate_dry_run_writes_the_posts(cli, demo_site: Path, recorder: Recorder, tmp_path: Path) -> None:
    out = tmp_path / "outbox"
    r = cli("-c", str(demo_site), "gate", "--month", "2026-10", "--max-drift", "4", "--notify", "--dry-run",
            "--out", str(out))
    assert r.code == 1, r.err
    assert recorder.posts == []
    assert sorted(p.name for p in out.iterdir()) == [
        "notify-demo-slack-gate-fail-2026-10.json", "notify-demo-teams-gate-fail-2026-10.json",
        "notify-demo-webhook-gate-fail-2026-10.json"]
    written = json.loads((out / "notify-demo-teams-gate-fail-2026-10.json").read_text())
    assert written["attachments"][0]["contentType"] == "application/vnd.microsoft.card.adaptive"
    # a dry run records nothing: the real run still posts
    assert cli("-c", str(demo_site), "gate", "--month", "2026-10", "--max-drift", "4", "--notify").code == 1
    assert recorder.to("/teams") == [written]


def test_gate_notify_needs_a_target_that_takes_gate_events(cli, tmp_path: Path) -> None:
    cfg = tmp_path / "finops.toml"
    cfg.write_text('[warehouse]\npath = "w.duckdb"\n[[notify]]\nname = "a"\nkind = "slack"\nurl_env = "U"\n'
                   'events = ["anomaly", "budget"]\n')
    r = cli("-c", str(cfg), "gate", "--month", "2026-10", "--notify")
    assert r.code == 2 and "--notify: no [[notify]] target in" in r.err and "takes gate events" in r.err


@pytest.mark.parametrize("args, message", [
    (("--dry-run",), "--dry-run"),
    (("--notify", "--out", "x"), "--out"),
])
def test_gate_option_errors_exit_2(cli, demo_site: Path, args: tuple[str, ...], message: str) -> None:
    r = cli("-c", str(demo_site), "gate", "--month", "2026-10", *args)
    assert r.code == 2 and message in r.err


# ----------------------------------------------------------------------------- secrets

def test_the_webhook_url_appears_nowhere(cli, demo_month: Path, tmp_path: Path, recorder: Recorder,  # noqa: F811
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The URL is the secret: a server that echoes it back, a dead host, a dry run; it is in no output."""
    canary = "T0LEAKCANARY/B0LEAKCANARY/LEAKCANARYtoken0123456789"
    echo = recorder.url(f"/gone/{canary}")
    monkeypatch.setenv("FINOPS_DEMO_SLACK_URL", recorder.url(f"/slack/{canary}"))
    monkeypatch.setenv("FINOPS_DEMO_TEAMS_URL", echo + "?sv=1.0&sig=LEAKCANARYsig0123456789abcdef")
    monkeypatch.setenv("FINOPS_DEMO_WEBHOOK_URL", f"http://127.0.0.1:9/{canary}")  # nothing listens
    recorder.DEFAULT = {**Recorder.DEFAULT}
    original = recorder.handle

    def echoing(request: Request) -> Response:  # as servers do: the URL, or only the path, or the token
        original(request)
        if request.path.startswith("/gone"):
            return Response(f"no such hook {request.url} (path {request.path}, sig "
                            f"{request.args.get('sig')}, token {request.path.rsplit('/', 1)[-1]})", status=404)
        return Response("ok", status=200)
    recorder.server.clear()
    recorder.server.expect_request(re.compile(".*"), method="POST").respond_with_handler(echoing)
    monkeypatch.setenv("FINOPS_TEST_HOOK_URL", recorder.url(f"/hook/{canary}"))
    site = copy_demo(demo_month, tmp_path / "site", NIGHTLY + SURGE_TOML + '[[notify]]\nname = "hook"\nkind = "webhook"\n'
                     'url_env = "FINOPS_TEST_HOOK_URL"\nattempts = 1\n')
    write_surge(site)
    c = str(site)
    runs = [cli("-c", c, "pull", "--month", "2026-10", "--source", "surge"),
            cli("-c", c, "nightly", "--date", DAY.isoformat()),
            cli("-c", c, "nightly", "--date", DAY.isoformat(), "--dry-run"),
            cli("-c", c, "gate", "--month", "2026-10", "--max-drift", "3", "--notify"),  # fails: drift -3.87 %
            cli("-c", c, "gate", "--month", "2026-10", "--max-drift", "3", "--notify", "--dry-run", "--out",
                str(site.parent / "outbox"))]
    assert runs[1].code == 0, runs[1].err
    assert runs[3].code == 3  # the echoing 404 and the dead host
    assert "HTTP 404" in runs[3].err and "cannot connect" in runs[3].err
    assert any(canary in p.path for p in recorder.posts)  # it was used, in the request only
    texts = [r.out + r.err for r in runs]
    with duckdb.connect(str(site.parent / "finops.duckdb"), read_only=True) as con:
        for (table,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall():
            texts.append(str(con.execute(f'SELECT * FROM "{table}"').fetchall()))
    files = [p for p in site.parent.rglob("*") if p.is_file() and p.suffix != ".duckdb" and "spans" not in p.parts
             and p.name != "finops.toml"]
    assert any(p.suffix == ".json" and p.name.startswith("notify-") for p in files)
    texts += [p.read_bytes().decode("utf-8", "replace") for p in files]
    for i, text in enumerate(texts):
        assert "LEAKCANARY" not in text, f"the webhook URL leaked in output #{i}"
    assert b"LEAKCANARY" not in (site.parent / "finops.duckdb").read_bytes()


# ----------------------------------------------------------------------------- config

def _targets(*tables: str) -> list[Any]:
    import tomllib

    from finops.notify import parse_targets
    return parse_targets(parse_config(tomllib.loads("\n".join(tables)), Path("/etc/finops.toml")))


@pytest.mark.parametrize("table, error", [
    ('name = "a"\nkind = "slack"\nurl_env = "U"\nevnts = ["gate"]',
     "/etc/finops.toml: notify.a: unknown option 'evnts' (did you mean 'events'?)"),
    ('name = "a"\nkind = "slak"\nurl_env = "U"',
     "/etc/finops.toml: notify.a: kind must be one of slack, teams, webhook, not 'slak' (did you mean 'slack'?)"),
    ('name = "a"\nkind = "teams"\nurl_env = "U"\nevents = ["anomoly"]',
     "/etc/finops.toml: notify.a: events 'anomoly' is not one of anomaly, budget, gate (did you mean 'anomaly'?)"),
    ('name = "a"\nkind = "webhook"\nurl_env = "https://hooks.example.com/x"',
     "notify.a: url_env must name an environment variable, not hold the URL (the URL is a secret)"),
    ('kind = "webhook"\nurl_env = "U"', "/etc/finops.toml: notify[0]: name is missing"),
    ('name = "a"\nkind = "webhook"', "notify.a: url_env is missing"),
    ('name = "a"\nkind = "webhook"\nurl_env = "U"\nattempts = 0', "notify.a: attempts must be a positive integer"),
    ('name = "a"\nkind = "webhook"\nurl_env = "U"\nteams = []', "notify.a: teams must be a non-empty list of names"),
])
def test_config_errors_name_the_table_and_key(table: str, error: str) -> None:
    with pytest.raises(ConfigError) as e:
        _targets("[[notify]]\n" + table)
    assert error in str(e.value)
    assert "hooks.example.com" not in str(e.value)


def test_config_defaults_and_duplicate_names() -> None:
    (t,) = _targets('[[notify]]\nname = "a"\nkind = "slack"\nurl_env = "U"')
    assert (t.events, t.teams, t.timeout, t.attempts) == (("anomaly", "budget", "gate"), None, 10.0, 4)
    assert t.wants("gate", "*") and t.wants("anomaly", "anyone")
    (t,) = _targets('[[notify]]\nname = "a"\nkind = "slack"\nurl_env = "U"\nevents = "budget"\nteams = ["x"]')
    assert t.wants("budget", "x") and not t.wants("budget", "y") and not t.wants("anomaly", "x")
    with pytest.raises(ConfigError, match="'a' is used by two"):
        _targets(*['[[notify]]\nname = "a"\nkind = "slack"\nurl_env = "U"'] * 2)


def test_a_config_typo_stops_the_nightly_before_it_pulls(cli, tmp_path: Path) -> None:
    cfg = tmp_path / "finops.toml"
    cfg.write_text('[warehouse]\npath = "w.duckdb"\n[[notify]]\nname = "a"\nkind = "slack"\nurl_env = "U"\n'
                   'timout = 5\n')
    r = cli("-c", str(cfg), "nightly", "--date", "2026-10-22")
    assert r.code == 2
    assert "notify.a: unknown option 'timout' (did you mean 'timeout'?)" in r.err
    assert not (tmp_path / "w.duckdb").exists()


def test_readme_documents_a_toml_example_per_kind_that_parses() -> None:
    import tomllib

    from finops.notify import parse_targets
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("\n## Notifications", 1)[1].split("\n## ", 1)[0]
    blocks = [b.split("```", 1)[0] for b in section.split("```toml\n")[1:]]
    kinds = set()
    for b in blocks:
        targets = parse_targets(parse_config(tomllib.loads(b)))
        kinds |= {t.kind for t in targets}
    assert kinds == {"slack", "teams", "webhook"}
    for text in ("finops gate --notify", "--dry-run", "emails_sent", "Retry-After", '"schema_version"', "verbatim"):
        assert text in section, text


# ----------------------------------------------------------------------------- escaping

HOSTILE = "<!channel> & *ops* _x_ [click](http://evil.example) {{DATE(2026-10-21T00:00:00Z, SHORT)}}"


def test_team_names_are_escaped_for_each_format() -> None:
    from finops.notify import anomaly_event, payload
    from finops.reconcile.anomalies import Contributor, Flag
    from finops.windows import Window

    c = Contributor(HOSTILE, "<proj>", "feat&", "gpt-4o", 1, 2, 100, 300, Decimal(1), Decimal(3), "volume")
    f = Flag(HOSTILE, "up", Decimal("3.00"), Decimal("2.0"), Decimal(3), Decimal(1), 300, 100, [c], "m", "cost",
             "volume")
    e = anomaly_event(f, as_of=date(2026, 10, 21), prior=Window(date(2026, 10, 8), date(2026, 10, 15)),
                      current=Window(date(2026, 10, 15), date(2026, 10, 22)))
    slack = json.dumps(payload("slack", e), ensure_ascii=False)
    assert "<" not in slack and ">" not in slack  # no mention, no link: only entities
    assert "&lt;!channel&gt; &amp; *ops*" in slack and "&lt;proj&gt; · feat&amp;" in slack
    assert all(o.get("verbatim") is True for b in payload("slack", e)["blocks"]
               for o in [b.get("text", {})] + b.get("fields", []) + b.get("elements", []) if o)
    card = payload("teams", e)["attachments"][0]["content"]
    title_run = card["body"][0]["inlines"][0]["text"]
    assert title_run.startswith("LLM spend up: <!channel> & *ops* _x_ [click](http://evil.example) {\u200b{DATE")
    assert "{{" not in json.dumps(card)
    hook = payload("webhook", e)
    assert hook["team"] == HOSTILE and hook["anomaly"]["team"] == HOSTILE  # JSON needs no escaping


@given(st.text())
def test_slack_escape_leaves_no_control_character_and_round_trips(text: str) -> None:
    from finops.notify.formats import slack_escape
    out = slack_escape(text)
    assert "<" not in out and ">" not in out
    assert out.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&") == text


@given(st.text().filter(lambda t: "\u200b" not in t))
@example("{{{DATE(x)}}} *a*")
def test_teams_escape_leaves_no_markdown_and_no_function_and_round_trips(text: str) -> None:
    from finops.notify.formats import teams_escape
    out = teams_escape(text)
    assert "{{" not in out
    # a markdown character after an even number of backslashes would be live
    assert not re.search(r"(?:^|[^\\])(?:\\\\)*[*_\[\]]", out)
    assert re.sub(r"\\(.)", r"\1", re.sub("{\u200b(?={)", "{", out), flags=re.S) == text


def test_teams_fact_values_escape_markdown() -> None:
    from finops.notify.formats import teams_escape
    assert teams_escape("a*b_c [d](e) \\ {{x}}") == "a\\*b\\_c \\[d\\](e) \\\\ {\u200b{x}}"
