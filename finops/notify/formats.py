"""The JSON body each kind of target receives for one :class:`~finops.notify.events.Event`.

- ``slack``: a Slack incoming webhook message, ``{"text": ..., "blocks": [...]}``. ``text`` is the
  notification fallback; the blocks are mrkdwn sections (title, facts as fields, where to look) and
  a context line. Untrusted text (team, project, feature and model names come from span
  attributes) has ``&``, ``<`` and ``>`` escaped as Slack requires, and every mrkdwn object is
  ``verbatim`` so nothing in a name becomes a link or a mention.
- ``teams``: a Microsoft Teams Workflows ("When a Teams webhook request is received") message
  with one Adaptive Card 1.4 attachment. The title and the where-to-look line are RichTextBlock
  TextRuns, which render no markdown; fact values (FactSet) have markdown characters
  backslash-escaped; ``{{`` is broken so no text becomes a DATE/TIME function.
- ``webhook``: a documented JSON object (README "Notifications"): the message as text and facts,
  and the flag, budget or gate object of the JSON contract with money as decimal strings.
"""

from __future__ import annotations

import re
from typing import Any

from finops.notify.events import Event

__all__ = ["SCHEMA_VERSION", "payload", "slack_escape", "teams_escape"]

SCHEMA_VERSION = 1
_SLACK_SECTION_MAX = 3000  # characters in a section's text (Slack Block Kit limit)
_SLACK_FIELD_MAX = 2000


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def slack_escape(text: str) -> str:
    """Slack's three control characters as entities (``&`` first)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_MD = re.compile(r"([\\*_\[\]])")


def teams_escape(text: str) -> str:
    """Adaptive Card markdown characters backslash-escaped; ``{{`` broken (no DATE/TIME functions)."""
    return _no_functions(_MD.sub(r"\\\1", text))


def _no_functions(text: str) -> str:
    return re.sub(r"\{(?=\{)", "{\u200b", text)


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def slack(e: Event) -> dict[str, Any]:
    """A Slack incoming-webhook message."""
    esc = slack_escape
    return {
        "text": _cut(esc(e.title), _SLACK_SECTION_MAX),
        "blocks": [
            {"type": "section", "text": _mrkdwn(_cut(f"*{esc(e.title)}*", _SLACK_SECTION_MAX))},
            {"type": "section", "fields": [_mrkdwn(_cut(f"*{esc(k)}*\n{esc(v)}", _SLACK_FIELD_MAX))
                                           for k, v in e.facts[:10]]},
            {"type": "section", "text": _mrkdwn(_cut(f"*Where to look:* {esc(e.where)}", _SLACK_SECTION_MAX))},
            {"type": "context", "elements": [_mrkdwn(esc(e.footer))]},
        ],
    }


def _run(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextRun", "text": _no_functions(text), **style}


def teams(e: Event) -> dict[str, Any]:
    """A Teams Workflows webhook message carrying one Adaptive Card."""
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "msteams": {"width": "Full"},
        "body": [
            {"type": "RichTextBlock", "inlines": [_run(e.title, weight="Bolder", size="Medium")]},
            {"type": "FactSet", "facts": [{"title": teams_escape(k), "value": teams_escape(v)} for k, v in e.facts]},
            {"type": "RichTextBlock", "inlines": [_run("Where to look: ", weight="Bolder"), _run(e.where)]},
            {"type": "RichTextBlock", "inlines": [_run(e.footer, isSubtle=True, size="Small")]},
        ],
    }
    return {"type": "message", "attachments": [
        {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}]}


def webhook(e: Event) -> dict[str, Any]:
    """The generic JSON object (README "Notifications")."""
    return {
        "schema_version": SCHEMA_VERSION, "source": "finops", "id": e.id, "event": e.event, "topic": e.topic,
        "period": e.period, "team": None if e.team == "*" else e.team, "currency": e.currency,
        "title": e.title, "facts": [{"label": k, "value": v} for k, v in e.facts],
        "where_to_look": e.where, "text": e.text(), **e.data,
    }


_FORMATS = {"slack": slack, "teams": teams, "webhook": webhook}


def payload(kind: str, event: Event) -> dict[str, Any]:
    """The JSON body a ``kind`` target receives for ``event``."""
    return _FORMATS[kind](event)
