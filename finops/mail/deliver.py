"""Send (or write as ``.eml``) a batch of drafts, skipping what the sent-mail ledger already has.

A recipient refused by the server, or a message that cannot be handed over, is reported and
the batch goes on. Only accepted recipients are recorded, so the next run retries exactly the
ones that failed; ``resend`` ignores the ledger.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from finops.config import Config
from finops.errors import ConfigError, ExitCode
from finops.mail.compose import Draft, chargeback_email, summary_email
from finops.mail.record import SentMail, delivered_to, record
from finops.mail.send import SendError, SmtpTransport
from finops.report.model import Report


@dataclass
class Failure:
    """A recipient (or a whole message) that did not get through, and why."""

    kind: str
    team: str
    recipient: str
    reason: str

    def __str__(self) -> str:
        who = "organisation summary" if self.team == "*" else f"{self.kind} {self.team}"
        return f"{who} -> {self.recipient}: {self.reason}"


@dataclass
class MailOutcome:
    """What a batch did: sent, skipped (already delivered), failed, written (dry run)."""

    sent: list[SentMail] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[Failure] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> ExitCode:
        """3 when a recipient (or a whole message) did not get through."""
        return ExitCode.DATA if self.failed else ExitCode.OK

    def extend(self, other: MailOutcome) -> None:
        """Add another batch's outcome to this one."""
        self.sent += other.sent
        self.skipped += other.skipped
        self.failed += other.failed
        self.written += other.written
        self.notes += other.notes


def _file_name(d: Draft) -> str:
    team = "organisation" if d.team == "*" else d.team
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in team)[:64] or "team"
    return f"{d.kind}-{d.period}-{safe}.eml"


def deliver(con: duckdb.DuckDBPyConnection, config: Config, drafts: list[Draft], *,
            dry_run: bool = False, out_dir: Path | None = None, resend: bool = False,
            run_id: str | None = None) -> MailOutcome:
    """Send each draft to the recipients that have not had it yet (all of them with ``resend``).

    With ``dry_run`` the messages are written to ``out_dir`` as ``.eml`` files instead, and
    nothing is recorded.
    """
    result = MailOutcome()
    transport: SmtpTransport | None = None
    try:
        for d in drafts:
            to = d.recipients
            if not resend:
                done = delivered_to(con, d.kind, d.period, d.team)
                to = [a for a in to if a.lower() not in done]
                if not to:
                    result.skipped.append(f"{d.kind} {d.period} {d.team}: already sent to "
                                          f"{', '.join(d.recipients)} (--resend to send again)")
                    continue
                if to != d.recipients:
                    del d.message["To"]
                    d.message["To"] = ", ".join(to)
            if dry_run:
                target = out_dir or Path("outbox")
                target.mkdir(parents=True, exist_ok=True)
                path = target / _file_name(d)
                path.write_bytes(bytes(d.message))
                result.written.append(path)
                continue
            transport = transport or SmtpTransport(config.smtp)
            try:
                refused = transport.send(d.message)
            except SendError as e:
                result.failed += [Failure(d.kind, d.team, a, str(e)) for a in to]
                continue
            refused_lower = {a.lower(): reason for a, reason in refused.items()}
            accepted = tuple(a for a in to if a.lower() not in refused_lower)
            result.failed += [Failure(d.kind, d.team, a, refused_lower[a.lower()])
                              for a in to if a.lower() in refused_lower]
            if accepted:
                mail = SentMail(d.kind, d.period, d.team, accepted, str(d.message["Message-ID"]),
                                d.subject, datetime.now(UTC).replace(tzinfo=None), d.topics)
                record(con, mail, run_id)
                result.sent.append(mail)
    finally:
        if transport is not None:
            transport.close()
    return result


def chargeback_drafts(report: Report, config: Config, *, team: str | None = None
                      ) -> tuple[list[Draft], list[str], list[Failure]]:
    """One draft per team with spend and leads (or only ``team``), plus finance's summary.

    Returns the drafts, notes on who is not emailed and why, and the teams whose message
    could not be built (each a :class:`Failure` per lead: one team's name never stops the others).
    """
    notes: list[str] = []
    drafts: list[Draft] = []
    failed: list[Failure] = []

    def build(name: str, leads: list[str], make: Callable[[], Draft]) -> None:
        try:
            drafts.append(make())
        except (ValueError, UnicodeError) as e:  # a header the email package refuses
            reason = f"message not built: {type(e).__name__}: {e}"
            failed.extend(Failure("chargeback", name, a, reason) for a in leads)

    month = report.window.label()
    if team is not None:
        section = report.team(team)
        if section is None:
            known = ", ".join(t.team for t in report.teams) or "none"
            raise ConfigError(f"--team {team!r}: no spend for that team in {month} (teams: {known})")
        leads = config.teams[team].leads if team in config.teams else ()
        if not leads:
            raise ConfigError(f"--team {team!r}: no leads configured (teams.{team}.leads in "
                              f"{config.path or 'config'})")
        build(team, list(leads), lambda: chargeback_email(report, section, list(leads), config.email))
        return drafts, notes, failed
    for t in report.teams:
        leads = config.teams[t.team].leads if t.team in config.teams else ()
        if leads:
            build(t.team, list(leads), lambda t=t, leads=leads: chargeback_email(report, t, list(leads), config.email))
        else:
            notes.append(f"team {t.team}: no leads configured, not emailed (its spend is in the summary)")
    quiet = sorted(n for n, t in config.teams.items() if t.leads and report.team(n) is None)
    if quiet:
        notes.append(f"no spend in {month}, not emailed: {', '.join(quiet)}")
    if config.email.finance:
        build("*", list(config.email.finance), lambda: summary_email(report, list(config.email.finance), config.email))
    else:
        notes.append("no [email] finance recipients: the organisation summary is not sent")
    return drafts, notes, failed
