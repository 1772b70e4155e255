r"""FOCUS billing exports (CSV or Parquet, FOCUS 1.0, 1.2 and 1.3 column names).

Kind ``focus_files``: ``paths`` lists the exports; ``preset`` and/or ``rules`` say which
charges are LLM billing. ``BilledCost`` in ``BillingCurrency`` is the truth;
``ChargePeriodStart`` gives the UTC day; ``SubAccountId`` (else ``BillingAccountId``) the
account. ``SkuMeter`` is read from ``x_UsageType`` (AWS FOCUS 1.0) or ``x_SkuMeterName``
(Azure FOCUS 1.0) when the file has no ``SkuMeter`` column. Rules are described in
:mod:`finops.billing.rules`::

    [[billing]]
    name = "aws"
    kind = "focus_files"
    paths = ["exports/aws-focus-2026-10-*.parquet"]
    preset = "aws-bedrock"           # or "azure-openai", "gcp-vertex-ai"
    rules = [                        # tried before the preset's rules
      { ServiceName = "AmazonSageMaker", exclude = true },
      { SkuId = "CLAUDE-SONNET-4-IN", provider = "anthropic",
        model = "claude-sonnet-4-20250514", token_type = "input" },
    ]

Only charges a rule matches are LLM billing. A cloud export is the whole cloud bill: a row
that matches no rule (EC2, RDS, S3 ...) is *excluded* from reconciliation and chargeback and
reported, with its money, as one line in the pull's notes and the month's report
(:mod:`finops.billing.exclusions`). ``finops sources check`` lists which services and SKUs
the rules match and which they leave out.

Each matched charge's ``ResourceId``, ``Tags`` and provisioned marker are kept beside the
billing rows (``BillingPull.charges``, table ``billing_charges``): ``[teams.X] tags`` and
``resources`` charge spend with no spans by them, and provisioned capacity is split by the
token share of the spans on the model it serves (README "Tags and resources", "Provisioned
capacity").
"""  # noqa: E501

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import polars as pl

from finops.billing import exclusions
from finops.billing.reader import Reader
from finops.billing.rows import Rows, in_window
from finops.billing.rules import (
    MATCH_COLUMNS,
    SETS,
    Rule,
    load_preset,
    parse_rules,
    service_tier,
    suggest,
    token_type,
)
from finops.cloud_models import canonical_model, capacity_model
from finops.config import BillingSource
from finops.errors import ConfigError, DataError
from finops.frames import CHARGES_SCHEMA, BillingPull, ProgressFn
from finops.schemas import MONEY, SERVICE_TIERS

__all__ = ["KINDS", "MATCH_COLUMNS", "SETS", "Rule", "check", "parse_rules", "pull", "read",
           "validate"]

KINDS = ("focus_files",)
OPTIONS = ("paths", "preset", "rules")
PROVIDER_COLUMNS = ("ServiceProviderName", "ProviderName")  # 1.3 name first
ACCOUNT_COLUMNS = ("SubAccountId", "BillingAccountId")
SKU_METER_FALLBACKS = ("x_UsageType", "x_SkuMeterName")  # FOCUS 1.0 exports of AWS, Azure
DETAIL_COLUMNS = ("Tags",)  # ResourceId is a match column
REQUIRED = ("BilledCost", "BillingCurrency", "ChargePeriodStart")
_READ = (*REQUIRED, *MATCH_COLUMNS, *SKU_METER_FALLBACKS, *PROVIDER_COLUMNS, *ACCOUNT_COLUMNS,
         "ConsumedQuantity", "ConsumedUnit", *DETAIL_COLUMNS)
_UNIT = re.compile(r"(?:(\d+) ?([KM])?|([KM]))? ?tokens?", re.IGNORECASE)
_UNIT_MULT = {None: 1, "K": 1000, "M": 1_000_000}

# The charges a rule matched, one row per FOCUS row, before they are summed into billing
# rows: deployment, context, the provisioned marker, ResourceId and Tags stay here for
# audit, tag attribution and capacity allocation. ``tags`` is the row's Tags as sorted,
# compact JSON (``None`` for none); a provisioned charge whose rule names no model serves
# the model :func:`finops.cloud_models.capacity_model` reads from its ResourceId.
CHARGE_SCHEMA: dict[str, pl.DataType] = {
    "day": pl.Date(), "provider": pl.String(), "account": pl.String(), "model": pl.String(),
    "service_tier": pl.String(), "token_type": pl.String(), "line_item": pl.String(),
    "amount": MONEY, "currency": pl.String(), "billed_tokens": pl.Int64(),
    "deployment": pl.String(), "context": pl.String(), "provisioned": pl.Boolean(),
    "service": pl.String(), "sku": pl.String(), "resource_id": pl.String(), "tags": pl.String(),
    "rule": pl.String(),
}


@dataclass(frozen=True)
class Setup:
    """A source's options, checked: files, rules (explicit first, then the preset's)."""

    paths: list[str]
    rules: list[Rule]
    providers: list[str]
    preset: str | None


@dataclass
class Parsed:
    """What the exports hold for a window: LLM charges, and what was left out."""

    charges: pl.DataFrame  # CHARGE_SCHEMA
    excluded: pl.DataFrame  # exclusions.EXCLUDED_SCHEMA
    skipped: dict[tuple[str, str, str], tuple[int, dict[str, Decimal]]]  # (reason, service, sku)
    rows_read: int
    files: int


def setup(source: BillingSource) -> Setup:
    """Check the source's options; unknown keys, no files and no rules are config errors."""
    where = f"billing source {source.name}"
    if source.kind not in KINDS:
        raise ConfigError(f"{where}: kind {source.kind!r} is not focus_files")
    for key in source.options:
        if key not in OPTIONS:
            raise ConfigError(f"{where}: unknown option {key!r}{suggest(key, list(OPTIONS))}; "
                              f"focus_files takes "
                              f"{', '.join(OPTIONS)}")
    rules = parse_rules(source.options.get("rules"), where)
    preset = source.options.get("preset")
    if preset is not None:
        _, preset_rules = load_preset(preset, where)
        rules += preset_rules
    if not any(not r.exclude for r in rules):
        raise ConfigError(f"{where}: no rule says which charges are LLM billing: set "
                          "preset = \"aws-bedrock\" | \"azure-openai\" | \"gcp-vertex-ai\" "
                          "or give rules (every charge would be excluded)")
    paths = source.options.get("paths") or []
    if isinstance(paths, str):
        paths = [paths]
    if not paths:
        raise ConfigError(f"{where}: 'paths' lists no files")
    providers = sorted({r.sets["provider"].strip().lower() for r in rules
                        if "provider" in r.sets})
    return Setup(list(paths), rules, providers, preset)


def validate(source: BillingSource) -> None:
    """Raise :class:`ConfigError` for a bad option, rule or preset (before any file is read)."""
    setup(source)


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
    if "SkuMeter" not in frame.columns:
        fallback = next((c for c in SKU_METER_FALLBACKS if c in frame.columns), None)
        if fallback:
            frame = frame.rename({fallback: "SkuMeter"})
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
    """Tokens from ``ConsumedQuantity`` when ``ConsumedUnit`` counts tokens.

    ``Tokens``, ``1000 Tokens``, ``1K tokens``, ``1M Tokens``; any other unit gives ``None``.
    """
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
    mult = int(m.group(1) or 1) * _UNIT_MULT[(m.group(2) or m.group(3) or "").upper() or None]
    return int((q * mult).to_integral_value(rounding=ROUND_HALF_EVEN))


def _resolve(rule: Rule, raw: Mapping[str, str], r: Reader, i: int) -> dict[str, str]:
    """A rule's raw fields as canonical values; a value no vocabulary knows is named."""
    provider = raw["provider"].strip().lower()
    tt = token_type(rule, raw["token_type"])
    if tt is None:
        raise r.fail(f"row {i}: token_type", f"{raw['token_type']!r} (from {rule.origin}) is "
                     f"not a token type")
    tier = service_tier(rule, raw.get("service_tier"))
    if tier not in SERVICE_TIERS:
        raise r.fail(f"row {i}: service_tier", f"unknown tier {raw.get('service_tier')!r} "
                     f"(from {rule.origin})")
    deployment = rule.read("deployment", raw["deployment"]) if raw.get("deployment") else ""
    context = rule.read("context", raw["context"]) if raw.get("context") else ""
    return {"provider": provider, "token_type": tt, "service_tier": tier,
            "deployment": deployment, "context": context,
            "model": canonical_model(provider, raw.get("model", "").strip(), deployment)}


def read(source: BillingSource, window_start: date | None = None, window_end: date | None = None,
         *, progress: ProgressFn | None = None, conf: Setup | None = None) -> Parsed:
    """The LLM charges of ``[window_start, window_end)`` and what the rules left out.

    Every day when no window is given. Errors name the file, the row (1-based) and the column.
    """
    conf = conf or setup(source)
    cache: dict[tuple[str, ...], tuple[Rule, dict[str, str]] | None] = {}
    resolved: dict[tuple[int, tuple[str, ...]], dict[str, str]] = {}
    cols: dict[str, list[Any]] = {c: [] for c in CHARGE_SCHEMA}
    excluded: dict[tuple[Any, str, str, str], tuple[int, Decimal]] = {}
    skipped: dict[tuple[str, str, str], tuple[int, dict[str, Decimal]]] = {}
    n_rows = 0
    # A column no rule reads stays out of the rule cache's key (ResourceId: one per resource).
    used = {c for c in MATCH_COLUMNS if c != "ResourceId"} | {
        c for rule in conf.rules for c in rule.match}
    for done, path in enumerate(conf.paths, 1):
        where = f"{source.name} {path}"
        r = Reader(where)
        frame = _read(path, where)
        for i, rec in enumerate(frame.iter_rows(named=True), 1):
            day = _day(rec["ChargePeriodStart"], r, f"row {i}: ChargePeriodStart")
            if window_start is not None and window_end is not None \
                    and not in_window(day, window_start, window_end):
                continue
            n_rows += 1
            amount = _cost(rec["BilledCost"], r, f"row {i}: BilledCost")
            currency = r.currency(str(rec["BillingCurrency"] or ""), f"row {i}: BillingCurrency")
            key = tuple(str(rec.get(c) or "").strip() if c in used else ""
                        for c in MATCH_COLUMNS)
            if key not in cache:
                values = dict(zip(MATCH_COLUMNS, key, strict=True))
                cache[key] = next(((rule, s) for rule in conf.rules
                                   if (s := rule.apply(values)) is not None), None)
            hit = cache[key]
            service, sku = key[0], key[3] or key[2] or key[1]
            if hit is None or hit[0].exclude:
                reason = exclusions.UNMATCHED if hit is None else exclusions.RULE
                ek = (day, reason, service, currency)
                n, amt = excluded.get(ek, (0, Decimal(0)))
                excluded[ek] = (n + 1, amt + amount)
                sk = (reason, service, sku)
                n, by_cur = skipped.get(sk, (0, {}))
                by_cur[currency] = by_cur.get(currency, Decimal(0)) + amount
                skipped[sk] = (n + 1, by_cur)
                continue
            rule, raw = hit
            rk = (id(rule), key)
            if rk not in resolved:
                resolved[rk] = _resolve(rule, raw, r, i)
            fields = resolved[rk]
            billed = None if fields["token_type"] == "other" else _tokens(
                rec.get("ConsumedQuantity"), rec.get("ConsumedUnit"), r, f"row {i}: ConsumedQuantity")
            resource_id = str(rec.get("ResourceId") or "").strip() or None
            if rule.provisioned and not fields["model"]:
                fields = {**fields, "model": capacity_model(fields["provider"], resource_id)}
            row = {
                "day": day, "account": next((str(rec[c]) for c in ACCOUNT_COLUMNS if rec.get(c)),
                                            "default"),
                "line_item": key[3] or key[2] or key[1] or key[0], "amount": amount,
                "currency": currency, "billed_tokens": billed, "provisioned": rule.provisioned,
                "service": service, "sku": sku, "resource_id": resource_id,
                "tags": _tags(rec.get("Tags"), r, f"row {i}: Tags"), "rule": rule.origin,
                **fields,
            }
            for c in CHARGE_SCHEMA:
                cols[c].append(row[c])
        if progress:
            progress(f"{source.name} files", done, len(conf.paths))
    return Parsed(pl.DataFrame(cols, schema=CHARGE_SCHEMA), exclusions.frame(excluded), skipped,
                  n_rows, len(conf.paths))


def _tags(value: Any, r: Reader, path: str) -> str | None:
    """A charge's Tags as sorted, compact JSON text (values as strings), or ``None`` for none.

    CSV exports hold a JSON object; Parquet ones a map (read as a list of key/value structs)
    or a struct. Anything else is bad input naming the file, row and column.
    """
    if value is None or value == "":
        return None
    tags: Any = value
    if isinstance(value, str):
        try:
            tags = json.loads(value)
        except ValueError:
            raise r.fail(path, f"is not a JSON object: {value[:60]!r}") from None
    elif isinstance(value, list) and all(isinstance(t, dict) and set(t) == {"key", "value"}
                                         for t in value):
        tags = {t["key"]: t["value"] for t in value}
    if not isinstance(tags, dict):
        raise r.fail(path, f"is not a JSON object: {str(value)[:60]!r}")
    flat = {str(k): v if isinstance(v, str) else json.dumps(v, separators=(",", ":"))
            for k, v in tags.items() if v is not None}
    return json.dumps(flat, sort_keys=True, separators=(",", ":"), ensure_ascii=False) \
        if flat else None


def pull(source: BillingSource, window_start: date, window_end: date, *,
         progress: ProgressFn | None = None) -> BillingPull:
    """Billing rows for ``[window_start, window_end)`` from FOCUS exports.

    Only charges a rule matches are billing rows; the rest are returned as ``excluded``
    (day · reason · service · currency: rows, amount) and summed up in one note.
    """
    conf = setup(source)
    parsed = read(source, window_start, window_end, progress=progress, conf=conf)
    rows: dict[str, Rows] = {}
    for c in parsed.charges.iter_rows(named=True):
        out = rows.setdefault(c["provider"], Rows(c["provider"], source.name))
        out.add(c["day"], c["account"], c["model"], c["service_tier"], c["token_type"],
                c["line_item"], c["amount"], c["currency"], c["billed_tokens"], source.name)
    win = f"{source.name} {window_start}..{window_end}"
    frames = [rows[p].frame(win) for p in sorted(rows)]
    frame = pl.concat(frames) if frames else Rows("focus", source.name).frame(win)
    notes = exclusions.notes(parsed.excluded.iter_rows(named=True), f"{source.name}: ")
    stats = {"rows_read": parsed.rows_read, "rows": frame.height, "files": parsed.files,
             "matched_rows": parsed.charges.height,
             "excluded_rows": int(parsed.excluded["rows"].sum() or 0)}
    return BillingPull(frame, sorted(set(conf.providers) | set(rows)), notes, stats,
                       excluded=parsed.excluded, charges=charges_frame(parsed.charges))


def charges_frame(charges: pl.DataFrame) -> pl.DataFrame:
    """The parsed charges summed per billing key · resource · tags · capacity (``CHARGES_SCHEMA``).

    Per billing key the amounts and billed tokens add up to the billing row's.
    """
    keys = ["day", "provider", "account", "model", "service_tier", "token_type", "line_item",
            "resource_id", "tags", "capacity", "currency"]
    tokens = pl.col("billed_tokens")
    return (charges.with_columns(pl.col("resource_id").fill_null(""), pl.col("tags").fill_null(""),
                                 capacity=pl.when(pl.col("provisioned")).then(pl.lit("provisioned"))
                                 .otherwise(pl.lit("on_demand")))
            .group_by(keys)
            .agg(pl.len().cast(pl.Int64).alias("rows"), pl.col("amount").sum(),
                 pl.when(tokens.is_not_null().any()).then(tokens.sum()).alias("billed_tokens"))
            .select(list(CHARGES_SCHEMA)).cast(CHARGES_SCHEMA)  # type: ignore[arg-type]
            .sort(keys))


def check(source: BillingSource) -> list[tuple[str, str]]:
    """What the rules do to the files, every day, for ``finops sources check``.

    Which services and SKUs they match (and as what), and which they leave out, with rows
    and money. Reads the files, sends nothing.
    """
    conf = setup(source)
    parsed = read(source, conf=conf)
    out: list[tuple[str, str]] = []
    rules = f"{len(conf.rules)} rule(s)" + (f", preset {conf.preset}" if conf.preset else "")
    ch = parsed.charges
    span = f", {ch['day'].min()}..{ch['day'].max()}" if ch.height else ""
    out.append(("files", f"{parsed.files} file(s), {parsed.rows_read:,} row(s){span}; {rules}"))
    if ch.height:
        groups = (ch.group_by("service", "sku", "provider", "model", "token_type", "service_tier",
                              "currency")
                  .agg(pl.len().alias("n"), pl.col("amount").sum().alias("amount"))
                  .sort(["amount", "sku"], descending=[True, False]))
        for g in groups.head(20).iter_rows(named=True):
            what = f"{g['provider']} {g['model'] or '-'} {g['token_type']}" + (
                f" ({g['service_tier']})" if g["service_tier"] != "standard" else "")
            out.append(("matched", f"{g['service'] or '-'} · {g['sku'] or '-'} -> {what}: "
                                   f"{g['n']:,} row(s), {g['amount']:,.2f} {g['currency']}"))
        if groups.height > 20:
            out.append(("matched", f"... and {groups.height - 20} more service/SKU group(s)"))
    else:
        out.append(("matched", "nothing: no charge in the files matches a rule"))
    def weight(amounts: Mapping[str, Decimal]) -> Decimal:
        return sum((abs(v) for v in amounts.values()), Decimal(0))

    def money(amounts: Mapping[str, Decimal]) -> str:
        return " + ".join(f"{v:,.2f} {c}" for c, v in sorted(amounts.items()))

    by_service: dict[tuple[str, str], list[Any]] = defaultdict(lambda: [0, [], defaultdict(Decimal)])
    for (reason, service, sku), (n, amounts) in parsed.skipped.items():
        acc = by_service[(reason, service)]
        acc[0] += n
        acc[1].append((sku, amounts))
        for cur, v in amounts.items():
            acc[2][cur] += v
    ranked = sorted(by_service.items(), key=lambda kv: (-weight(kv[1][2]), kv[0]))
    for (reason, service), (n, skus, amounts) in ranked[:20]:
        label = "excluded" if reason == exclusions.UNMATCHED else "excluded by rule"
        top = sorted(skus, key=lambda sa: (-weight(sa[1]), sa[0]))[:3]
        shown = "; ".join(f"{sku or '(no SKU)'} {money(a)}" for sku, a in top)
        more = f"; {len(skus) - 3} more" if len(skus) > 3 else ""
        out.append((label, f"{service or '(no ServiceName)'}: {n:,} row(s) in {len(skus)} "
                           f"SKU(s), {money(amounts)} (top SKUs: {shown}{more})"))
    if len(ranked) > 20:
        out.append(("excluded", f"... and {len(ranked) - 20} more service(s)"))
    out += [("summary", n) for n in exclusions.notes(parsed.excluded.iter_rows(named=True))]
    return out
