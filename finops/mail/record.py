"""The sent-mail ledger (``emails_sent``): what went to whom, so a re-run does not resend."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import duckdb


@dataclass(frozen=True)
class SentMail:
    """One message the SMTP server accepted, for the recipients it accepted."""

    kind: str
    period: str
    team: str
    recipients: tuple[str, ...]
    message_id: str
    subject: str
    sent_at: datetime
    topics: tuple[str, ...] = ()


def delivered_to(con: duckdb.DuckDBPyConnection, kind: str, period: str, team: str) -> set[str]:
    """Every recipient (lower-cased) that already received ``kind`` for ``period`` and ``team``."""
    rows = con.execute(
        "SELECT DISTINCT lower(unnest(recipients)) FROM emails_sent "
        "WHERE kind = ? AND period = ? AND team = ?", [kind, period, team]).fetchall()
    return {r[0] for r in rows}


def topics_between(con: duckdb.DuckDBPyConnection, team: str, start: date, end: date) -> set[str]:
    """Anomaly topics (flag kinds, ``budget``) sent to ``team`` for days in ``[start, end)``."""
    rows = con.execute(
        "SELECT DISTINCT unnest(topics) FROM emails_sent WHERE kind = 'anomaly' AND team = ? "
        "AND period >= ? AND period < ?", [team, start.isoformat(), end.isoformat()]).fetchall()
    return {r[0] for r in rows}


def record(con: duckdb.DuckDBPyConnection, mail: SentMail, run_id: str | None = None) -> None:
    """Add one delivered message to the ledger (autocommit: it happened, whatever comes next)."""
    con.execute(
        "INSERT INTO emails_sent (kind, period, team, recipients, message_id, subject, topics, "
        "sent_at, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [mail.kind, mail.period, mail.team, list(mail.recipients), mail.message_id, mail.subject,
         list(mail.topics), mail.sent_at, run_id])
