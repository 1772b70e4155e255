"""An OpenObserve source's options from ``finops.toml``, checked (the TOML is in :mod:`.source`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from finops.config import SpanSource
from finops.errors import ConfigError, unknown_key
from finops.options import OptionReader
from finops.sources.openobserve import sql as q

US = 1_000_000
HOUR_US = 3600 * US
OPTIONS = {
    "url", "org", "stream", "user_env", "password_env", "timeout", "attempts", "page_size",
    "window_hours", "verify_counts", "verify_tls", "scope", "only",
}


@dataclass(frozen=True)
class Options:
    """An OpenObserve source's options, checked."""

    url: str
    org: str
    stream: str
    basic: tuple[str, str] | None
    user_env: str | None
    password_env: str | None
    timeout: float
    attempts: int
    page_size: int
    window_us: int
    verify_counts: bool
    verify: bool | str
    scopes: Mapping[str, str]
    only: Mapping[str, tuple[str, ...]]


def _static(o: OptionReader, where: str) -> tuple[int, Mapping[str, str], dict[str, tuple[str, ...]]]:
    hours = o.get("window_hours", 24)
    if isinstance(hours, bool) or not isinstance(hours, int) or hours < 1 or 24 % hours:
        raise o.fail("window_hours", f"must divide 24 (1, 2, 3, 4, 6, 8, 12, 24), not {hours!r}")
    fields = (*q.DIMS, *q.TOKENS, q.OPERATION)
    scope = o.table("scope", example='{ team = "resource" }')
    for f, s in scope.items():
        if f not in fields:
            raise unknown_key(f, fields, "field in scope:", where)
        if s not in q.SCOPES:
            raise ConfigError(f"{where}: scope.{f} must be one of {', '.join(q.SCOPES)}, not {s!r}")
    only: dict[str, tuple[str, ...]] = {}
    for f, values in o.table("only", example='{ provider = ["openai"] }').items():
        if f not in q.DIMS:
            raise unknown_key(f, q.DIMS, "field in only:", where)
        if isinstance(values, str):
            values = [values]
        if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
            raise ConfigError(f"{where}: only.{f} must be a non-empty list of strings")
        only[f] = tuple(values)
    return hours, scope, only


def parse_options(source: SpanSource) -> Options:
    """Check an OpenObserve source's options (errors name ``sources.<name>.<key>``)."""
    where = f"sources.{source.name}"
    o = OptionReader(source.options, where, OPTIONS)
    url = o.url(example="https://openobserve.example.com")
    org = o.string("org", "default")
    stream = o.string("stream", "default")
    assert org is not None and stream is not None
    hours, scope, only = _static(o, where)
    return Options(
        url=url, org=org, stream=stream, basic=o.basic_auth(), user_env=o.get("user_env"),
        password_env=o.get("password_env"), timeout=o.seconds("timeout", 300),
        attempts=o.positive_int("attempts", 5), page_size=o.positive_int("page_size", 10_000),
        window_us=hours * HOUR_US, verify_counts=o.boolean("verify_counts", True),
        verify=o.verify_tls(), scopes=dict(scope), only=only)
