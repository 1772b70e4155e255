"""Flags and gate failures where people already talk: Slack, Microsoft Teams, any JSON webhook.

``targets.py`` reads the ``[[notify]]`` tables; ``events.py`` turns an anomaly flag, a budget
flag or a failed gate into one short message (numbers and the "where to look" line);
``formats.py`` makes each service's JSON body; ``post.py`` posts it (or writes it as a file in a
dry run) and keeps the ledger so a target never gets the same flag twice. The library never
prints: :class:`NotifyOutcome` says what was posted, skipped, written and what failed.
"""

from finops.notify.events import Event, anomaly_event, budget_event, gate_event
from finops.notify.formats import payload
from finops.notify.post import NotifyOutcome, TargetOutcome, post
from finops.notify.targets import Target, parse_targets, unknown_teams

__all__ = ["Event", "NotifyOutcome", "Target", "TargetOutcome", "anomaly_event", "budget_event", "gate_event",
           "parse_targets", "payload", "post", "unknown_teams"]
