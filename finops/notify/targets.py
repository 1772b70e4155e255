"""``[[notify]]`` targets: where flags and gate failures are posted, read through one :class:`OptionReader`.

```toml
[[notify]]
name = "finops-slack"          # names the target in output, the ledger and dry-run files
kind = "slack"                 # slack (incoming webhook) | teams (Workflows webhook) | webhook (JSON)
url_env = "FINOPS_SLACK_URL"   # the environment variable holding the webhook URL (the URL is the secret)
events = ["anomaly", "budget", "gate"]   # default: all three
teams = ["search", "support"]  # only these teams' anomaly and budget flags (default: every team)
timeout = 10                   # seconds per attempt
attempts = 4                   # tries on 429 / 5xx / connection errors (Retry-After honoured)
```

The URL is read from the environment only when posting (a dry run needs none) and is
registered as a secret, so it is redacted from every message.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from finops.config import Config
from finops.errors import ConfigError, did_you_mean, register_secret
from finops.options import OptionReader

__all__ = ["EVENTS", "KINDS", "Target", "parse_targets", "unknown_teams"]

KINDS = ("slack", "teams", "webhook")
EVENTS = ("anomaly", "budget", "gate")
OPTIONS = ("name", "kind", "url_env", "events", "teams", "timeout", "attempts")


@dataclass(frozen=True)
class Target:
    """One chat channel or webhook; the URL stays in the environment until a post needs it."""

    name: str
    kind: str  # slack | teams | webhook
    url_env: str
    events: tuple[str, ...] = EVENTS
    teams: tuple[str, ...] | None = None  # None: every team
    timeout: float = 10.0
    attempts: int = 4
    where: str = ""  # config file and table, for messages

    def wants(self, event: str, team: str) -> bool:
        """Whether this target receives an ``event`` about ``team`` (``*``: the organisation)."""
        if event not in self.events:
            return False
        return team == "*" or self.teams is None or team in self.teams

    def url(self) -> str:
        """The webhook URL from ``url_env``, registered for redaction; a config error if unset or not a URL."""
        value = os.environ.get(self.url_env)
        if not value:
            raise ConfigError(f"{self.where}: environment variable {self.url_env} is not set")
        _register_url(value)
        if not value.startswith(("https://", "http://")):
            raise ConfigError(f"{self.where}: {self.url_env} does not hold an http(s) URL")
        return value


def _register_url(url: str) -> None:
    """Redact the URL and the parts of it a server might echo alone.

    The path (with and without its query), the query, and every path segment or query value of
    16 characters or more (Slack's token, a Teams workflow's ``sig``).
    """
    register_secret(url)
    parts = urlsplit(url)
    pieces = [parts.path + ("?" + parts.query if parts.query else ""), parts.path, parts.query]
    pieces += parts.path.split("/") + [kv.partition("=")[2] for kv in parts.query.split("&")]
    for piece in pieces:
        if len(piece) >= 16:
            register_secret(piece)


def _names(reader: OptionReader, key: str, allowed: tuple[str, ...] | None, default: tuple[str, ...] | None
           ) -> tuple[str, ...] | None:
    value = reader.get(key)
    if value is None:
        return default
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise reader.fail(key, "must be a non-empty list of names")
    for v in value:
        if allowed is not None and v not in allowed:
            raise reader.fail(key, f"{v!r} is not one of {', '.join(allowed)}{did_you_mean(v, allowed)}")
    return tuple(dict.fromkeys(value))


def parse_targets(config: Config) -> list[Target]:
    """Every ``[[notify]]`` table of ``config`` as a :class:`Target`; a config error names the table and key."""
    where_file = str(config.path or "config")
    targets: list[Target] = []
    for i, table in enumerate(config.notify):
        name = table.get("name")
        label = f"notify.{name}" if isinstance(name, str) and name else f"notify[{i}]"
        reader = OptionReader(table, f"{where_file}: {label}", OPTIONS)
        name = reader.string("name", what="a name for this target, e.g. \"finops-slack\"")
        if name is None:
            raise reader.fail("name", "is missing (each [[notify]] needs a name)")
        if any(t.name == name for t in targets):
            raise reader.fail("name", f"{name!r} is used by two [[notify]] tables")
        kind = reader.get("kind")
        if kind not in KINDS:
            raise reader.fail("kind", f"must be one of {', '.join(KINDS)}, not {kind!r}"
                                      f"{did_you_mean(str(kind), KINDS)}")
        url_env = reader.string("url_env", what="the name of the environment variable holding the webhook URL")
        if url_env is None:
            raise reader.fail("url_env", "is missing: name the environment variable that holds the webhook URL")
        if "://" in url_env:
            raise reader.fail("url_env", "must name an environment variable, not hold the URL (the URL is a secret)")
        events = _names(reader, "events", EVENTS, EVENTS)
        teams = _names(reader, "teams", None, None)
        assert events is not None
        targets.append(Target(name, kind, url_env, events, teams, reader.seconds("timeout", 10.0),
                              reader.positive_int("attempts", 4), reader.where))
    return targets


def unknown_teams(targets: list[Target], teams: Mapping[str, Any]) -> list[str]:
    """Notes for ``teams`` filters naming a team that is not a ``[teams.<name>]`` of the config.

    Not an error (teams come from span attributes and need no section), but a typo would
    otherwise silently never post.
    """
    if not teams:
        return []
    notes = []
    for t in targets:
        for name in t.teams or ():
            if name not in teams:
                notes.append(f"notify {t.name}: teams filter names {name!r}, which has no [teams.{name}] "
                             f"section{did_you_mean(name, teams)}; its flags are posted only if spans carry it")
    return notes
