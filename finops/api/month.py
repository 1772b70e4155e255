"""A month's reconciliation and what is read from it: the report, its exports, and the CI gate.

Every function here reads the window's stored results while their inputs are unchanged and
reconciles it first when an input changed (a changed price file re-prices history:
:mod:`finops.reconcile.stored`), then reads the results on the same connection.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from finops.config import Config
from finops.errors import ConfigError, DataError, ExitCode
from finops.money import cents
from finops.notify import NotifyOutcome, gate_event, parse_targets, post
from finops.reconcile.anomalies import for_month_report
from finops.reconcile.stored import ensure_reconciled
from finops.report.model import Report, build_report, previous_month
from finops.report.write import render, write_report, write_report_file, write_split_html
from finops.warehouse import open_warehouse
from finops.warehouse.ledger import ledger
from finops.windows import Window

if TYPE_CHECKING:
    import polars as pl

__all__ = ["EXPORT_FORMATS", "Export", "GateResult", "export", "gate", "reconcile_window", "report"]

EXPORT_FORMATS = ("table", "html", "csv", "json", "focus")


def check_loaded(con: duckdb.DuckDBPyConnection, config: Config, window: Window) -> None:
    """Raise :class:`DataError` when no source ever loaded a day of ``window`` (never an empty report)."""
    row = con.execute("SELECT count(*) FROM load_windows WHERE window_start < ? AND window_end > ?",
                      [window.window_end, window.window_start]).fetchone()
    if not row or not row[0]:
        hint = (f"run 'finops pull --month {window.label()}' first" if window.label() != str(window)
                else f"run 'finops pull --start {window.window_start} --end {window.window_end}' first")
        raise DataError(f"warehouse {config.warehouse}: nothing loaded for {window}: {hint}")


def _loaded(con: duckdb.DuckDBPyConnection, window: Window) -> bool:
    """Some source loaded a day of ``window``."""
    row = con.execute("SELECT count(*) FROM load_windows WHERE window_start < ? AND window_end > ?",
                      [window.window_end, window.window_start]).fetchone()
    return bool(row and row[0])


def _reconciled(con: duckdb.DuckDBPyConnection, config: Config, window: Window, command: str, *,
                require_data: bool = True, month_over_month: bool = True, force: bool = False,
                summary: bool = False, team_totals: bool = False) -> Report:
    """Reconcile ``window`` on ``con`` unless its stored results are current, and read its :class:`Report`.

    ``force`` reconciles regardless; the ledger records which happened. With
    ``month_over_month`` the month before is made current too (when it was loaded).

    ``summary`` reads only the gate's part of the report (no team sections, no anomalies or budgets);
    ``team_totals`` adds each team's totals to it (``finops reconcile``'s summary).

    With ``require_data`` a window nothing was loaded for is a :class:`DataError`. With
    ``month_over_month`` the month before is reconciled too when anything was loaded for it, and
    the report compares the two.
    """
    if require_data:
        check_loaded(con, config, window)
    previous = previous_month(window) if month_over_month else None
    with ledger(con, command, window) as run:
        outcome = ensure_reconciled(con, config, window, config.run_date(), force=force, run_id=run.run_id)
        run.note = outcome.message
        if previous is not None and _loaded(con, previous):
            ensure_reconciled(con, config, previous, config.run_date(), force=force, run_id=run.run_id)
        else:
            previous = None
    rep = build_report(con, window, currency=config.currency, max_drift_pct=config.max_drift_pct,
                       generated_at=datetime.now(UTC).replace(microsecond=0), previous=previous,
                       today=config.run_date(), summary=summary, team_totals=team_totals)
    rep.results_note = outcome.message
    if not summary:
        rep.anomalies = for_month_report(con, config, window, [window] + ([previous] if previous else []))
    return rep


def _check_team(rep: Report, team: str | None) -> None:
    if team is not None and rep.team(team) is None:
        known = ", ".join(t.team for t in rep.teams) or "none"
        raise ConfigError(f"--team {team!r}: no spend for that team in {rep.window.label()} (teams: {known})")


def report(config: Config, window: Window, *, team: str | None = None, command: str = "report",
           require_data: bool = True, month_over_month: bool = True, force: bool = False,
           summary: bool = False, team_totals: bool = False) -> Report:
    """``window``'s :class:`Report`, from its stored results or reconciled first when an input changed.

    ``force`` reconciles regardless.

    ``team`` must have spend in the window (else a usage error listing the teams that do).
    A missing warehouse, or (with ``require_data``) a window nothing was loaded for, is a
    :class:`~finops.errors.DataError`. ``month_over_month=False`` leaves the month before alone
    (the gate needs only this month); ``summary`` reads only what the gate uses, ``team_totals``
    with each team's totals.
    """
    with open_warehouse(config.warehouse, command, create=False, settings=config.warehouse_settings) as con:
        rep = _reconciled(con, config, window, command, require_data=require_data,
                          month_over_month=month_over_month, force=force, summary=summary,
                          team_totals=team_totals)
    _check_team(rep, team)
    return rep


def reconcile_window(config: Config, window: Window, *, force: bool = False) -> Report:
    """Reconcile the window unless its stored results are current (``finops reconcile``).

    ``force`` recomputes regardless. :attr:`Report.results_note` says which happened. The
    :class:`Report` is the summary: providers, drift, each team's totals and the unattributed
    money, without the teams' breakdowns, trends, anomalies and budgets (``report`` reads those).
    """
    return report(config, window, command="reconcile", force=force, summary=True, team_totals=True)


@dataclass
class Export:
    """An export: its text (for stdout) or the files it wrote.

    ``frame`` holds the rows of a FOCUS export returned as text.
    """

    text: str | None = None
    paths: list[Path] = field(default_factory=list)
    frame: pl.DataFrame | None = None
    exit_code: ExitCode = ExitCode.OK
    note: str = ""  # how the results were got (Report.results_note)


def export(config: Config, window: Window, fmt: str, *, team: str | None = None, out: Path | None = None,
           focus_version: str = "1.2", split_teams: bool = False) -> Export:
    """The month's chargeback as ``html``, ``csv``, ``json`` or a ``focus`` file.

    With ``out`` the files are written there (a folder; for ``focus`` a ``.csv`` or
    ``.parquet`` file; ``table`` writes the HTML, JSON and CSV files); without it the text is
    returned, except HTML, which is written into the current folder. ``split_teams`` writes the
    HTML as an index page plus one page per team.
    """
    if fmt not in EXPORT_FORMATS:
        raise ConfigError(f"--format {fmt!r}: not one of {', '.join(EXPORT_FORMATS)}")
    if split_teams and (fmt not in ("html", "table") or team is not None):
        raise ConfigError("--split-teams: only with --format html or table, and without --team")
    if fmt == "focus":  # polars and the FOCUS columns only for a FOCUS export
        from finops.report.focus import (
            check_path,
            check_version,
            focus_batches,
            focus_frame,
            focus_rows,
            render_focus_csv,
            write_focus_batches,
        )

        check_version(focus_version)
        if out is not None:
            check_path(out)
    with open_warehouse(config.warehouse, "report", create=False, settings=config.warehouse_settings) as con:
        # a FOCUS export needs the month, its currency and its teams, not the report's breakdowns
        rep = _reconciled(con, config, window, "report", summary=fmt == "focus", team_totals=True)
        _check_team(rep, team)
        if fmt == "focus" and out is not None:  # streamed from DuckDB to the file, batch by batch
            write_focus_batches(focus_batches(con, window, rep, focus_version, team=team), out)
            return Export(paths=[out], note=rep.results_note)
        rows = focus_rows(con, window) if fmt == "focus" else None
    if rows is not None:
        frame = focus_frame(rows if team is None else rows.filter(rows["team"] == team), rep, focus_version)
        return Export(text=render_focus_csv(frame), frame=frame, note=rep.results_note)
    if out is not None and out.suffix and not out.is_dir():  # report.html is a file, not a folder
        if split_teams:
            write_report_file(rep, out, fmt=fmt)  # checks the suffix
            return Export(paths=write_split_html(rep, out), note=rep.results_note)
        return Export(paths=write_report_file(rep, out, fmt=fmt, team=team), note=rep.results_note)
    if out is not None or fmt in ("html", "table"):
        return Export(paths=write_report(rep, out or Path("."), fmt=fmt, team=team, split_teams=split_teams),
                      note=rep.results_note)
    return Export(text=render(rep, fmt, team), note=rep.results_note)


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
    per_provider_gated: bool = False
    notify: NotifyOutcome | None = None  # with ``notify=True``: what each [[notify]] target got

    @property
    def failures(self) -> list[str]:
        """What failed, one phrase each (``anthropic drift -7.10 % outside ±5 %``); empty on a pass."""
        if self.billing_missing:
            return ["billing missing"]
        out = []
        if self.drift_pct is None or abs(self.drift_pct) > self.max_drift_pct:
            out.append(_drift_phrase("organisation", self.drift_pct, self.max_drift_pct))
        if self.per_provider_gated:
            out += [_drift_phrase(r["provider"], r["drift_pct"], self.max_drift_pct)
                    for r in self.per_provider if not r["passed"]]
        return out

    @property
    def not_gated(self) -> list[str]:
        """Providers outside the threshold that were not gated (no ``--per-provider``)."""
        if self.per_provider_gated:
            return []
        return [r["provider"] for r in self.per_provider if not r["passed"]]

    @property
    def exit_code(self) -> ExitCode:
        """3: billing missing (fail closed) or a notify target not posted; 1: drift above the threshold; else 0."""
        if self.billing_missing or (self.notify is not None and self.notify.failed):
            return ExitCode.DATA
        return ExitCode.OK if self.passed else ExitCode.GATE_FAILED

    @property
    def status(self) -> str:
        """``pass``, ``fail`` or ``billing_missing``."""
        return "pass" if self.passed else ("billing_missing" if self.billing_missing else "fail")

    def as_dict(self) -> dict[str, Any]:
        """``finops gate --format json`` (README "Output formats"); money and percents as decimal strings."""
        return {
            "month": self.window.label(), "passed": self.passed, "status": self.status,
            "failed": self.failures if not self.passed else [], "not_gated": self.not_gated,
            "max_drift_pct": str(self.max_drift_pct),
            "drift_pct": None if self.drift_pct is None else str(self.drift_pct),
            "billed_total": str(self.report.billed_total),
            "estimated_total": str(self.report.estimated_total),
            "providers": [{"provider": r["provider"], "billed": str(cents(r["billed"])),
                           "estimated": str(cents(r["estimated"])),
                           "drift_pct": None if r["drift_pct"] is None else str(r["drift_pct"]),
                           "passed": r["passed"]} for r in self.per_provider],
            "billing_missing": {p: [d.isoformat() for d in days] for p, days in self.billing_missing.items()},
            "provisional_days": [d.isoformat() for d in self.provisional_days],
            "drift_summary": self.report.drift_summary,
        }


def gate(config: Config, window: Window, *, max_drift_pct: float | None = None,
         per_provider: bool = False, notify: bool = False, dry_run: bool = False,
         out_dir: Path | None = None) -> GateResult:
    """Check reconciliation drift against the threshold (default from config).

    With ``notify`` a failed gate (drift above the threshold, or billing missing) is posted to
    the ``[[notify]]`` targets that take ``gate`` events, once per month and status; ``dry_run``
    writes the bodies as ``.json`` files into ``out_dir`` (default ``./outbox``) instead.
    """
    if max_drift_pct is not None and max_drift_pct < 0:
        raise ConfigError("--max-drift: must be ≥ 0")
    if (dry_run or out_dir is not None) and not notify:
        raise ConfigError("--dry-run and --out: only with --notify")
    if out_dir is not None and not dry_run:
        raise ConfigError("--out: only with --dry-run")
    targets = parse_targets(config) if notify else []
    if notify and not any("gate" in t.events for t in targets):
        raise ConfigError(f"--notify: no [[notify]] target in {config.path or 'config'} takes gate events")
    threshold = Decimal(str(config.max_drift_pct if max_drift_pct is None else max_drift_pct))
    rep = report(config, window, require_data=False,  # nothing loaded: fails closed below, in its format
                 month_over_month=False, summary=True)
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
    result = GateResult(window, threshold, org, passed and not missing, rows, missing,
                        rep.provisional_days, rep, per_provider)
    if notify:
        events = [] if result.passed else [gate_event(
            rep, status=result.status, max_drift_pct=threshold, providers=rows, billing_missing=missing,
            data=result.as_dict())]
        with open_warehouse(config.warehouse, "gate", create=False, settings=config.warehouse_settings) as con, \
                ledger(con, "gate", window) as run:
            result.notify = post(con, targets, events, kinds=("gate",), dry_run=dry_run, out_dir=out_dir,
                                 run_id=run.run_id)
            run.rows = sum(len(t.posted) for t in result.notify.targets)
            run.errors = [line for t in result.notify.targets for line in t.failed]
    return result


def _drift_phrase(who: str, drift: Decimal | None, threshold: Decimal) -> str:
    if drift is None:
        return f"{who} has no drift (nothing billed or estimated)"
    return f"{who} drift {drift:+.2f} % outside ±{threshold} %"
