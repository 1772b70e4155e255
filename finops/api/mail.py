"""A month's chargeback emails (``finops email``): each team's to its leads, the summary to finance."""

from __future__ import annotations

from pathlib import Path

from finops.api.month import report
from finops.config import Config
from finops.mail.deliver import MailOutcome, chargeback_drafts, deliver
from finops.warehouse import connect
from finops.warehouse.ledger import ledger
from finops.warehouse.lock import warehouse_lock
from finops.windows import Window

__all__ = ["email"]


def email(config: Config, window: Window, *, team: str | None = None, dry_run: bool = False,
          out_dir: Path | None = None, resend: bool = False) -> MailOutcome:
    """Send the month's chargeback: one email per team to its leads, the summary to finance.

    Under the warehouse lock. Recipients that already received the month's email are skipped
    unless ``resend``; ``dry_run`` writes ``.eml`` files into ``out_dir`` instead.
    :attr:`MailOutcome.failed` names recipients that did not get it.
    """
    with warehouse_lock(config.warehouse, "email"):
        rep = report(config, window)
        drafts, notes = chargeback_drafts(rep, config, team=team)
        con = connect(config.warehouse)
        try:
            with ledger(con, "email", window) as run:
                outcome = deliver(con, config, drafts, dry_run=dry_run, out_dir=out_dir, resend=resend,
                                  run_id=run.run_id)
                outcome.notes[:0] = notes
                run.rows = len(outcome.sent)
                run.errors = [str(f) for f in outcome.failed]
        finally:
            con.close()
    return outcome
