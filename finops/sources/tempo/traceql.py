"""TraceQL text for the Tempo source: attribute references, selectors, metrics queries.

Only values discovered from Tempo itself (provider names, accounts) are ever placed in a
query, always as quoted string literals; attribute names come from the config and are
checked against a conservative pattern (or quoted). Nothing else is interpolated.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from finops.canonical import DIMS, INFERENCE_OPERATIONS
from finops.errors import ConfigError

Scalar = str | int | float | bool

SCOPES = ("span", "resource")
SCOPE_CHOICES = ("any", "span", "resource")  # any: the span's attribute, else the resource's
_BARE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
TOKEN_FIELDS = ("input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens",
                "reasoning_tokens")
# Canonical fields a usage row is keyed by (besides the day); provider is always a filter.
GROUP_FIELDS = DIMS
DEFAULT_GROUP_BY = ("team", "project", "feature", "model", "service_tier")
MAX_BY = 5  # Tempo's by() accepts at most 5 attributes


@dataclass(frozen=True)
class Attr:
    """One attribute as Tempo sees it: scope and name; ``ref`` is the TraceQL text."""

    scope: str
    key: str

    @property
    def ref(self) -> str:
        """``span.team.id``: also the label key Tempo answers with for ``by()``."""
        if _BARE_NAME.fullmatch(self.key) and not self.key.endswith("."):
            return f"{self.scope}.{self.key}"
        return f'{self.scope}.{quote(self.key)}'


def quote(value: str) -> str:
    """A TraceQL string literal (double quotes, backslash escapes)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def attr_for(field: str, key: str, scope: str, where: str) -> Attr:
    """Validate ``scope`` and ``key`` for ``field`` and build an :class:`Attr`."""
    if scope not in SCOPES:
        raise ConfigError(f"{where}: scope.{field} must be 'span' or 'resource', not {scope!r}")
    if not key or any(c in key for c in '"\n\r\\{}'):
        raise ConfigError(f"{where}: attribute name {key!r} for {field} cannot be queried")
    return Attr(scope, key)


def present(a: Attr) -> str:
    """``a`` is set, whatever its type (a count stored as a string too)."""
    return f"{a.ref} != nil"


def positive(a: Attr) -> str:
    """``a`` is a number above 0: what ``sum_over_time(a)`` may safely sum (grafana/tempo#7857)."""
    return f"{a.ref} > 0"


def numeric(a: Attr) -> str:
    """``a`` is a number ≥ 0 (a count stored as a string, or a negative one, is not)."""
    return f"{a.ref} >= 0"


def any_of(conditions: Sequence[str]) -> str:
    """``(a || b || ...)``."""
    return "(" + " || ".join(conditions) + ")"


def llm_span(models: Sequence[Attr], tokens: Sequence[Attr]) -> str:
    """The condition that makes a span an LLM call, as for the OTLP file source.

    It names a model or carries a token count (of any type: a count stored as a string
    marks an LLM span too, and is then read in search mode).
    """
    return any_of([present(a) for a in (*models, *tokens)])


# An operation that is one model call, case-insensitively (finops.canonical.is_aggregate).
INFERENCE_REGEX = "(?i)^(" + "|".join(INFERENCE_OPERATIONS) + ")$"


def aggregate_span(operations: Sequence[Attr]) -> str | None:
    """A span one of whose operation attributes names an agent or workflow (None: no keys)."""
    if not operations:
        return None
    return any_of([f"{a.ref} !~ {quote(INFERENCE_REGEX)}" for a in operations])


def literal(value: Scalar) -> str:
    """A TraceQL literal of the value's own type (a label may be an int, a bool, ...)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return quote(value)


def equals(filters: Sequence[tuple[Attr, Scalar]]) -> list[str]:
    """``attr = "value"`` conditions for a pattern's fixed values."""
    return [f"{a.ref} = {literal(v)}" for a, v in filters]


def selector(conditions: Sequence[str]) -> str:
    """``{ a && b }`` (or ``{ }``)."""
    return "{ " + " && ".join(conditions) + " }" if conditions else "{ }"


def by_clause(by: Sequence[Attr]) -> str:
    """`` by (a, b)`` or nothing."""
    if len(by) > MAX_BY:
        raise ValueError(f"by() takes at most {MAX_BY} attributes")
    return f" by ({', '.join(a.ref for a in by)})" if by else ""


def count_query(conditions: Sequence[str], by: Sequence[Attr]) -> str:
    """Number of spans meeting ``conditions`` (requests, or a presence check)."""
    return f"{selector(conditions)} | count_over_time(){by_clause(by)} with(exemplars=0)"


def sum_query(conditions: Sequence[str], token: Attr, by: Sequence[Attr]) -> str:
    """Sum of one token attribute, with the numeric filter that avoids Tempo bug #7857.

    Without ``token > 0`` in the selector, a span lacking the attribute in the same bucket
    feeds NaN into Tempo's compensated sum and the total collapses (grafana/tempo#7857).
    Zero-valued spans don't change a sum, so ``> 0`` loses nothing.
    """
    sel = selector([*conditions, positive(token)])
    return f"{sel} | sum_over_time({token.ref}){by_clause(by)} with(exemplars=0)"


def search_query(llm: str, select: Sequence[Attr]) -> str:
    """Search for LLM spans, fetching every attribute the rollup needs."""
    refs = list(dict.fromkeys(a.ref for a in select))
    return f"{selector([llm])} | select({', '.join(refs)})"


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def parse_duration(text: str) -> float | None:
    """Seconds in a Go duration (``3h0m0s``, ``90m``, ``1h30m``); None if not one."""
    text = text.strip()
    if not text:
        return None
    pos, total = 0, 0.0
    for m in _DURATION.finditer(text):
        if m.start() != pos:
            return None
        total += float(m.group(1)) * _UNIT[m.group(2)]
        pos = m.end()
    return total if pos == len(text) else None


def go_duration(seconds: int) -> str:
    """``10800`` → ``10800s`` (Tempo accepts any Go duration)."""
    return f"{seconds}s"
