"""A month's chargeback emails (``finops email``): each team's to its leads, the summary to finance."""

from __future__ import annotations

from pathlib import Path

from finops.api.month import report
from finops.config import Config
from finops.errors import DataError
from finops.mail.deliver import MailOutcome, chargeback_drafts, deliver
from finops.reconcile.complete import completeness
from finops.warehouse import open_warehouse
from finops.warehouse.ledger import ledger
from finops.windows import Window

__all__ = ["email"]


def email(config: Config, window: Window, *, team: str | None = None, dry_run: bool = False,
          out_dir: Path | None = None, resend: bool = False) -> MailOutcome:
    """Send the month's chargeback: one email per team to its leads, the summary to finance.

    Under the warehouse lock. Only a complete month goes out: every day loaded by every
    configured source, settled and billed (:mod:`finops.reconcile.complete`); otherwise a
    :class:`~finops.errors.DataError` (exit 3) names what is missing and nothing is sent or written.
    Recipients that already received the month's email are skipped unless ``resend``;
    ``dry_run`` writes ``.eml`` files into ``out_dir`` instead. :attr:`MailOutcome.failed`
    names recipients (or teams whose message could not be built) that did not get it.
    """
    with open_warehouse(config.warehouse, "email", create=False, settings=config.warehouse_settings) as con:
        rep = report(config, window)
        state = completeness(con, config, window, config.run_date(), rep.billing_gaps, rep.billed_total)
        if not state.ready:
            raise DataError(state.reason())
        drafts, notes, failed = chargeback_drafts(rep, config, team=team)
        with ledger(con, "email", window) as run:
            outcome = deliver(con, config, drafts, dry_run=dry_run, out_dir=out_dir, resend=resend,
                              run_id=run.run_id)
            outcome.notes[:0] = notes
            outcome.failed[:0] = failed
            run.rows = len(outcome.sent)
            run.errors = [str(f) for f in outcome.failed]
    return outcome
