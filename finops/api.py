"""The library API: every CLI command is one call here, usable from Python without typer/rich.

Functions take a :class:`~finops.config.Config` and return plain data; they raise
:class:`~finops.errors.FinopsError` subclasses whose exit code the CLI maps.
"""

from __future__ import annotations

import importlib
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import duckdb
import polars as pl

from finops.anomalies import AnomalyReport, detect_on, for_month_report, windows_for
from finops.config import Config
from finops.errors import ConfigError, FinopsError, redact
from finops.pricing import load_overrides, load_prices, refresh_prices
from finops.reconcile import reconcile
from finops.reconcile.run import provisional_from, run_query, run_sql
from finops.report.model import Report, build_report, drift_pct
from finops.sources.base import ProgressFn
from finops.warehouse import connect, replace_window
from finops.windows import Window, utc_today

SPAN_KINDS = {
    "otlp_files": "finops.sources.otlp_file",
    "tempo": "finops.sources.tempo",
    "openobserve": "finops.sources.openobserve",
}
BILLING_KINDS = {
    "openai_files": "finops.billing.openai",
    "openai": "finops.billing.openai",
    "anthropic_files": "finops.billing.anthropic",
    "anthropic": "finops.billing.anthropic",
    "focus_files": "finops.billing.focus",
}


def today_for(config: Config) -> date:
    """The run date: pinned in config (reproducible runs) or today in UTC."""
    return config.today or utc_today()


def open_warehouse(config: Config, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the configured warehouse (migrating it to the current schema)."""
    return connect(config.warehouse, read_only=read_only)


@contextmanager
def ledger(con: duckdb.DuckDBPyConnection, command: str, window: Window | None,
           sources: list[str] | None = None) -> Iterator[dict[str, Any]]:
    """Record a run in the ``runs`` table: started, then ok or failed with the error."""
    run = {"run_id": uuid.uuid4().hex[:12], "rows": 0, "errors": []}
    started = time.monotonic()
    con.execute(
        "INSERT INTO runs (run_id, command, started_at, status, window_start, window_end, sources) "
        "VALUES (?, ?, now()::TIMESTAMP, 'running', ?, ?, ?)",
        [run["run_id"], command, window.window_start if window else None,
         window.window_end if window else None, sources or []],
    )
    status = "ok"
    try:
        yield run
    except BaseException as e:
        status = "interrupted" if isinstance(e, KeyboardInterrupt) else "failed"
        run["errors"].append(redact(str(e)) or type(e).__name__)
        raise
    finally:
        if run["errors"] and status == "ok":
            status = "partial"
        con.execute(
            "UPDATE runs SET finished_at = now()::TIMESTAMP, status = ?, rows = ?, errors = ?, "
            "duration_s = ? WHERE run_id = ?",
            [status, run["rows"], "; ".join(run["errors"]) or None,
             round(time.monotonic() - started, 3), run["run_id"]],
        )


def _module(kinds: dict[str, str], kind: str, where: str) -> ModuleType:
    if kind not in kinds:
        raise ConfigError(f"{where}: unknown kind {kind!r} (one of {', '.join(sorted(kinds))})")
    return importlib.import_module(kinds[kind])


@dataclass
class SourceResult:
    """What one source did in a pull."""

    name: str
    kind: str
    rows: int = 0
    error: str | None = None
    stats: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass
class PullResult:
    """Every source's outcome for a window; ``failed`` names the sources that did not load."""

    window: Window
    sources: list[SourceResult]

    @property
    def failed(self) -> list[SourceResult]:
        """Sources that raised an error (their previous windows are untouched)."""
        return [s for s in self.sources if s.error]


def pull(config: Config, window: Window, *, only: list[str] | None = None,
         progress: ProgressFn | None = None) -> PullResult:
    """Load every configured source (or ``only`` those named) for ``window``.

    Each source's window is replaced atomically. A failing source does not stop the others;
    the caller decides the exit code from :attr:`PullResult.failed`.
    """
    names = {s.name for s in config.span_sources} | {b.name for b in config.billing_sources}
    for n in only or []:
        if n not in names:
            raise ConfigError(f"--source {n!r}: no such source in {config.path or 'config'}")
    if not names:
        raise ConfigError(f"{config.path or 'config'}: no [[sources]] or [[billing]] configured")
    results: list[SourceResult] = []
    settled = provisional_from(config, today_for(config))
    con = open_warehouse(config)
    try:
        with ledger(con, "pull", window, sorted(only or names)) as run:
            for s in config.span_sources:
                if only and s.name not in only:
                    continue
                res = SourceResult(s.name, s.kind)
                try:
                    mod = _module(SPAN_KINDS, s.kind, f"sources.{s.name}")
                    got = mod.pull(s, config.attributes, window.window_start, window.window_end,
                                   progress=progress)
                    res.rows = replace_window(con, "usage", s.name, window.window_start,
                                              window.window_end, got.frame, run_id=run["run_id"])
                    res.stats, res.notes = got.stats, got.notes
                except FinopsError as e:
                    res.error = redact(str(e))
                results.append(res)
            for b in config.billing_sources:
                if only and b.name not in only:
                    continue
                res = SourceResult(b.name, b.kind)
                try:
                    mod = _module(BILLING_KINDS, b.kind, f"billing.{b.name}")
                    got = mod.pull(b, window.window_start, window.window_end, progress=progress)
                    res.rows = replace_window(con, "billing", b.name, window.window_start,
                                              window.window_end, got.frame, providers=got.providers,
                                              run_id=run["run_id"], settled_before=settled)
                    res.stats, res.notes = got.stats, got.notes
                except FinopsError as e:
                    res.error = redact(str(e))
                results.append(res)
            run["rows"] = sum(r.rows for r in results)
            run["errors"] = [f"{r.name}: {r.error}" for r in results if r.error]
    finally:
        con.close()
    return PullResult(window, results)


def reconcile_window(config: Config, window: Window) -> Report:
    """Recompute the window's reconciliation and allocation (``finops reconcile``)."""
    return report(config, window, command="reconcile")


def report(config: Config, window: Window, *, command: str = "report") -> Report:
    """Reconcile ``window`` with the current prices and return its :class:`Report`."""
    con = open_warehouse(config)
    try:
        with ledger(con, command, window):
            reconcile(con, config, window, today_for(config))
        rep = build_report(con, window, currency=config.currency,
                           max_drift_pct=config.max_drift_pct,
                           generated_at=datetime.now(UTC).replace(microsecond=0))
        rep.anomalies = for_month_report(con, config, window)
        return rep
    finally:
        con.close()


def anomalies(config: Config, *, as_of: date | None = None, week: str | None = None) -> AnomalyReport:
    """Week-over-week anomalies per team and budget status (``finops anomalies``).

    ``as_of`` (default yesterday UTC): the 7 days ending on it vs the 7 before; ``week``
    (``YYYY-Www``): that ISO week vs the one before. Rules: :mod:`finops.anomalies`.
    """
    current, prior, mode = windows_for(config, as_of=as_of, week=week)
    con = open_warehouse(config)
    try:
        with ledger(con, "anomalies", current) as run:
            result = detect_on(con, config, current, prior, mode=mode)
            run["rows"] = len(result.flags)
        return result
    finally:
        con.close()


@dataclass
class GateResult:
    """The CI gate's verdict. ``billing_missing`` means fail closed (exit 3)."""

    window: Window
    max_drift_pct: Decimal
    drift_pct: Decimal | None
    passed: bool
    per_provider: list[dict[str, Any]]
    billing_missing: dict[str, list[date]]
    provisional_days: list[date]
    report: Report


def gate(config: Config, window: Window, *, max_drift_pct: float | None = None,
         per_provider: bool = False) -> GateResult:
    """Check reconciliation drift against the threshold (default from config)."""
    threshold = Decimal(str(config.max_drift_pct if max_drift_pct is None else max_drift_pct))
    rep = report(config, window)
    rows = []
    for p in rep.providers:
        d = p.drift_pct
        rows.append({"provider": p.name, "billed": p.billed, "estimated": p.estimated,
                     "drift_pct": d, "passed": d is not None and abs(d) <= threshold})
    org = rep.drift_pct
    passed = org is not None and abs(org) <= threshold
    if per_provider:
        passed = passed and all(r["passed"] for r in rows)
    missing = dict(rep.billing_gaps)
    if rep.billed_total == 0 and not missing:
        missing = {"*": []}  # nothing billed at all for the window: fail closed
    return GateResult(window, threshold, org, passed and not missing, rows, missing,
                      rep.provisional_days, rep)


def pricing_table(config: Config, on: date) -> pl.DataFrame:
    """The list prices (and overrides) in force on ``on``, one row per model match · tier · type."""
    prices = load_prices(config.pricing_dir)
    live = prices.filter((pl.col("effective_from") <= on) &
                         (pl.col("effective_to").is_null() | (pl.col("effective_to") > on)))
    ov = load_overrides(config.overrides).filter(
        (pl.col("effective_from") <= on) &
        (pl.col("effective_to").is_null() | (pl.col("effective_to") > on)))
    wide = (live.pivot(on="token_type", index=["provider", "model_id", "model_match", "match_kind",
                                                "service_tier", "effective_from", "checked"],
                       values="usd_per_mtok")
            .sort(["provider", "model_id", "model_match", "service_tier"]))
    if ov.height:
        wide = wide.with_columns(pl.lit(None, pl.Decimal(9, 4)).alias("discount_pct"))
        for o in ov.iter_rows(named=True):
            cond = pl.col("provider") == o["provider"]
            if o["match_kind"] == "exact":
                cond &= pl.col("model_match") == o["model_match"]
            elif o["match_kind"] == "prefix":
                cond &= pl.col("model_match").str.starts_with(o["model_match"])
            wide = wide.with_columns(
                pl.when(cond).then(pl.lit(o["discount_pct"])).otherwise(pl.col("discount_pct"))
                .alias("discount_pct"))
    return wide


def pricing_check(config: Config) -> list[dict[str, Any]]:
    """Every (provider, model, tier, token type) in usage or billing with tokens and no price."""
    con = open_warehouse(config)
    try:
        refresh_prices(con, load_prices(config.pricing_dir), load_overrides(config.overrides))
        lo, hi = con.execute(
            "SELECT min(d), max(d) FROM (SELECT min(day) AS d FROM usage_daily UNION ALL "
            "SELECT max(day) FROM usage_daily UNION ALL SELECT min(day) FROM billing_daily "
            "UNION ALL SELECT max(day) FROM billing_daily)").fetchone()
        if lo is None:
            return []
        params = {"window_start": lo, "window_end": hi + timedelta(days=1)}
        run_sql(con, "reconcile/10_price_keys", params)
        return run_query(con, "pricing/unpriced_models", params)
    finally:
        con.close()


__all__ = [
    "GateResult", "PullResult", "SourceResult", "anomalies", "drift_pct", "gate", "ledger", "open_warehouse",
    "pricing_check", "pricing_table", "pull", "reconcile_window", "report", "today_for",
]


def check_sources(config: Config) -> tuple[list[dict[str, str]], list[str]]:
    """Ask each source that can be checked what it sees; returns rows and failed source names."""
    rows: list[dict[str, str]] = []
    failed: list[str] = []
    for kinds, items in ((SPAN_KINDS, config.span_sources), (BILLING_KINDS, config.billing_sources)):
        for s in items:
            try:
                mod = _module(kinds, s.kind, s.name)
                check = getattr(mod, "check", None)
                if check is None:
                    rows.append({"source": s.name, "kind": s.kind, "check": "-",
                                 "result": "nothing to check (files are read at pull time)"})
                    continue
                found = check(s, config.attributes) if kinds is SPAN_KINDS else check(s)
                for key, value in found:
                    rows.append({"source": s.name, "kind": s.kind, "check": key, "result": value})
            except FinopsError as e:
                failed.append(s.name)
                rows.append({"source": s.name, "kind": s.kind, "check": "error",
                             "result": redact(str(e))})
    return rows, failed


def email(config: Config, window: Window, *, team: str | None = None, dry_run: bool = False,
          out_dir: Path | None = None, resend: bool = False) -> Any:
    """Send the month's chargeback: one email per team to its leads, the summary to finance.

    Under the warehouse lock. Recipients that already received the month's email are skipped
    unless ``resend``; ``dry_run`` writes ``.eml`` files into ``out_dir`` instead. Returns a
    :class:`finops.mail.deliver.MailOutcome` (``failed`` names recipients that did not get it).
    """
    from finops.lock import warehouse_lock
    from finops.mail.deliver import chargeback_drafts, deliver

    with warehouse_lock(config.warehouse, "email"):
        rep = report(config, window)
        drafts, notes = chargeback_drafts(rep, config, team=team)
        con = open_warehouse(config)
        try:
            with ledger(con, "email", window) as run:
                outcome = deliver(con, config, drafts, dry_run=dry_run, out_dir=out_dir, resend=resend,
                                  run_id=run["run_id"])
                outcome.notes[:0] = notes
                run["rows"] = len(outcome.sent)
                run["errors"] = [str(f) for f in outcome.failed]
        finally:
            con.close()
    return outcome


def nightly(config: Config, *, day: date | None = None, dry_run: bool = False,
            progress: ProgressFn | None = None) -> Any:
    """The cron job (see :mod:`finops.nightly`); returns a :class:`finops.nightly.NightlyResult`."""
    from finops.nightly import run_nightly

    return run_nightly(config, day=day, dry_run=dry_run, progress=progress)
