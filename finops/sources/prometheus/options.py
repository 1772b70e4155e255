"""The prometheus source's options, checked once (errors name ``sources.<name>.<key>``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from finops.config import AttributeMap, SpanSource
from finops.errors import ConfigError, unknown_key
from finops.options import OptionReader
from finops.sources.prometheus.promql import LABEL_NAME, METRIC_NAME, label_for

# Canonical fields a usage row is keyed by, besides the day.
GROUP_FIELDS = ("provider", "account", "model", "service_tier", "team", "project", "feature")
RESOURCE_MODES = ("auto", "labels", "target_info")
DEFAULT_RESOURCE_FIELDS = ("team", "project", "feature", "account")
DEFAULT_OPERATIONS = ("chat", "text_completion", "generate_content", "embeddings")
# Metric families and the names they take in Prometheus, most likely first. Histograms are
# named without their _sum/_count suffix. Dots become underscores, a unit in braces
# ({token}) adds no suffix, "s" adds _seconds, monotonic counters gain _total.
FAMILIES: dict[str, tuple[str, ...]] = {
    "token_usage": ("gen_ai_client_token_usage",),
    "operation_duration": ("gen_ai_client_operation_duration_seconds", "gen_ai_client_operation_duration"),
    "inference_tokens": ("gen_ai_client_inference_tokens_total", "gen_ai_client_inference_tokens"),
    "input_by_cache": ("gen_ai_client_inference_input_tokens_by_cache_total",
                       "gen_ai_client_inference_input_tokens_by_cache"),
    "output_by_phase": ("gen_ai_client_inference_output_tokens_by_phase_total",
                        "gen_ai_client_inference_output_tokens_by_phase"),
}
HISTOGRAMS = ("token_usage", "operation_duration")
OPTIONS = {
    "url", "tenant", "user_env", "password_env", "token_env", "verify_tls", "timeout", "attempts",
    "selector", "resource", "join_on", "resource_fields", "labels", "metrics", "operations",
    "max_points", "allow_warnings", "check_lookback",
}
_DURATION = re.compile(r"(\d+)([dhm])")
_UNIT = {"d": 86400, "h": 3600, "m": 60}


@dataclass(frozen=True)
class PromOptions:
    """A prometheus source's options, checked."""

    url: str
    tenant: str | None
    basic: tuple[str, str] | None
    bearer: str | None
    verify: bool | str
    timeout: float
    attempts: int
    selector: tuple[str, ...]  # extra matchers, as written
    resource: str  # auto | labels | target_info
    join_on: tuple[str, ...]
    resource_fields: tuple[str, ...]
    labels: Mapping[str, tuple[str, ...]]  # canonical field -> label names, first present wins
    metrics: Mapping[str, str]  # family -> configured name (others are detected)
    operations: tuple[str, ...]
    max_points: int
    allow_warnings: bool
    check_lookback: int  # seconds


def _unknown(key: str, allowed: set[str] | tuple[str, ...], where: str, what: str) -> ConfigError:
    return unknown_key(key, allowed, what, where)


def _names(value: Any, where: str, pattern: re.Pattern[str] = LABEL_NAME) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(x, str) for x in items):
        raise ConfigError(f"{where} must be a name or a list of names")
    for x in items:
        if not pattern.fullmatch(x):
            raise ConfigError(f"{where}: {x!r} is not a valid Prometheus name")
    return tuple(items)


def _matchers(value: Any, where: str) -> tuple[str, ...]:
    """``'env="prod", cluster=~"eu-.*"'`` (or a list of such) → matchers placed in every selector."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(x, str) for x in items):
        raise ConfigError(f'{where}.selector must be label matchers such as \'env="prod"\'')
    out = []
    for x in items:
        x = x.strip().strip(",")
        if x.startswith("{") or x.endswith("}"):
            x = x.strip("{}").strip()
        if not x:
            continue
        if not re.match(r'\s*[a-zA-Z_][a-zA-Z0-9_]*\s*(=~|!~|!=|=)\s*["\'`]', x):
            raise ConfigError(f'{where}.selector: {x!r} is not a label matcher such as env="prod"')
        out.append(x)
    return tuple(out)


def lookback_seconds(value: Any, where: str) -> int:
    """``"35d"``, ``"12h"``, ``"1d12h"`` → seconds."""
    text = value if isinstance(value, str) else ""
    total, pos = 0, 0
    for m in _DURATION.finditer(text):
        if m.start() != pos:
            break
        total += int(m.group(1)) * _UNIT[m.group(2)]
        pos = m.end()
    if not text or pos != len(text) or total <= 0:
        raise ConfigError(f"{where} must be a duration such as \"35d\" or \"12h\", not {value!r}")
    return total


def parse_options(source: SpanSource, attributes: AttributeMap) -> PromOptions:
    """Check a prometheus source's options."""
    where = f"sources.{source.name}"
    o = OptionReader(source.options, where, OPTIONS)
    url = o.url(example="http://prometheus:9090\" (Mimir: \".../prometheus")
    basic, bearer = o.credentials()
    verify = o.verify_tls()
    tenant = o.string("tenant", what="a non-empty string (sent as X-Scope-OrgID)")
    timeout, attempts = o.seconds("timeout", 120), o.positive_int("attempts", 5)

    resource = o.get("resource", "auto")
    if resource not in RESOURCE_MODES:
        raise ConfigError(f"{where}: resource must be one of {', '.join(RESOURCE_MODES)}, not {resource!r}")
    join_on = _names(o.get("join_on", ["job", "instance"]), f"{where}.join_on")
    resource_fields = tuple(o.get("resource_fields", DEFAULT_RESOURCE_FIELDS))
    for f in resource_fields:
        if f not in GROUP_FIELDS:
            raise _unknown(str(f), GROUP_FIELDS, f"{where}.resource_fields", "field")

    table = o.table("labels", example='{ team = "team_id" }')
    labels: dict[str, tuple[str, ...]] = {}
    for f in table:
        if f not in GROUP_FIELDS:
            raise _unknown(f, GROUP_FIELDS, f"{where}.labels", "field")
    for f in GROUP_FIELDS:
        if f in table:
            labels[f] = _names(table[f], f"{where}.labels.{f}")
        else:
            names = [label_for(a) for a in attributes[f]]
            labels[f] = tuple(dict.fromkeys(names))  # keep order, drop duplicates
        if not labels[f]:
            raise ConfigError(f"{where}: no label mapped for {f}")

    mtable = o.table("metrics", example='{ token_usage = "gen_ai_client_token_usage" }')
    metrics: dict[str, str] = {}
    for fam, name in mtable.items():
        if fam not in FAMILIES:
            raise _unknown(fam, tuple(FAMILIES), f"{where}.metrics", "metric family")
        metrics[fam] = _names(name, f"{where}.metrics.{fam}", METRIC_NAME)[0]

    ops = o.get("operations", list(DEFAULT_OPERATIONS))
    if not isinstance(ops, list) or not all(isinstance(x, str) and x for x in ops):
        raise ConfigError(f"{where}: operations must be a list of gen_ai.operation.name values "
                          "(an empty list counts every operation)")
    max_points = o.positive_int("max_points", 11_000, what="a positive integer (Prometheus: 11000)")
    allow = o.boolean("allow_warnings", False)
    return PromOptions(
        url=url, tenant=tenant, basic=basic, bearer=bearer, verify=verify, timeout=timeout,
        attempts=attempts, selector=_matchers(o.get("selector", []), where), resource=resource,
        join_on=join_on, resource_fields=resource_fields, labels=labels, metrics=metrics,
        operations=tuple(ops), max_points=max_points, allow_warnings=allow,
        check_lookback=lookback_seconds(o.get("check_lookback", "35d"), f"{where}.check_lookback"))
