"""Post events to the targets (or write them as ``.json`` files), skipping what a target already has.

One HTTP POST per event and target through :class:`~finops.http.HttpClient`: a timeout on every
attempt, bounded retries on 429 / 5xx / connection errors honouring ``Retry-After``. Any 2xx is
success (Slack answers ``200 ok``, a Teams workflow ``202 Accepted``). A target that fails (URL
variable unset, an error status, retries exhausted) is reported and the others go on.

The ledger is the sent-mail table ``emails_sent``, one row per accepted post: ``kind`` is
``notify:<target>``, ``recipients`` the target's name, ``topics`` the event's topic
(``anomaly:up``, ``budget``, ``gate:fail``), ``period`` its day or month, ``message_id`` the
event id. A flag already posted to a target for the same team within ``quiet_days`` days (up to
and including its own day) is not posted again; a gate failure is posted once per month and status.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb

from finops.errors import ExitCode, FinopsError, redact
from finops.notify.events import Event
from finops.notify.formats import payload
from finops.notify.targets import Target

__all__ = ["NotifyOutcome", "TargetOutcome", "already_posted", "post"]

USER_AGENT = "finops-notify"


@dataclass
class TargetOutcome:
    """What one target got: posted, skipped (already posted), written (dry run), failed (why)."""

    name: str
    kind: str
    posted: list[Event] = field(default_factory=list)
    skipped: list[Event] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # one line each, naming the event or the target's problem
    requests: int = 0  # HTTP requests made, retries included


@dataclass
class NotifyOutcome:
    """Every target's outcome; ``failed`` names the targets that did not get everything."""

    targets: list[TargetOutcome] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[str]:
        """Names of the targets with a failure."""
        return [t.name for t in self.targets if t.failed]

    @property
    def exit_code(self) -> ExitCode:
        """3 when a target did not get a message (like an undelivered email), else 0."""
        return ExitCode.DATA if self.failed else ExitCode.OK


def already_posted(con: duckdb.DuckDBPyConnection, target: str, event: Event, quiet_days: int) -> bool:
    """Whether ``target`` already has ``event``'s topic for its team (within ``quiet_days`` for a day)."""
    start = end = event.period
    if len(event.period) == 10:  # a day: the quiet period ending on it
        day = date.fromisoformat(event.period)
        start = (day - timedelta(days=quiet_days - 1)).isoformat()
    row = con.execute(
        "SELECT count(*) FROM emails_sent WHERE kind = ? AND team = ? AND list_contains(topics, ?) "
        "AND period >= ? AND period <= ? AND length(period) = ?",
        [f"notify:{target}", event.team, event.topic, start, end, len(event.period)]).fetchone()
    return bool(row and row[0])


def _record(con: duckdb.DuckDBPyConnection, target: str, event: Event, run_id: str | None) -> None:
    con.execute(
        "INSERT INTO emails_sent (kind, period, team, recipients, message_id, subject, topics, sent_at, run_id) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [f"notify:{target}", event.period, event.team, [target], event.id, event.title, [event.topic],
         datetime.now(UTC).replace(tzinfo=None), run_id])


def _file_name(target: str, e: Event) -> str:
    def safe(s: str) -> str:
        return "".join(c if c.isalnum() or c in "-_." else "_" for c in s)[:64] or "_"
    team = "" if e.team == "*" else f"-{safe(e.team)}"
    return f"notify-{safe(target)}-{e.topic.replace(':', '-')}-{e.period}{team}.json"


def post(con: duckdb.DuckDBPyConnection, targets: Iterable[Target], events: list[Event], *,
         kinds: Iterable[str], quiet_days: int = 7, dry_run: bool = False, out_dir: Path | None = None,
         run_id: str | None = None, sleep: Callable[[float], None] | None = None) -> NotifyOutcome:
    """Post each event to each target that takes it and does not have it yet.

    ``kinds`` are the event kinds this run can produce (``anomaly``, ``budget`` for the nightly
    run; ``gate`` for the gate): a target taking one of them is checked even with nothing to
    post, so an unset URL variable is reported every run, not only on the night of a flag.
    With ``dry_run`` the bodies are written to ``out_dir`` as ``.json`` files, nothing is posted
    or recorded, and no URL is needed.
    """
    outcome = NotifyOutcome()
    kinds = set(kinds)
    for target in targets:
        if not kinds & set(target.events):
            continue
        res = TargetOutcome(target.name, target.kind)
        outcome.targets.append(res)
        todo = []
        for e in events:
            if not target.wants(e.event, e.team):
                continue
            (res.skipped if already_posted(con, target.name, e, quiet_days) else todo).append(e)
        if dry_run:
            try:
                target.url()
            except FinopsError as err:
                outcome.notes.append(f"{redact(str(err))} (dry run: a real run would fail)")
            folder = out_dir or Path("outbox")
            for e in todo:
                folder.mkdir(parents=True, exist_ok=True)
                path = folder / _file_name(target.name, e)
                path.write_text(json.dumps(payload(target.kind, e), indent=2, ensure_ascii=False) + "\n",
                                encoding="utf-8")
                res.written.append(path)
            continue
        try:
            url = target.url()
        except FinopsError as err:
            res.failed.append(redact(str(err)))
            continue
        from finops.http import HttpClient, body_excerpt  # requests: only when something is posted

        http = HttpClient(name=f"notify {target.name}", base_url=url, timeout=target.timeout,
                          attempts=target.attempts, backoff_max=30.0, max_retry_after=120.0,
                          headers={"User-Agent": USER_AGENT}, **({"sleep": sleep} if sleep else {}))
        try:
            for e in todo:
                try:
                    resp = http.request("POST", "", where=e.label(), json=payload(target.kind, e))
                except FinopsError as err:
                    res.failed.append(redact(str(err)))
                    continue
                if not 200 <= resp.status_code < 300:
                    res.failed.append(f"notify {target.name} {e.label()}: HTTP {resp.status_code}: "
                                      f"{body_excerpt(resp)}")
                    continue
                _record(con, target.name, e, run_id)
                res.posted.append(e)
        finally:
            res.requests = http.requests_made
            http.session.close()
    return outcome
