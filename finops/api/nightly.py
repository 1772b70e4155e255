"""``finops nightly``: the cron job, end to end, under the warehouse lock.

In order: pull every source for the trailing provisional window; reconcile the current month
(and the previous one while its days are still in the window); detect anomalies and budget
burn; write the reports (HTML, JSON, CSV) and a ``nightly.json`` into ``<out_dir>/<date>/``;
notify the owning leads of new flags, and post them to the ``[[notify]]`` chat and webhook targets;
and from the configured day of the month on, send the previous month's chargeback emails (once:
the sent-mail ledger remembers).

Each source's window is replaced in one transaction, so a failing or killed run leaves every
window either as it was or fully reloaded; the run records itself in the ledger (``runs``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb

from finops.api.month import report
from finops.api.pull import PullResult, pull
from finops.config import Config
from finops.errors import ExitCode
from finops.frames import ProgressFn
from finops.mail.compose import Draft, anomaly_email
from finops.mail.deliver import MailOutcome, chargeback_drafts, deliver
from finops.mail.record import topics_between
from finops.notify import NotifyOutcome, anomaly_event, budget_event, parse_targets, post, unknown_teams
from finops.reconcile.anomalies import AnomalyReport, detect_on, trailing_windows
from finops.reconcile.complete import completeness
from finops.report.model import Report
from finops.report.write import write_report
from finops.warehouse import open_warehouse
from finops.warehouse.ledger import ledger
from finops.windows import Window, month_window

__all__ = ["NightlyResult", "months_to_reconcile", "nightly"]

# A flag already mailed to a team within this many days is not mailed again.
QUIET_DAYS = 7


@dataclass
class NightlyResult:
    """What the night did; the CLI turns ``failed_sources`` or ``mail.failed`` into exit 3."""

    day: date
    window: Window
    pulled: PullResult
    months: list[str]
    out_dir: Path
    reports: list[Path]
    flags: int = 0
    budget_flags: int = 0
    chargeback_month: str | None = None
    mail: MailOutcome = field(default_factory=MailOutcome)
    notify: NotifyOutcome = field(default_factory=NotifyOutcome)
    notes: list[str] = field(default_factory=list)
    held_back: str | None = None  # why the chargeback month could not be sent (data missing)

    @property
    def failed_sources(self) -> list[str]:
        """Names of the sources that did not load (their previous windows are untouched)."""
        return [s.name for s in self.pulled.failed]

    @property
    def exit_code(self) -> ExitCode:
        """3 when a source failed, a delivery failed or the chargeback month lacks data, else 0."""
        return (ExitCode.DATA if self.failed_sources or self.mail.failed or self.notify.failed or self.held_back
                else ExitCode.OK)


def months_to_reconcile(day: date, window: Window) -> list[Window]:
    """The month of yesterday, and the month before while the pull window still reaches into it."""
    current = month_window((day - timedelta(days=1)).strftime("%Y-%m"))
    months = [current]
    if window.window_start < current.window_start:
        months.insert(0, month_window((current.window_start - timedelta(days=1)).strftime("%Y-%m")))
    return months


def nightly(config: Config, *, day: date | None = None, dry_run: bool = False,
            progress: ProgressFn | None = None) -> NightlyResult:
    """Run the night for ``day`` (default: today, UTC, or the config's pinned date).

    Raises :class:`~finops.warehouse.lock.LockedError` if another run holds the warehouse.
    """
    day = day or config.run_date()
    config = replace(config, today=day)
    window = Window(day - timedelta(days=config.provisional_days), day)
    out_dir = config.nightly.out_dir / day.isoformat()
    sources = sorted([s.name for s in config.span_sources] + [b.name for b in config.billing_sources])
    parse_targets(config)  # a [[notify]] typo stops the run before it pulls (exit 2)
    # Under the lock; runs still 'running' then were killed and are marked so (open_warehouse).
    with open_warehouse(config.warehouse, "nightly", settings=config.warehouse_settings) as con, \
            ledger(con, "nightly", window, sources) as run:
        result = _night(con, config, day, window, out_dir, dry_run, run.run_id, progress)
        run.rows = sum(s.rows for s in result.pulled.sources)
        run.errors = ([f"{s.name}: {s.error}" for s in result.pulled.failed]
                      + [f"mail {f}" for f in result.mail.failed]
                      + [line for t in result.notify.targets for line in t.failed]
                      + ([result.held_back] if result.held_back else []))
    return result


def _night(con: duckdb.DuckDBPyConnection, config: Config, day: date, window: Window, out_dir: Path,
           dry_run: bool, run_id: str, progress: ProgressFn | None) -> NightlyResult:
    pulled = pull(config, window, progress=progress)
    months = months_to_reconcile(day, window)
    result = NightlyResult(day, window, pulled, [m.label() for m in months], out_dir, [])
    reports = {}
    for m in months:
        rep = report(config, m, require_data=False)
        reports[m.label()] = rep
        result.reports += write_report(rep, out_dir, fmt="table")

    outbox = out_dir / "outbox" if dry_run else None
    summary: dict[str, Any] = {"flags": [], "budgets": []}
    current, prior = trailing_windows(day - timedelta(days=1))
    anomalies = detect_on(con, config, current, prior)
    result.flags, result.budget_flags = len(anomalies.flags), len(anomalies.budget_flags)
    summary["flags"] = [{"team": f.team, "kind": f.kind, "message": f.message} for f in anomalies.flags]
    summary["budgets"] = [{"team": b.team, "message": b.message} for b in anomalies.budget_flags]
    if config.nightly.notify_anomalies:
        drafts = _anomaly_drafts(con, config, anomalies, day, result.notes)
        result.mail.extend(deliver(con, config, drafts, dry_run=dry_run, out_dir=outbox, run_id=run_id))
    budget_month = reports.get((anomalies.current.window_end - timedelta(days=1)).strftime("%Y-%m"))
    result.notify = _post_flags(con, config, anomalies, day, dry_run, outbox, run_id, budget_month)

    cb_day = config.nightly.chargeback_day
    if cb_day is not None and day.day >= cb_day:
        prev = month_window((day.replace(day=1) - timedelta(days=1)).strftime("%Y-%m"))
        if pulled.failed:
            result.notes.append(f"chargeback emails for {prev.label()} held back: "
                                f"{', '.join(result.failed_sources)} failed; the next good run sends them")
        else:
            rep = reports.get(prev.label()) or report(config, prev, require_data=False)
            # Fail closed: only a month every source loaded whole, settled and billed is mailed.
            state = completeness(con, config, prev, day, rep.billing_gaps, rep.billed_total)
            if state.missing:
                result.held_back = state.reason()
                result.notes.append(state.reason())
            elif not state.ready:
                result.notes.append(state.reason())  # not settled yet: a later night sends it
            else:
                drafts, notes, failed = chargeback_drafts(rep, config)
                result.chargeback_month = prev.label()
                result.notes += notes
                result.mail.failed += failed
                result.mail.extend(deliver(con, config, drafts, dry_run=dry_run, out_dir=outbox, run_id=run_id))

    summary.update({
        "date": day.isoformat(), "window_start": window.window_start.isoformat(),
        "window_end": window.window_end.isoformat(), "months": result.months,
        "sources": [{"name": s.name, "kind": s.kind, "rows": s.rows, "error": s.error}
                    for s in pulled.sources],
        "reports": [p.name for p in result.reports], "chargeback_month": result.chargeback_month,
        "mail": {"sent": [{"kind": m.kind, "team": m.team, "to": list(m.recipients)}
                          for m in result.mail.sent],
                 "skipped": result.mail.skipped, "failed": [str(f) for f in result.mail.failed],
                 "written": [p.name for p in result.mail.written]},
        "notify": [{"target": t.name, "kind": t.kind, "posted": [e.id for e in t.posted],
                    "skipped": [e.id for e in t.skipped], "written": [p.name for p in t.written],
                    "failed": t.failed} for t in result.notify.targets],
        "notes": result.notes + result.notify.notes,
    })
    (out_dir / "nightly.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return result


def _post_flags(con: duckdb.DuckDBPyConnection, config: Config, anomalies: AnomalyReport, day: date,
                dry_run: bool, outbox: Path | None, run_id: str, month: Report | None) -> NotifyOutcome:
    """Post the night's anomaly and budget flags to the ``[[notify]]`` targets (quiet as the emails).

    ``month`` is the report of the budgets' month (their where-to-look line names its largest lines).
    """
    targets = parse_targets(config)
    if not targets:
        return NotifyOutcome()
    as_of = day - timedelta(days=1)
    events = [anomaly_event(f, as_of=as_of, prior=anomalies.prior, current=anomalies.current,
                            currency=config.currency) for f in anomalies.flags]
    events += [budget_event(b, month.team(b.team) if month is not None else None) for b in anomalies.budget_flags]
    outcome = post(con, targets, events, kinds=("anomaly", "budget"), quiet_days=QUIET_DAYS,
                   dry_run=dry_run, out_dir=outbox, run_id=run_id)
    outcome.notes[:0] = unknown_teams(targets, config.teams)
    return outcome


def _anomaly_drafts(con: duckdb.DuckDBPyConnection, config: Config, anomalies: AnomalyReport, day: date,
                    notes: list[str]) -> list[Draft]:
    """One notice per team with flags not already mailed in the last :data:`QUIET_DAYS` days."""
    teams = sorted({f.team for f in anomalies.flags} | {b.team for b in anomalies.budget_flags})
    drafts = []
    for team in teams:
        flags = [f for f in anomalies.flags if f.team == team]
        budgets = [b for b in anomalies.budget_flags if b.team == team]
        leads = config.teams[team].leads if team in config.teams else ()
        if not leads:
            notes.append(f"team {team}: flagged but no leads configured, not notified")
            continue
        # Earlier days only: a re-run of the same night builds the same notice, which the
        # sent-mail ledger then skips by (kind, period, team).
        as_of = day - timedelta(days=1)
        seen = topics_between(con, team, as_of - timedelta(days=QUIET_DAYS - 1), as_of)
        flags = [f for f in flags if f"anomaly:{f.kind}" not in seen]
        budgets = [] if "budget" in seen else budgets
        if not flags and not budgets:
            continue
        drafts.append(anomaly_email(team, flags, budgets, day - timedelta(days=1), list(leads),
                                    config.email, currency=config.currency, label=anomalies.label))
    return drafts
