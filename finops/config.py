"""Typed configuration: ``finops.toml`` parsed once into frozen dataclasses.

Errors name the file and the key (and suggest the nearest valid key). Secrets are never
in the file: it names environment variables, read into :class:`Secret`, which prints ``***``.
"""

from __future__ import annotations

import glob
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from finops.errors import ConfigError, did_you_mean, register_secret
from finops.windows import utc_today

DEFAULT_CONFIG = "finops.toml"
DEFAULT_WAREHOUSE = "finops.duckdb"


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
# (llm.*) and OTel GenAI (gen_ai.*, old and new names) are accepted out of the box.
DEFAULT_ATTRIBUTES: dict[str, list[str]] = {
    "provider": ["gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system"],
    "model": ["gen_ai.response.model", "llm.response.model", "gen_ai.request.model", "llm.model_name"],
    "team": ["team.id", "team"],
    "project": ["project.id", "project"],
    "feature": ["feature.id", "feature"],
    "account": ["llm.account.id", "openai.project.id", "anthropic.workspace.id"],
    "service_tier": [
        "gen_ai.openai.response.service_tier",
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
        "llm.token_count.prompt_details.cache_read",
    ],
    "cache_write_tokens": [
        "gen_ai.usage.cache_creation.input_tokens",
        "gen_ai.usage.cache_creation_input_tokens",
        "llm.token_count.prompt_details.cache_write",
    ],
    "reasoning_tokens": [
        "gen_ai.usage.reasoning.output_tokens",
        "gen_ai.usage.reasoning_tokens",
        "llm.token_count.completion_details.reasoning",
    ],
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


@dataclass(frozen=True)
class NightlyConfig:
    """``[nightly]``: where the dated report folders go and when chargebacks are mailed."""

    out_dir: Path = Path("reports")
    chargeback_day: int | None = 3  # day of month the previous month's emails go out; None: never
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

    def run_date(self) -> date:
        """The run date: pinned in config (reproducible runs) or today in UTC."""
        return self.today or utc_today()



_TOP_KEYS = {
    "warehouse", "currency", "pricing", "attributes", "sources", "billing", "teams",
    "gate", "reconcile", "anomalies", "budgets", "smtp", "email", "nightly", "notify",
}


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
    _check_keys(wh, {"path"}, "warehouse.", path)
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
    for i, s in enumerate(data.get("sources", [])):
        where = f"sources[{i}]"
        if "kind" not in s or "name" not in s:
            raise ConfigError(f"{path or 'config'}: {where} needs 'name' and 'kind'")
        conv = s.get("input_convention", {})
        if isinstance(conv, str):
            conv = {"*": conv}
        for prov, c in conv.items():
            if c not in ("inclusive", "exclusive", "auto"):
                raise ConfigError(
                    f"{path or 'config'}: {where}.input_convention.{prov} must be "
                    f"inclusive, exclusive or auto, not {c!r}")
        opts = {k: v for k, v in s.items() if k not in ("name", "kind", "input_convention")}
        if "paths" in opts:
            opts["paths"] = [str(_resolve(base, p)) for p in opts["paths"]]
        spans.append(SpanSource(s["name"], s["kind"], opts, conv))

    bills: list[BillingSource] = []
    for i, b in enumerate(data.get("billing", [])):
        where = f"billing[{i}]"
        if "kind" not in b or "name" not in b:
            raise ConfigError(f"{path or 'config'}: {where} needs 'name' and 'kind'")
        opts = {k: v for k, v in b.items() if k not in ("name", "kind")}
        for key in ("costs", "usage", "paths"):
            if key in opts:
                opts[key] = _expand([str(_resolve(base, p)) for p in opts[key]])
        bills.append(BillingSource(b["name"], b["kind"], opts))

    teams: dict[str, Team] = {}
    rules: list[AccountRule] = []
    for name, t in sect("teams").items():
        _check_keys(t, {"leads", "budget_usd", "accounts", "anomaly_ratio"}, f"teams.{name}.", path)
        ratio = t.get("anomaly_ratio")
        teams[name] = Team(name, tuple(t.get("leads", [])), t.get("budget_usd"),
                           None if ratio is None else _ratio(ratio, f"teams.{name}.anomaly_ratio", path))
        for j, acc in enumerate(t.get("accounts", [])):
            if not isinstance(acc, Mapping) or "provider" not in acc or "account" not in acc:
                raise ConfigError(
                    f"{path or 'config'}: teams.{name}.accounts[{j}] needs provider and account")
            owner = next((r.team for r in rules
                          if (r.provider, r.account) == (acc["provider"], acc["account"])), None)
            if owner is not None:  # one account, one owner: its spend would be charged twice
                raise ConfigError(
                    f"{path or 'config'}: teams.{name}.accounts[{j}]: {acc['provider']} account "
                    f"{acc['account']!r} is already listed by teams.{owner}")
            rules.append(AccountRule(acc["provider"], acc["account"], name))

    gate = sect("gate")
    _check_keys(gate, {"max_drift_pct"}, "gate.", path)
    rec = sect("reconcile")
    _check_keys(rec, {"provisional_days", "today"}, "reconcile.", path)
    today = rec.get("today")
    if today is not None and not isinstance(today, date):
        raise ConfigError(f"{path or 'config'}: reconcile.today must be a date (YYYY-MM-DD)")

    anomalies, budgets = _anomaly_settings(sect("anomalies"), sect("budgets"), path)
    currency = str(data.get("currency", "USD")).upper()
    smtp, email, nightly = _delivery(sect("smtp"), sect("email"), sect("nightly"), base, path)
    notify = data.get("notify", [])
    if not isinstance(notify, list) or not all(isinstance(n, Mapping) for n in notify):
        raise ConfigError(f"{path or 'config'}: notify must be [[notify]] tables (one per chat or webhook target)")
    return Config(
        path=path,
        warehouse=wh_path,
        currency=currency,
        pricing_dir=_resolve(base, pricing.get("dir")),
        overrides=_resolve(base, pricing.get("overrides")),
        attributes=attrs,
        span_sources=tuple(spans),
        billing_sources=tuple(bills),
        teams=teams,
        account_rules=tuple(rules),
        max_drift_pct=float(gate.get("max_drift_pct", 5.0)),
        provisional_days=int(rec.get("provisional_days", 3)),
        today=today,
        anomalies=anomalies,
        budgets=budgets,
        smtp=smtp,
        email=email,
        nightly=nightly,
        notify=tuple(notify),
    )


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
    timeout = smtp.get("timeout_s", 30.0)
    if not isinstance(timeout, int | float) or timeout <= 0:
        raise ConfigError(f"{where}: smtp.timeout_s must be a positive number of seconds")
    s = SmtpConfig(host=str(smtp.get("host", "localhost")), port=port, security=security,
                   username=smtp.get("username"), password_env=smtp.get("password_env"),
                   timeout_s=float(timeout), cafile=_resolve(base, smtp.get("cafile")))

    _check_keys(email, {"from", "finance", "subject_prefix", "reply_to"}, "email.", path)
    finance = email.get("finance", [])
    if isinstance(finance, str):
        finance = [finance]
    for addr in [email.get("from", "finops@localhost"), *finance]:
        if not isinstance(addr, str) or "@" not in addr:
            raise ConfigError(f"{where}: email: {addr!r} is not an email address")
    e = EmailConfig(from_address=email.get("from", "finops@localhost"), finance=tuple(finance),
                    subject_prefix=str(email.get("subject_prefix", "[finops]")),
                    reply_to=email.get("reply_to"))

    _check_keys(nightly, {"out_dir", "chargeback_day", "notify_anomalies"}, "nightly.", path)
    day = nightly.get("chargeback_day", 3)
    if not isinstance(day, int) or isinstance(day, bool) or not 0 <= day <= 28:
        raise ConfigError(f"{where}: nightly.chargeback_day must be a day 1..28 (0: never)")
    n = NightlyConfig(out_dir=_resolve(base, nightly.get("out_dir", "reports")) or Path("reports"),
                      chargeback_day=day or None,
                      notify_anomalies=bool(nightly.get("notify_anomalies", True)))
    return s, e, n


def load_config(path: str | Path | None = None, *, warehouse: str | None = None) -> Config:
    """Load ``path`` (default ``./finops.toml`` if present, else built-in defaults)."""
    if path is None:
        p = Path(DEFAULT_CONFIG)
        if not p.exists():
            return parse_config({}, None, warehouse=warehouse)
    else:
        p = Path(path)
        if not p.exists():
            raise ConfigError(f"{p}: config file not found (run 'finops init' to write one)")
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: not valid TOML: {e}") from None
    return parse_config(data, p.resolve(), warehouse=warehouse)
