"""Typed configuration: ``finops.toml`` parsed once into frozen dataclasses.

Errors name the file and the key (and suggest the nearest valid key). Secrets are never
in the file: it names environment variables, read into :class:`Secret`, which prints ``***``.
"""

from __future__ import annotations

import glob
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from finops.canonical import Sampling, sampling_rules
from finops.errors import ConfigError, did_you_mean, register_secret
from finops.windows import utc_today

DEFAULT_CONFIG = "finops.toml"
DEFAULT_WAREHOUSE = "finops.duckdb"
DEFAULT_MEMORY_LIMIT = "1GB"
_MEMORY = re.compile(r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$", re.IGNORECASE)


class Secret:
    """A secret read from an environment variable; ``str()`` and ``repr()`` give ``***``."""

    __slots__ = ("_value", "env")

    def __init__(self, env: str, value: str) -> None:
        self.env = env
        self._value = value
        register_secret(value)

    def reveal(self) -> str:
        """The secret itself, for the one place that sends it (an HTTP header, SMTP login)."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret(env={self.env!r}, value=***)"

    __str__ = __repr__


def secret_from_env(env: str | None, where: str, *, required: bool = True) -> Secret | None:
    """Read the secret named by ``env``; a missing variable is a config error naming ``where``."""
    if not env:
        if required:
            raise ConfigError(f"{where}: no environment variable named for the secret")
        return None
    value = os.environ.get(env)
    if value is None:
        if required:
            raise ConfigError(f"{where}: environment variable {env} is not set")
        return None
    return Secret(env, value)


# Canonical span fields and the attribute keys tried for each, in order. Both OpenInference
# (llm.*) and OTel GenAI (gen_ai.*, old and new names) are accepted out of the box, and the
# variants instrumentations emit (Sentry, Strands, traceloop, pydantic-ai; see README).
# ``operation`` decides which spans count (finops.canonical.is_aggregate): any of its keys
# naming an agent or workflow operation makes the span an aggregate that adds nothing.
DEFAULT_ATTRIBUTES: dict[str, list[str]] = {
    "provider": ["gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system"],
    "model": ["gen_ai.response.model", "llm.response.model", "gen_ai.request.model", "llm.model_name"],
    "team": ["team.id", "team"],
    "project": ["project.id", "project"],
    "feature": ["feature.id", "feature"],
    "account": ["llm.account.id", "openai.project.id", "anthropic.workspace.id"],
    "service_tier": [
        "openai.response.service_tier",
        "gen_ai.openai.response.service_tier",
        "openai.request.service_tier",
        "gen_ai.openai.request.service_tier",
        "gen_ai.request.service_tier",
        "llm.service_tier",
    ],
    "input_tokens": ["gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt"],
    "output_tokens": [
        "gen_ai.usage.output_tokens",
        "gen_ai.usage.completion_tokens",
        "llm.token_count.completion",
    ],
    "cache_read_tokens": [
        "gen_ai.usage.cache_read.input_tokens",
        "gen_ai.usage.cache_read_input_tokens",
        "gen_ai.usage.input_tokens.cached",
        "llm.token_count.prompt_details.cache_read",
    ],
    "cache_write_tokens": [
        "gen_ai.usage.cache_write.input_tokens",
        "gen_ai.usage.cache_creation.input_tokens",
        "gen_ai.usage.cache_creation_input_tokens",
        "gen_ai.usage.input_tokens.cache_write",
        "gen_ai.usage.cache_write_input_tokens",
        "llm.token_count.prompt_details.cache_write",
    ],
    "reasoning_tokens": [
        "gen_ai.usage.reasoning.output_tokens",
        "gen_ai.usage.reasoning_tokens",
        "gen_ai.usage.output_tokens.reasoning",
        "gen_ai.usage.details.reasoning_tokens",
        "llm.token_count.completion_details.reasoning",
    ],
    "operation": ["gen_ai.operation.name", "openinference.span.kind", "traceloop.span.kind"],
}


@dataclass(frozen=True)
class AttributeMap:
    """Canonical field -> attribute keys, looked up on the span first, then its resource."""

    keys: Mapping[str, tuple[str, ...]]

    @classmethod
    def default(cls) -> AttributeMap:
        """The built-in mapping (OpenInference and OTel GenAI)."""
        return cls({k: tuple(v) for k, v in DEFAULT_ATTRIBUTES.items()})

    def __getitem__(self, name: str) -> tuple[str, ...]:
        return self.keys[name]


@dataclass(frozen=True)
class SpanSource:
    """A span source: ``kind`` is ``otlp_files`` (more kinds plug in by name)."""

    name: str
    kind: str
    options: Mapping[str, Any]
    # "inclusive" (both span conventions: input counts cache reads and writes),
    # "exclusive" (some Anthropic instrumentations), or "auto" (inclusive unless the
    # span's cache tokens exceed its input count, which only an exclusive count can do).
    input_convention: Mapping[str, str] = field(default_factory=dict)
    # A pull that finds no usage for a day this source had usage for replaces it only when
    # allowed (``allow_empty = true`` here, or ``finops pull --allow-empty``).
    allow_empty: bool = False
    # How many calls each span stands for (finops.canonical: tracestate, attribute, ratio, off;
    # per service). Not declared: the tracestate wherever the source can read it.
    sampling: Sampling = Sampling()


@dataclass(frozen=True)
class BillingSource:
    """A billing source: ``kind`` is ``openai_files`` or ``anthropic_files`` (saved responses)."""

    name: str
    kind: str
    options: Mapping[str, Any]


@dataclass(frozen=True)
class AccountRule:
    """Billed spend in ``provider``/``account`` with no spans goes to ``team``."""

    provider: str
    account: str
    team: str


@dataclass(frozen=True)
class KeyRule:
    """Billed spend of API key ``api_key`` (``provider``) with no spans goes to ``team``.

    More specific than an :class:`AccountRule`: the key's share of a billed line (by billed
    tokens) goes to its team, the rest of the line to the account's rule.
    """

    provider: str
    api_key: str
    team: str


def _key_rule(acc: Mapping[str, Any], team: str, j: int, seen: list[KeyRule], path: Path | None) -> KeyRule:
    """``{provider = "openai", api_key = "key_abc"}`` in ``[teams.<team>] accounts``."""
    where = f"{path or 'config'}: teams.{team}.accounts[{j}]"
    if "account" in acc:
        raise ConfigError(f"{where}: name an account or an api_key, not both (a key id is unique per provider)")
    _check_keys(acc, {"provider", "api_key"}, f"teams.{team}.accounts[{j}].", path)
    if not isinstance(acc.get("provider"), str) or not isinstance(acc["api_key"], str) or not acc["api_key"]:
        raise ConfigError(f"{where} needs provider and api_key (the key's id, e.g. key_abc), as strings")
    if acc["api_key"].startswith(("sk-", "sk_")):
        raise ConfigError(f"{where}: api_key must be the key's id (key_..., apikey_...), never the key "
                          "itself")
    owner = next((r.team for r in seen if (r.provider, r.api_key) == (acc["provider"], acc["api_key"])), None)
    if owner is not None:  # one key, one owner: its spend would be charged twice
        raise ConfigError(f"{where}: {acc['provider']} api_key {acc['api_key']!r} is already listed by "
                          f"teams.{owner}")
    return KeyRule(acc["provider"], acc["api_key"], team)


@dataclass(frozen=True)
class ChargeRule:
    """Billed spend with no spans whose bill names this resource or these tags goes to ``team``.

    ``resource``: a FOCUS ``ResourceId`` (compared case-insensitively); ``tags``: key/value
    pairs a charge's FOCUS ``Tags`` must all hold (Bedrock inference profile tags, Azure
    resource tags, GCP labels). Exactly one of the two is set.
    """

    team: str
    resource: str | None = None
    tags: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Team:
    """A team: who leads it, what it owns, what it may spend."""

    name: str
    leads: tuple[str, ...] = ()
    budget_usd: float | None = None
    anomaly_ratio: Decimal | None = None  # overrides [anomalies] ratio for this team


@dataclass(frozen=True)
class AnomalySettings:
    """``[anomalies]``: week-over-week ratio threshold and the volume floor (per 7-day window).

    A team pages only when its window is at or above the floor in output tokens *or* in
    estimated cost; below both it is too small to page.
    """

    ratio: Decimal = Decimal("2.0")
    min_output_tokens: int = 1_000_000
    min_cost_usd: Decimal = Decimal("50")


@dataclass(frozen=True)
class BudgetSettings:
    """``[budgets]``: percent-of-budget thresholds reported, and the early-burn rule."""

    thresholds: tuple[Decimal, ...] = (Decimal(50), Decimal(70), Decimal(90), Decimal(100))
    early_pct: Decimal = Decimal(70)  # spend at this percent on or before mid-month is flagged


@dataclass(frozen=True)
class SmtpConfig:
    """``[smtp]``: where chargeback and anomaly emails go out.

    ``security`` is ``starttls`` (port 587), ``tls`` (implicit TLS, port 465) or ``none``
    (loopback relays only). The password is read from ``password_env`` when sending.
    """

    host: str = "localhost"
    port: int = 587
    security: str = "starttls"
    username: str | None = None
    password_env: str | None = None
    timeout_s: float = 30.0
    cafile: Path | None = None  # extra CA bundle to trust (a private relay's certificate)


@dataclass(frozen=True)
class EmailConfig:
    """``[email]``: sender and the finance recipients of the organisation summary."""

    from_address: str = "finops@localhost"
    finance: tuple[str, ...] = ()
    subject_prefix: str = "[finops]"
    reply_to: str | None = None
    # Where the full HTML report is published; ``{month}`` becomes 2026-10. Emails link to it
    # (a team's email to its own section, ``#team-<anchor>``). None: no link.
    report_url: str | None = None


@dataclass(frozen=True)
class NightlyConfig:
    """``[nightly]``: where the dated report folders go and when chargebacks are mailed."""

    out_dir: Path = Path("reports")
    chargeback_day: int | None = 4  # day of month the previous month's emails go out; None: never
    notify_anomalies: bool = True


@dataclass(frozen=True)
class Config:
    """The whole configuration, built once by :func:`load_config` and passed down."""

    path: Path | None
    warehouse: Path
    currency: str = "USD"
    pricing_dir: Path | None = None
    overrides: Path | None = None
    attributes: AttributeMap = field(default_factory=AttributeMap.default)
    span_sources: tuple[SpanSource, ...] = ()
    billing_sources: tuple[BillingSource, ...] = ()
    teams: Mapping[str, Team] = field(default_factory=dict)
    account_rules: tuple[AccountRule, ...] = ()
    key_rules: tuple[KeyRule, ...] = ()
    charge_rules: tuple[ChargeRule, ...] = ()  # [teams.X] resources, then tags, in team order
    max_drift_pct: float = 5.0
    provisional_days: int = 3
    today: date | None = None  # pinned "today" for reproducible runs and tests
    smtp: SmtpConfig = field(default_factory=SmtpConfig)
    email: EmailConfig = field(default_factory=EmailConfig)
    nightly: NightlyConfig = field(default_factory=NightlyConfig)
    anomalies: AnomalySettings = field(default_factory=AnomalySettings)
    budgets: BudgetSettings = field(default_factory=BudgetSettings)
    # [[notify]] tables as written: finops.notify.targets reads them (unknown keys refused there)
    notify: tuple[Mapping[str, Any], ...] = ()
    # [warehouse] memory_limit / temp_directory: DuckDB's memory cap (it spills to the folder beyond)
    memory_limit: str = DEFAULT_MEMORY_LIMIT
    temp_directory: Path | None = None  # default: DuckDB's, '<warehouse>.tmp' beside the file

    @property
    def warehouse_settings(self) -> dict[str, str]:
        """DuckDB settings every connection to the warehouse gets (:func:`finops.warehouse.open_warehouse`)."""
        out = {"memory_limit": self.memory_limit}
        if self.temp_directory is not None:
            out["temp_directory"] = str(self.temp_directory)
        return out

    def run_date(self) -> date:
        """The run date: pinned in config (reproducible runs) or today in UTC."""
        return self.today or utc_today()



_TOP_KEYS = {
    "warehouse", "currency", "pricing", "attributes", "sources", "billing", "teams",
    "gate", "reconcile", "anomalies", "budgets", "smtp", "email", "nightly", "notify",
}


def _charge_rules(t: Mapping[str, Any], team: str, known: list[ChargeRule],
                  path: Path | None) -> list[ChargeRule]:
    """``[teams.X] resources = [...]`` and ``tags = {...}`` (or a list of such tables)."""
    where = f"{path or 'config'}: teams.{team}"
    out: list[ChargeRule] = []
    resources = t.get("resources", [])
    if not isinstance(resources, list) or not all(isinstance(r, str) and r.strip() for r in resources):
        raise ConfigError(f"{where}.resources must be a list of FOCUS ResourceIds, e.g. "
                          '["arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/ab12"]')
    for r in resources:
        out.append(ChargeRule(team, resource=r.strip()))
    tags = t.get("tags", [])
    tables = [tags] if isinstance(tags, Mapping) else tags
    if not isinstance(tables, list):
        raise ConfigError(f'{where}.tags must be a table, e.g. {{ team = "search" }}, or a list of them')
    for j, table in enumerate(tables):
        at = f"{where}.tags" + (f"[{j}]" if not isinstance(tags, Mapping) else "")
        if not isinstance(table, Mapping) or not table:
            raise ConfigError(f'{at} must be a non-empty table of tag values, e.g. {{ team = "search" }}')
        bad = next((k for k, v in table.items() if not isinstance(v, str)), None)
        if bad is not None:
            raise ConfigError(f"{at}.{bad} must be a string (a tag value as the bill holds it), "
                              f"not {table[bad]!r}")
        out.append(ChargeRule(team, tags=tuple(sorted((str(k), v) for k, v in table.items()))))
    for rule in out:  # one resource or tag set, one owner: its spend would be charged twice
        owner = next((k.team for k in known if (k.resource or "").lower() == (rule.resource or "").lower()
                      and k.tags == rule.tags), None)
        if owner is not None:
            what = f"resource {rule.resource!r}" if rule.resource else f"tags {dict(rule.tags)}"
            raise ConfigError(f"{where}: {what} is already listed by teams.{owner}")
    return out


def _check_keys(section: Mapping[str, Any], allowed: set[str], where: str, path: Path | None) -> None:
    for key in section:
        if key not in allowed:
            raise ConfigError(f"{path or 'config'}: unknown key {where}{key!r}{did_you_mean(key, allowed)}")


def _resolve(base: Path | None, value: str | None) -> Path | None:
    if value is None or value == "":
        return None
    p = Path(value).expanduser()
    if not p.is_absolute() and base is not None:
        p = base / p
    return p


def _expand(patterns: list[str]) -> list[str]:
    """Expand globs in file lists, sorted.

    A pattern matching nothing is kept as written, so the source can say which file is missing.
    """
    out: list[str] = []
    for p in patterns:
        hits = sorted(glob.glob(p)) if glob.has_magic(p) else []
        out.extend(hits or [p])
    return out


def parse_config(data: Mapping[str, Any], path: Path | None = None, *,
                 warehouse: str | None = None) -> Config:
    """Build a :class:`Config` from parsed TOML ``data`` (``path`` is for messages and relative paths)."""
    base = path.parent if path else None
    _check_keys(data, _TOP_KEYS, "", path)

    def sect(name: str) -> Mapping[str, Any]:
        v = data.get(name, {})
        if not isinstance(v, Mapping):
            raise ConfigError(f"{path or 'config'}: [{name}] must be a table")
        return v

    wh = sect("warehouse")
    _check_keys(wh, {"path", "memory_limit", "temp_directory"}, "warehouse.", path)
    memory_limit = wh.get("memory_limit", DEFAULT_MEMORY_LIMIT)
    if not isinstance(memory_limit, str) or not _MEMORY.match(memory_limit.strip()):
        raise ConfigError(f"{path or 'config'}: warehouse.memory_limit must be a size such as \"1GB\" or "
                          f"\"500MB\", not {memory_limit!r}")
    wh_path = Path(warehouse) if warehouse else (_resolve(base, wh.get("path")) or Path(DEFAULT_WAREHOUSE))

    pricing = sect("pricing")
    _check_keys(pricing, {"dir", "overrides"}, "pricing.", path)

    attrs = AttributeMap.default()
    amap = sect("attributes")
    if amap:
        _check_keys(amap, set(DEFAULT_ATTRIBUTES), "attributes.", path)
        merged = dict(attrs.keys)
        for k, v in amap.items():
            if isinstance(v, str):
                v = [v]
            if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                raise ConfigError(f"{path or 'config'}: attributes.{k} must be a list of attribute names")
            merged[k] = tuple(v)
        attrs = AttributeMap(merged)

    spans: list[SpanSource] = []
    seen: dict[str, str] = {}
    for i, s in enumerate(_tables(data, "sources", path)):
        name, kind = _name_kind(s, f"sources[{i}]", seen, path)
        where = f"sources.{name}"
        conv = s.get("input_convention", {})
        if isinstance(conv, str):
            conv = {"*": conv}
        if not isinstance(conv, Mapping):
            raise ConfigError(f"{path or 'config'}: {where}.input_convention must be \"auto\", \"inclusive\", "
                              f"\"exclusive\" or a table per provider, not {conv!r}")
        for prov, c in conv.items():
            if c not in ("inclusive", "exclusive", "auto"):
                raise ConfigError(
                    f"{path or 'config'}: {where}.input_convention.{prov} must be "
                    f"inclusive, exclusive or auto, not {c!r}")
        allow_empty = s.get("allow_empty", False)
        if not isinstance(allow_empty, bool):
            raise ConfigError(f"{path or 'config'}: {where}.allow_empty must be true or false")
        try:
            sampling = sampling_rules(s["sampling"], f"{where}.sampling") if "sampling" in s else Sampling()
        except ConfigError as e:
            raise ConfigError(f"{path or 'config'}: {e}") from None
        opts = {k: v for k, v in s.items()
                if k not in ("name", "kind", "input_convention", "allow_empty", "sampling")}
        if "paths" in opts:
            opts["paths"] = [str(_resolve(base, p)) for p in _path_list(opts["paths"], f"{where}.paths", path)]
        spans.append(SpanSource(name, kind, opts, conv, allow_empty, sampling))

    bills: list[BillingSource] = []
    for i, b in enumerate(_tables(data, "billing", path)):
        name, kind = _name_kind(b, f"billing[{i}]", seen, path)
        opts = {k: v for k, v in b.items() if k not in ("name", "kind")}
        for key in ("costs", "usage", "paths", "api_keys"):
            if key in opts:
                listed = _path_list(opts[key], f"billing.{name}.{key}", path)
                opts[key] = _expand([str(_resolve(base, p)) for p in listed])
        bills.append(BillingSource(name, kind, opts))

    teams: dict[str, Team] = {}
    rules: list[AccountRule] = []
    key_rules: list[KeyRule] = []
    charge_rules: list[ChargeRule] = []
    for name, t in sect("teams").items():
        if not isinstance(t, Mapping):
            raise ConfigError(f"{path or 'config'}: teams.{name} must be a table ([teams.{name}] with leads, "
                              f"budget_usd, accounts), not {t!r}")
        _check_keys(t, {"leads", "budget_usd", "accounts", "anomaly_ratio", "tags", "resources"},
                    f"teams.{name}.", path)
        ratio = t.get("anomaly_ratio")
        budget = t.get("budget_usd")
        leads = _addresses(t.get("leads", []), f"teams.{name}.leads", path)
        teams[name] = Team(name, leads,
                           None if budget is None else float(_at_least(budget, 0, f"teams.{name}.budget_usd", path)),
                           None if ratio is None else _ratio(ratio, f"teams.{name}.anomaly_ratio", path))
        accounts = t.get("accounts", [])
        if not isinstance(accounts, list):
            raise ConfigError(f"{path or 'config'}: teams.{name}.accounts must be a list, e.g. "
                              '[{ provider = "openai", account = "proj_search" }]')
        for j, acc in enumerate(accounts):
            if isinstance(acc, Mapping) and "api_key" in acc:  # a key rule (README "Spend per API key")
                key_rules.append(_key_rule(acc, name, j, key_rules, path))
                continue
            if (not isinstance(acc, Mapping) or not isinstance(acc.get("provider"), str)
                    or not isinstance(acc.get("account"), str)):
                raise ConfigError(
                    f"{path or 'config'}: teams.{name}.accounts[{j}] needs provider and account "
                    "(or provider and api_key)")
            _check_keys(acc, {"provider", "account", "api_key"}, f"teams.{name}.accounts[{j}].", path)
            owner = next((r.team for r in rules
                          if (r.provider, r.account) == (acc["provider"], acc["account"])), None)
            if owner is not None:  # one account, one owner: its spend would be charged twice
                raise ConfigError(
                    f"{path or 'config'}: teams.{name}.accounts[{j}]: {acc['provider']} account "
                    f"{acc['account']!r} is already listed by teams.{owner}")
            rules.append(AccountRule(acc["provider"], acc["account"], name))
        charge_rules.extend(_charge_rules(t, name, charge_rules, path))

    gate = sect("gate")
    _check_keys(gate, {"max_drift_pct"}, "gate.", path)
    rec = sect("reconcile")
    _check_keys(rec, {"provisional_days", "today"}, "reconcile.", path)
    today = rec.get("today")
    if today is not None and not isinstance(today, date):
        raise ConfigError(f"{path or 'config'}: reconcile.today must be a date (YYYY-MM-DD)")

    anomalies, budgets = _anomaly_settings(sect("anomalies"), sect("budgets"), path)
    currency = data.get("currency", "USD")
    if not isinstance(currency, str) or len(currency) != 3 or not currency.isalpha():
        raise ConfigError(f"{path or 'config'}: currency must be a 3-letter code such as \"USD\", not {currency!r}")
    currency = currency.upper()
    for key, value in (("warehouse.path", wh.get("path")), ("warehouse.temp_directory", wh.get("temp_directory")),
                       ("pricing.dir", pricing.get("dir")),
                       ("pricing.overrides", pricing.get("overrides"))):
        if value is not None and (not isinstance(value, str) or not value):
            raise ConfigError(f"{path or 'config'}: {key} must be a path, not {value!r}")
    smtp, email, nightly = _delivery(sect("smtp"), sect("email"), sect("nightly"), base, path)
    notify = data.get("notify", [])
    if not isinstance(notify, list) or not all(isinstance(n, Mapping) for n in notify):
        raise ConfigError(f"{path or 'config'}: notify must be [[notify]] tables (one per chat or webhook target)")
    return Config(
        path=path,
        warehouse=wh_path,
        memory_limit=memory_limit.strip(),
        temp_directory=_resolve(base, wh.get("temp_directory")),
        currency=currency,
        pricing_dir=_resolve(base, pricing.get("dir")),
        overrides=_resolve(base, pricing.get("overrides")),
        attributes=attrs,
        span_sources=tuple(spans),
        billing_sources=tuple(bills),
        teams=teams,
        account_rules=tuple(rules),
        key_rules=tuple(key_rules),
        charge_rules=tuple(sorted(charge_rules, key=lambda r: r.resource is None)),
        max_drift_pct=float(_at_least(gate.get("max_drift_pct", 5.0), 0, "gate.max_drift_pct", path)),
        provisional_days=_days(rec.get("provisional_days", 3), "reconcile.provisional_days", path),
        today=today,
        anomalies=anomalies,
        budgets=budgets,
        smtp=smtp,
        email=email,
        nightly=nightly,
        notify=tuple(notify),
    )


def _tables(data: Mapping[str, Any], key: str, path: Path | None) -> list[Mapping[str, Any]]:
    """``[[sources]]`` / ``[[billing]]``: an array of tables."""
    items = data.get(key, [])
    if not isinstance(items, list) or not all(isinstance(x, Mapping) for x in items):
        raise ConfigError(f"{path or 'config'}: {key} must be an array of tables ([[{key}]] blocks)")
    return items


def _name_kind(item: Mapping[str, Any], where: str, seen: dict[str, str], path: Path | None) -> tuple[str, str]:
    """A source's ``name`` and ``kind``: non-empty strings, names unique across sources and billing."""
    name, kind = item.get("name"), item.get("kind")
    if name is None or kind is None:
        raise ConfigError(f"{path or 'config'}: {where} needs 'name' and 'kind'")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{path or 'config'}: {where}.name must be a non-empty string, not {name!r}")
    if not isinstance(kind, str):
        raise ConfigError(f"{path or 'config'}: {where}.kind must be a string, not {kind!r}")
    if name in seen:
        raise ConfigError(f"{path or 'config'}: {where}: source name {name!r} is used twice "
                          f"(also {seen[name]}); names must be unique")
    seen[name] = where
    return name, kind


def _path_list(value: Any, where: str, path: Path | None) -> list[str]:
    """A list of paths or globs; one string is a list of one."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(p, str) and p for p in value):
        raise ConfigError(f"{path or 'config'}: {where} must be a list of file paths or globs, not {value!r}")
    return value


def _addresses(value: Any, where: str, path: Path | None) -> tuple[str, ...]:
    """Email addresses; one string is a list of one."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise ConfigError(f"{path or 'config'}: {where} must be a list of email addresses, not {value!r}")
    for addr in value:
        if not isinstance(addr, str) or "@" not in addr or any(c in addr for c in "\r\n,;<> "):
            raise ConfigError(f"{path or 'config'}: {where}: {addr!r} is not an email address")
    return tuple(value)


def _at_least(value: Any, low: int, where: str, path: Path | None) -> Decimal:
    """A number ≥ ``low`` (a TOML number: ``"5"`` is a string, not a number)."""
    if isinstance(value, str):
        raise ConfigError(f"{path or 'config'}: {where} must be a number ≥ {low}, not {value!r}")
    n = _number(value, where, path)
    if not n.is_finite() or n < low:
        raise ConfigError(f"{path or 'config'}: {where} must be a number ≥ {low}, not {value!r}")
    return n


def _days(value: Any, where: str, path: Path | None) -> int:
    """A whole number of days, 0..31."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 31:
        raise ConfigError(f"{path or 'config'}: {where} must be a whole number of days 0..31, not {value!r}")
    return value


def _number(value: Any, where: str, path: Path | None) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ConfigError(f"{path or 'config'}: {where} must be a number, not {value!r}")
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise ConfigError(f"{path or 'config'}: {where} must be a number, not {value!r}") from None


def _ratio(value: Any, where: str, path: Path | None) -> Decimal:
    r = _number(value, where, path)
    if r <= 1:
        raise ConfigError(
            f"{path or 'config'}: {where} must be greater than 1 (2.0 = doubled), not {value!r}")
    return r


def _anomaly_settings(an: Mapping[str, Any], bu: Mapping[str, Any],
                      path: Path | None) -> tuple[AnomalySettings, BudgetSettings]:
    """Parse ``[anomalies]`` and ``[budgets]`` (see README "Anomalies and budgets")."""
    _check_keys(an, {"ratio", "min_output_tokens", "min_cost_usd"}, "anomalies.", path)
    _check_keys(bu, {"thresholds", "early_pct"}, "budgets.", path)
    d = AnomalySettings()
    floor_tokens = _number(an.get("min_output_tokens", d.min_output_tokens),
                           "anomalies.min_output_tokens", path)
    floor_cost = _number(an.get("min_cost_usd", d.min_cost_usd), "anomalies.min_cost_usd", path)
    if floor_tokens < 0 or floor_cost < 0:
        raise ConfigError(f"{path or 'config'}: anomalies.min_output_tokens and min_cost_usd must be >= 0")
    anomalies = AnomalySettings(_ratio(an.get("ratio", d.ratio), "anomalies.ratio", path),
                                int(floor_tokens), floor_cost)
    b = BudgetSettings()
    raw = bu.get("thresholds", list(b.thresholds))
    if not isinstance(raw, list) or not raw:
        raise ConfigError(
            f"{path or 'config'}: budgets.thresholds must be a list of percents, e.g. [50, 70, 90, 100]")
    thresholds = tuple(sorted({_number(x, "budgets.thresholds", path) for x in raw}))
    if thresholds[0] <= 0:
        raise ConfigError(f"{path or 'config'}: budgets.thresholds must be positive percents")
    early = _number(bu.get("early_pct", b.early_pct), "budgets.early_pct", path)
    if not 0 < early <= 100:
        raise ConfigError(f"{path or 'config'}: budgets.early_pct must be a percent in (0, 100], not {early}")
    return anomalies, BudgetSettings(thresholds, early)


def _delivery(smtp: Mapping[str, Any], email: Mapping[str, Any], nightly: Mapping[str, Any],
              base: Path | None, path: Path | None) -> tuple[SmtpConfig, EmailConfig, NightlyConfig]:
    """The ``[smtp]``, ``[email]`` and ``[nightly]`` sections, typed and checked."""
    where = path or "config"
    _check_keys(smtp, {"host", "port", "security", "username", "password_env", "timeout_s", "cafile"},
                "smtp.", path)
    security = smtp.get("security", "starttls")
    if security not in ("starttls", "tls", "none"):
        raise ConfigError(f"{where}: smtp.security must be starttls, tls or none, not {security!r}")
    port = smtp.get("port", 465 if security == "tls" else 587)
    if not isinstance(port, int) or not 0 < port < 65536:
        raise ConfigError(f"{where}: smtp.port must be a port number, not {port!r}")
    if smtp.get("password_env") and not smtp.get("username"):
        raise ConfigError(f"{where}: smtp.password_env is set but smtp.username is not")
    for key in ("host", "username", "password_env"):
        if key in smtp and (not isinstance(smtp[key], str) or not smtp[key]):
            raise ConfigError(f"{where}: smtp.{key} must be a non-empty string, not {smtp[key]!r}")
    timeout = smtp.get("timeout_s", 30.0)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise ConfigError(f"{where}: smtp.timeout_s must be a positive number of seconds")
    s = SmtpConfig(host=str(smtp.get("host", "localhost")), port=port, security=security,
                   username=smtp.get("username"), password_env=smtp.get("password_env"),
                   timeout_s=float(timeout), cafile=_resolve(base, smtp.get("cafile")))

    _check_keys(email, {"from", "finance", "subject_prefix", "reply_to", "report_url"}, "email.", path)
    finance = list(_addresses(email.get("finance", []), "email.finance", path))
    _addresses(email.get("from", "finops@localhost"), "email.from", path)
    for key in ("subject_prefix", "reply_to", "report_url"):
        if key in email and not isinstance(email[key], str):
            raise ConfigError(f"{where}: email.{key} must be a string, not {email[key]!r}")
    url = email.get("report_url")
    if url is not None and not url.startswith(("https://", "http://")):
        raise ConfigError(f"{where}: email.report_url must be an http(s) URL, not {url!r}")
    e = EmailConfig(from_address=email.get("from", "finops@localhost"), finance=tuple(finance),
                    subject_prefix=str(email.get("subject_prefix", "[finops]")),
                    reply_to=email.get("reply_to"), report_url=url)

    _check_keys(nightly, {"out_dir", "chargeback_day", "notify_anomalies"}, "nightly.", path)
    day = nightly.get("chargeback_day", 4)
    if not isinstance(day, int) or isinstance(day, bool) or not 0 <= day <= 28:
        raise ConfigError(f"{where}: nightly.chargeback_day must be a day 1..28 (0: never), not {day!r}")
    if not isinstance(nightly.get("out_dir", "reports"), str) or not nightly.get("out_dir", "reports"):
        raise ConfigError(f"{where}: nightly.out_dir must be a folder path, not {nightly['out_dir']!r}")
    if not isinstance(nightly.get("notify_anomalies", True), bool):
        raise ConfigError(f"{where}: nightly.notify_anomalies must be true or false, "
                          f"not {nightly['notify_anomalies']!r}")
    n = NightlyConfig(out_dir=_resolve(base, nightly.get("out_dir", "reports")) or Path("reports"),
                      chargeback_day=day or None,
                      notify_anomalies=bool(nightly.get("notify_anomalies", True)))
    return s, e, n


def load_config(path: str | Path | None = None, *, warehouse: str | None = None) -> Config:
    """Load ``path`` (default ``./finops.toml``).

    Without a config file named or found, only an explicit ``warehouse`` runs on built-in
    defaults; otherwise it is a config error pointing at ``finops init`` (never an empty
    report from a warehouse silently created in the current folder).
    """
    if path is None:
        p = Path(DEFAULT_CONFIG)
        if not p.exists():
            if warehouse is not None:
                return parse_config({}, None, warehouse=warehouse)
            raise ConfigError(f"{p.absolute()}: no config file (run 'finops init' to write one, "
                              "or pass --config FILE or --warehouse FILE)")
    else:
        p = Path(path)
        if not p.exists():
            raise ConfigError(f"{p}: config file not found (run 'finops init' to write one)")
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: not valid TOML: {e}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{p}: cannot read the config: {e.__class__.__name__}: {e}") from None
    return parse_config(data, p.resolve(), warehouse=warehouse)
