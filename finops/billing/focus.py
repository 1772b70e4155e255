r"""FOCUS billing exports (CSV or Parquet, FOCUS 1.2 and 1.3 column names).

Kind ``focus_files``: ``paths`` lists the exports, ``rules`` maps charges to LLM tokens.
``BilledCost`` in ``BillingCurrency`` is the truth; ``ChargePeriodStart`` gives the UTC day;
``SubAccountId`` (else ``BillingAccountId``) the account. A rule matches ``ServiceName``,
``SkuId`` and/or ``ChargeDescription`` by equality (a string) or by regex (a table
``{ regex = "..." }``, searched), and sets ``provider``, ``model``, ``token_type`` and
``service_tier``, either literally or from the regex's named groups of the same names::

    rules = [
      { ServiceName = "OpenAI API", provider = "openai",
        ChargeDescription = { regex = '^(?P<model>\S+) (?P<token_type>input|output|cached input) tokens$' } },
      { SkuId = "CLAUDE-SONNET-4-IN", provider = "anthropic",
        model = "claude-sonnet-4-20250514", token_type = "input" },
    ]

Configuration (``finops.toml``)::

    [[billing]]
    name = "cloud"
    kind = "focus_files"
    paths = ["exports/focus-2026-10*.csv", "exports/*.parquet"]   # files or globs
    rules = [ ... ]               # as above; optional (unmatched charges are kept as other)

Any other key is refused when ``finops.toml`` is loaded. The first matching rule wins. Rows matching no rule are kept as ``other``, with the
provider from ``ServiceProviderName`` (1.3) or ``ProviderName`` (1.2) lower-cased, and
listed in the notes: spend never vanishes.
"""  # noqa: E501

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import polars as pl

from finops.billing.reader import Reader
from finops.billing.rows import Rows, in_window
from finops.canonical import canonical_tier
from finops.config import BillingSource
from finops.errors import ConfigError, DataError
from finops.frames import BillingPull, ProgressFn
from finops.options import OptionReader
from finops.schemas import OTHER, SERVICE_TIERS, TOKEN_TYPES

KINDS = ("focus_files",)
MATCH_COLUMNS = ("ServiceName", "SkuId", "ChargeDescription")
SETS = ("provider", "model", "token_type", "service_tier")
PROVIDER_COLUMNS = ("ServiceProviderName", "ProviderName")  # 1.3 name first
ACCOUNT_COLUMNS = ("SubAccountId", "BillingAccountId")
REQUIRED = ("BilledCost", "BillingCurrency", "ChargePeriodStart")
_READ = (*REQUIRED, *MATCH_COLUMNS, *PROVIDER_COLUMNS, *ACCOUNT_COLUMNS,
         "ConsumedQuantity", "ConsumedUnit")

# Token type words a rule or a named group may use -> canonical token type.
_TOKEN_WORDS = {
    **{t: t for t in TOKEN_TYPES},
    "cached input": "cache_read", "cache read": "cache_read", "cache_read_input_tokens":
    "cache_read", "cache write": "cache_write", "cache writes": "cache_write",
    "cache write 5m": "cache_write", "cache write 1h": "cache_write_1h",
    "uncached input": "input", "uncached_input_tokens": "input", "output_tokens": "output",
}
_UNIT = re.compile(r"(?:(\d+) )?tokens?", re.IGNORECASE)


@dataclass(frozen=True)
class Rule:
    """One mapping rule: column matchers, and the fields it sets."""

    match: Mapping[str, str | re.Pattern[str]]
    sets: Mapping[str, str]

    def apply(self, values: Mapping[str, str]) -> dict[str, str] | None:
        """The fields this rule sets for a row, or ``None`` when it does not match."""
        out = dict(self.sets)
        for col, m in self.match.items():
            v = values.get(col) or ""
            if isinstance(m, str):
                if v != m:
                    return None
                continue
            found = m.search(v)
            if not found:
                return None
            for k, g in found.groupdict().items():
                if k in SETS and g is not None and k not in self.sets:
                    out[k] = g
        return out


def parse_rules(raw: Any, where: str) -> list[Rule]:
    """Rules from config (a list of tables); errors name ``where`` and the rule index."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ConfigError(f"{where}: rules must be a list of tables")
    rules = []
    for i, r in enumerate(raw):
        w = f"{where}: rules[{i}]"
        if not isinstance(r, Mapping):
            raise ConfigError(f"{w} must be a table")
        unknown = set(r) - set(MATCH_COLUMNS) - set(SETS)
        if unknown:
            raise ConfigError(f"{w}: unknown key(s) {sorted(unknown)}; match on "
                              f"{', '.join(MATCH_COLUMNS)} and set {', '.join(SETS)}")
        match: dict[str, str | re.Pattern[str]] = {}
        groups: set[str] = set()
        for col in MATCH_COLUMNS:
            if col not in r:
                continue
            v = r[col]
            if isinstance(v, str):
                match[col] = v
            elif isinstance(v, Mapping) and set(v) == {"regex"} and isinstance(v["regex"], str):
                try:
                    pat = re.compile(v["regex"])
                except re.error as e:
                    raise ConfigError(f"{w}.{col}: bad regex: {e}") from None
                match[col] = pat
                groups |= set(pat.groupindex)
            else:
                raise ConfigError(f"{w}.{col} must be a string or {{ regex = \"...\" }}")
        if not match:
            raise ConfigError(f"{w}: needs at least one of {', '.join(MATCH_COLUMNS)}")
        sets = {k: str(r[k]) for k in SETS if k in r}
        for need in ("provider", "token_type"):
            if need not in sets and need not in groups:
                raise ConfigError(f"{w}: sets no {need} (give it, or a named regex group)")
        if "token_type" in sets and sets["token_type"].lower() not in _TOKEN_WORDS:
            raise ConfigError(f"{w}: token_type {sets['token_type']!r} is not one of "
                              f"{', '.join(TOKEN_TYPES)}")
        rules.append(Rule(match, sets))
    return rules


def _read(path: str, where: str) -> pl.DataFrame:
    p = Path(path)
    if not p.exists():
        raise DataError(f"{where}: file not found")
    try:
        if p.suffix.lower() in (".parquet", ".pq"):
            frame = pl.read_parquet(p)
        else:
            frame = pl.read_csv(p, infer_schema=False, encoding="utf8-lossy")
    except (pl.exceptions.PolarsError, OSError) as e:
        raise DataError(f"{where}: cannot read: {str(e).splitlines()[0][:200]}") from None
    frame = frame.rename({c: c.lstrip("\ufeff").strip() for c in frame.columns})
    missing = [c for c in REQUIRED if c not in frame.columns]
    if not any(c in frame.columns for c in PROVIDER_COLUMNS):
        missing.append(" or ".join(PROVIDER_COLUMNS))
    if missing:
        raise DataError(f"{where}: missing FOCUS column(s): {', '.join(missing)}")
    return frame.select([c for c in _READ if c in frame.columns])


def _day(value: Any, r: Reader, path: str) -> date:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC).date()
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not value.strip():
        raise r.fail(path, "missing")
    return r.rfc3339_day(value, path)


def _cost(value: Any, r: Reader, path: str) -> Decimal:
    if isinstance(value, Decimal):
        d = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        d = Decimal(str(value))
    elif isinstance(value, str) and value.strip():
        d = r.decimal(value, path)
    else:
        raise r.fail(path, "missing")
    return r.money(d, path)


def _tokens(qty: Any, unit: Any, r: Reader, path: str) -> int | None:
    if qty is None or unit is None or (isinstance(qty, str) and not qty.strip()):
        return None
    m = _UNIT.fullmatch(str(unit).strip())
    if not m:
        return None
    try:
        q = Decimal(str(qty).strip())
    except InvalidOperation:
        raise r.fail(path, f"is not a number: {str(qty)[:40]!r}") from None
    if not q.is_finite() or q < 0:
        raise r.fail(path, f"is not a token count: {qty!r}")
    return int((q * int(m.group(1) or 1)).to_integral_value(rounding=ROUND_HALF_EVEN))


OPTIONS = ("paths", "rules")


def validate(source: BillingSource) -> None:
    """Check the source's options (``finops.toml`` load): unknown keys, ``paths``, ``rules``."""
    o = OptionReader(source.options, f"billing source {source.name}", OPTIONS)
    o.paths("paths", required=True)
    parse_rules(o.get("rules"), f"billing source {source.name}")


def pull(source: BillingSource, window_start: date, window_end: date, *,
         progress: ProgressFn | None = None) -> BillingPull:
    """Billing rows for ``[window_start, window_end)`` from FOCUS exports.

    Reads ``options["paths"]`` (CSV or Parquet) and ``options["rules"]``. Errors name the
    file, the row (1-based, header excluded) and the column.
    """
    if source.kind not in KINDS:
        raise ConfigError(f"billing source {source.name}: kind {source.kind!r} is not focus_files")
    validate(source)
    rules = parse_rules(source.options.get("rules"), f"billing source {source.name}")
    paths = source.options.get("paths") or []
    if isinstance(paths, str):
        paths = [paths]
    if not paths:
        raise ConfigError(f"billing source {source.name}: 'paths' lists no files")
    providers = {r.sets["provider"] for r in rules if "provider" in r.sets}
    cache: dict[tuple[str, ...], dict[str, str] | None] = {}
    rows: dict[str, Rows] = {}
    unmatched: dict[str, Decimal] = defaultdict(Decimal)
    n_rows = 0
    for done, path in enumerate(paths, 1):
        where = f"{source.name} {path}"
        r = Reader(where)
        frame = _read(path, where)
        for i, rec in enumerate(frame.iter_rows(named=True), 1):
            day = _day(rec["ChargePeriodStart"], r, f"row {i}: ChargePeriodStart")
            if not in_window(day, window_start, window_end):
                continue
            n_rows += 1
            amount = _cost(rec["BilledCost"], r, f"row {i}: BilledCost")
            currency = r.currency(str(rec["BillingCurrency"] or ""), f"row {i}: BillingCurrency")
            key = tuple(str(rec.get(c) or "") for c in MATCH_COLUMNS)
            if key not in cache:
                values = dict(zip(MATCH_COLUMNS, key, strict=True))
                cache[key] = next((s for rule in rules if (s := rule.apply(values)) is not None),
                                  None)
            sets = cache[key]
            account = next((str(rec[c]) for c in ACCOUNT_COLUMNS if rec.get(c)), "default")
            line_item = next((k for k in (key[2], key[1], key[0]) if k), "")
            if sets is None:
                provider = next((str(rec[c]).strip().lower() for c in PROVIDER_COLUMNS
                                 if rec.get(c)), "")
                if not provider:
                    raise r.fail(f"row {i}: {' / '.join(PROVIDER_COLUMNS)}", "missing")
                model, token_type, tier, billed = "", OTHER, "standard", None
                unmatched[line_item] += amount
            else:
                provider = sets["provider"].strip().lower()
                model = sets.get("model", "")
                token_type = _TOKEN_WORDS.get(sets["token_type"].strip().lower(), "")
                if not token_type:
                    raise r.fail(f"row {i}: token_type",
                                 f"{sets['token_type']!r} (from a rule) is not a token type")
                tier = canonical_tier(sets.get("service_tier"))
                if tier not in SERVICE_TIERS:
                    raise r.fail(f"row {i}: service_tier", f"unknown tier {tier!r}")
                billed = _tokens(rec.get("ConsumedQuantity"), rec.get("ConsumedUnit"), r,
                                 f"row {i}: ConsumedQuantity")
            out = rows.setdefault(provider, Rows(provider, source.name))
            out.add(day, account, model, tier, token_type, line_item, amount, currency, billed,
                    where)
        if progress:
            progress(f"{source.name} files", done, len(paths))
    win = f"{source.name} {window_start}..{window_end}"
    frames = [rows[p].frame(win) for p in sorted(rows)]
    frame = pl.concat(frames) if frames else Rows("focus", source.name).frame(win)
    notes = []
    if unmatched:
        top = sorted(unmatched.items(), key=lambda kv: -abs(kv[1]))
        shown = ", ".join(f"{k!r} ({v:.2f})" for k, v in top[:5])
        more = f" and {len(top) - 5} more" if len(top) > 5 else ""
        notes.append(f"{source.name}: {len(top)} FOCUS charge(s) matched no rule, kept as "
                     f"'{OTHER}': {shown}{more}")
    return BillingPull(frame, sorted(providers | set(rows)), notes,
                       {"rows_read": n_rows, "rows": frame.height, "files": len(paths),
                        "unmatched_charges": len(unmatched)})
