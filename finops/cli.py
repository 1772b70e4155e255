"""The ``finops`` command: thin over :mod:`finops.api`.

Each command parses options, loads config, calls one library function, renders, exits.
stdout is data (tables, JSON, CSV); stderr is diagnostics. Exit codes: :class:`ExitCode`.
"""

from __future__ import annotations

import sys
import traceback
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from finops.errors import ConfigError, ExitCode, FinopsError, redact

app = typer.Typer(
    name="finops",
    help="Reconcile LLM spend (spans vs provider bills) and charge it back to teams.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
pricing_app = typer.Typer(help="Show and check the effective-dated price tables.", no_args_is_help=True)
sources_app = typer.Typer(help="Check the configured sources.", no_args_is_help=True)
app.add_typer(pricing_app, name="pricing")
app.add_typer(sources_app, name="sources")

# Data on stdout, diagnostics on stderr. Off a terminal (cron, CI, pipes) tables get a wide
# fixed width instead of being squeezed into 80 columns.
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, soft_wrap=True, width=None if sys.stderr.isatty() else 200)


@dataclass
class Ctx:
    """Global options, resolved lazily so 'finops init' works without a config."""

    config_path: Path | None
    warehouse: str | None

    def config(self):  # noqa: ANN201 - returns finops.config.Config
        """Load the configuration (once per command)."""
        from finops.config import load_config
        return load_config(self.config_path, warehouse=self.warehouse)


ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="Config file (default ./finops.toml).")]
WarehouseOpt = Annotated[str | None, typer.Option("--warehouse", "-w", help="DuckDB file (overrides config).")]
MonthOpt = Annotated[str, typer.Option("--month", "-m", help="Calendar month YYYY-MM (UTC).")]


@app.callback()
def _global(ctx: typer.Context, config: ConfigOpt = None, warehouse: WarehouseOpt = None) -> None:
    ctx.obj = Ctx(config, warehouse)


def _progress():  # noqa: ANN202
    """A rich progress callback on a terminal; None under cron (no TTY)."""
    if not err.is_terminal:
        return None, None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), console=err, transient=True)
    tasks: dict[str, int] = {}

    def update(label: str, done: int, total: int | None) -> None:
        if label not in tasks:
            tasks[label] = bar.add_task(label, total=total)
        bar.update(tasks[label], completed=done, total=total)

    return bar, update


# ----------------------------------------------------------------------------- init

@app.command()
def init(path: Annotated[Path, typer.Argument(help="Where to write the config.")] = Path("finops.toml"),
         force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False) -> None:
    """Write a commented starter finops.toml."""
    from finops.starter import write_starter
    write_starter(path, force=force)
    err.print(f"wrote {path}: edit sources, teams and thresholds, then run 'finops pull'")


# ----------------------------------------------------------------------------- pull

@app.command()
def pull(ctx: typer.Context,
         month: Annotated[str | None, typer.Option("--month", "-m", help="Load a calendar month YYYY-MM.")] = None,
         start: Annotated[str | None, typer.Option(help="Window start YYYY-MM-DD (inclusive).")] = None,
         end: Annotated[str | None, typer.Option(help="Window end YYYY-MM-DD (exclusive).")] = None,
         source: Annotated[list[str] | None, typer.Option("--source", "-s", help="Only this source (repeatable).")] = None,
         ) -> None:
    """Load span and billing sources for a window; each source's window is replaced atomically."""
    from finops import api
    from finops.windows import Window, month_window, parse_day

    cfg = ctx.obj.config()
    if month:
        window = month_window(month)
    elif start and end:
        window = Window(parse_day(start, "--start"), parse_day(end, "--end"))
    else:
        today = api.today_for(cfg)
        window = Window(today - timedelta(days=cfg.provisional_days), today)
    bar, update = _progress()
    if bar:
        with bar:
            result = api.pull(cfg, window, only=source, progress=update)
    else:
        result = api.pull(cfg, window, only=source)
    from finops.render import pull_table
    out.print(pull_table(result))
    if result.failed:
        names = ", ".join(s.name for s in result.failed)
        for s in result.failed:
            err.print(f"finops: error: {s.error}", markup=False, highlight=False)
        err.print(f"finops: {len(result.failed)} source(s) failed: {names}; the others were loaded",
                  markup=False, highlight=False)
        raise typer.Exit(ExitCode.DATA)


# ----------------------------------------------------------------------------- reconcile

@app.command()
def reconcile(ctx: typer.Context, month: MonthOpt) -> None:
    """Recompute estimated vs billed, the drift explanation and the allocation for a month."""
    from finops import api
    from finops.windows import month_window

    cfg = ctx.obj.config()
    rep = api.reconcile_window(cfg, month_window(month))
    from finops.render import summary_table
    out.print(summary_table(rep))


# ----------------------------------------------------------------------------- report

FORMATS = ("table", "html", "csv", "json", "focus")


@app.command()
def report(ctx: typer.Context, month: MonthOpt,
           team: Annotated[str | None, typer.Option(help="Only this team.")] = None,
           fmt: Annotated[str, typer.Option("--format", "-f",
                                            help="table | html | csv | json | focus")] = "table",
           out_dir: Annotated[Path | None, typer.Option(
               "--out", "-o", help="Directory for the files (focus: a .csv or .parquet file).")] = None,
           focus_version: Annotated[str, typer.Option(
               "--focus-version", help="FOCUS version of --format focus: 1.2 | 1.3")] = "1.2",
           ) -> None:
    """Chargeback report for a month: terminal table, HTML, CSV, JSON or a FOCUS file."""
    from finops import api
    from finops.windows import month_window

    if fmt not in FORMATS:
        raise typer.BadParameter(f"{fmt!r} is not one of {', '.join(FORMATS)}", param_hint="--format")
    if fmt == "focus":
        from finops.report.focus import check_path, check_version
        check_version(focus_version)
        if out_dir is not None:
            check_path(out_dir)
    cfg = ctx.obj.config()
    rep = api.report(cfg, month_window(month))
    if team is not None and rep.team(team) is None:
        known = ", ".join(t.team for t in rep.teams) or "none"
        raise ConfigError(f"--team {team!r}: no spend for that team in {month} (teams: {known})")
    if fmt == "focus":
        from finops.report.focus import focus_export, render_focus_csv, write_focus
        frame = focus_export(cfg, rep, version=focus_version, team=team)
        if out_dir is None:
            sys.stdout.write(render_focus_csv(frame))
        else:
            err.print(f"wrote {write_focus(frame, out_dir)}")
        return
    from finops.report.write import render, write_report
    if out_dir is not None or fmt == "html":
        target = out_dir or Path(".")
        paths = write_report(rep, target, fmt=fmt, team=team)
        for p in paths:
            err.print(f"wrote {p}")
        return
    if fmt == "table":
        from finops.render import report_tables
        for t in report_tables(rep, team):
            out.print(t)
    else:
        sys.stdout.write(render(rep, fmt, team))


# ----------------------------------------------------------------------------- gate

@app.command()
def gate(ctx: typer.Context, month: MonthOpt,
         max_drift: Annotated[float | None, typer.Option("--max-drift", help="Percent; default from config (5).")] = None,
         per_provider: Annotated[bool, typer.Option("--per-provider", help="Every provider must pass too.")] = False,
         fmt: Annotated[str, typer.Option("--format", "-f", help="text | markdown | json")] = "text",
         ) -> None:
    """Exit 1 when reconciliation drift exceeds the threshold; 3 when billing is missing."""
    from finops import api
    from finops.render import gate_output
    from finops.windows import month_window

    if fmt not in ("text", "markdown", "json"):
        raise typer.BadParameter(f"{fmt!r} is not one of text, markdown, json", param_hint="--format")
    if max_drift is not None and max_drift < 0:
        raise typer.BadParameter("must be ≥ 0", param_hint="--max-drift")
    cfg = ctx.obj.config()
    result = api.gate(cfg, month_window(month), max_drift_pct=max_drift, per_provider=per_provider)
    sys.stdout.write(gate_output(result, fmt))
    if result.billing_missing:
        raise typer.Exit(ExitCode.DATA)
    if not result.passed:
        raise typer.Exit(ExitCode.GATE_FAILED)


# ----------------------------------------------------------------------------- anomalies

AsOfOpt = Annotated[str | None, typer.Option(
    "--as-of", help="Last day of the trailing 7-day window, inclusive, YYYY-MM-DD "
                    "(default: yesterday, UTC).")]
WeekOpt = Annotated[str | None, typer.Option(
    "--week", help="An ISO week YYYY-Www (Monday to Sunday) against the week before, instead of --as-of.")]


@app.command()
def anomalies(ctx: typer.Context, as_of: AsOfOpt = None, week: WeekOpt = None,
              fmt: Annotated[str, typer.Option("--format", "-f", help="table | json | markdown")] = "table",
              fail_on_anomaly: Annotated[bool, typer.Option(
                  "--fail-on-anomaly", help="Exit 1 when a team or a budget is flagged.")] = False,
              ) -> None:
    """Week-over-week jumps per team (output tokens, estimated cost) with where to look; budgets.

    Compares the 7 days ending on --as-of (inclusive) with the 7 days before, or an ISO week
    with the week before. Cost is estimated from span usage at contracted prices.
    """
    from finops import api
    from finops.render import anomaly_output, anomaly_tables
    from finops.windows import parse_day

    if fmt not in ("table", "json", "markdown"):
        raise typer.BadParameter(f"{fmt!r} is not one of table, json, markdown", param_hint="--format")
    day = parse_day(as_of, "--as-of") if as_of else None
    result = api.anomalies(ctx.obj.config(), as_of=day, week=week)
    if fmt == "table":
        for t in anomaly_tables(result):
            out.print(t)
    else:
        sys.stdout.write(anomaly_output(result, fmt))
    if fail_on_anomaly and result.flagged:
        raise typer.Exit(ExitCode.GATE_FAILED)


# ----------------------------------------------------------------------------- pricing

@pricing_app.command("show")
def pricing_show(ctx: typer.Context,
                 on: Annotated[str | None, typer.Option("--date", help="YYYY-MM-DD (default today, UTC).")] = None,
                 provider: Annotated[str | None, typer.Option(help="Only this provider.")] = None) -> None:
    """Print the price table in force on a date (USD per million tokens)."""
    from finops import api
    from finops.render import price_table
    from finops.windows import parse_day

    cfg = ctx.obj.config()
    day = parse_day(on, "--date") if on else api.today_for(cfg)
    frame = api.pricing_table(cfg, day)
    if provider:
        frame = frame.filter(frame["provider"] == provider)
    out.print(price_table(frame, day))


@pricing_app.command("check")
def pricing_check(ctx: typer.Context) -> None:
    """List every model seen in usage or billing with no price; exit 1 if there is one."""
    from finops import api
    from finops.render import unpriced_table

    rows = api.pricing_check(ctx.obj.config())
    if rows:
        out.print(unpriced_table(rows))
        err.print(f"finops: {len(rows)} model/token type(s) have no price: add them to pricing/")
        raise typer.Exit(ExitCode.GATE_FAILED)
    err.print("every model seen in usage and billing has a price")


# ----------------------------------------------------------------------------- sources

@sources_app.command("check")
def sources_check(ctx: typer.Context) -> None:
    """Connect to each configured source and report what it found (version, auth, schema)."""
    from finops import api
    from finops.render import sources_table

    rows, failed = api.check_sources(ctx.obj.config())
    out.print(sources_table(rows))
    if failed:
        raise typer.Exit(ExitCode.DATA)


# ----------------------------------------------------------------------------- email

def _mail_lines(outcome) -> None:  # noqa: ANN001 - finops.mail.deliver.MailOutcome
    """What a batch did: sent/written on stdout, notes and failures on stderr."""
    for m in outcome.sent:
        what = "organisation summary" if m.team == "*" else f"{m.kind} {m.team}"
        out.print(f"sent {what} {m.period} to {', '.join(m.recipients)}", markup=False, highlight=False)
    for p in outcome.written:
        out.print(f"wrote {p}", markup=False, highlight=False)
    for line in outcome.skipped + outcome.notes:
        err.print(f"finops: {line}", markup=False, highlight=False)
    for f in outcome.failed:
        err.print(f"finops: error: not delivered: {f}", markup=False, highlight=False)


@app.command()
def email(ctx: typer.Context, month: MonthOpt,
          team: Annotated[str | None, typer.Option(help="Only this team (no finance summary).")] = None,
          dry_run: Annotated[bool, typer.Option("--dry-run", help="Write .eml files, send nothing.")] = False,
          out_dir: Annotated[Path | None, typer.Option("--out", "-o", help="--dry-run folder (./outbox).")] = None,
          resend: Annotated[bool, typer.Option("--resend", help="Send again to who already had it.")] = False,
          ) -> None:
    """Email each team's chargeback to its leads and the organisation summary to finance."""
    from finops import api
    from finops.windows import month_window

    if out_dir is not None and not dry_run:
        raise typer.BadParameter("only with --dry-run", param_hint="--out")
    outcome = api.email(ctx.obj.config(), month_window(month), team=team, dry_run=dry_run,
                        out_dir=out_dir, resend=resend)
    _mail_lines(outcome)
    if outcome.failed:
        names = ", ".join(sorted({f.recipient for f in outcome.failed}))
        err.print(f"finops: {len(outcome.failed)} recipient(s) not delivered: {names}", markup=False,
                  highlight=False)
        raise typer.Exit(ExitCode.DATA)


# ----------------------------------------------------------------------------- nightly

@app.command()
def nightly(ctx: typer.Context,
            on: Annotated[str | None, typer.Option("--date", help="Run as of YYYY-MM-DD (default today).")] = None,
            dry_run: Annotated[bool, typer.Option("--dry-run", help="Write emails as .eml, send none.")] = False,
            ) -> None:
    """The cron job: pull the trailing window, reconcile, report, notify, send chargebacks."""
    from finops import api
    from finops.windows import parse_day

    cfg = ctx.obj.config()
    day = parse_day(on, "--date") if on else None
    bar, update = _progress()
    if bar:
        with bar:
            result = api.nightly(cfg, day=day, dry_run=dry_run, progress=update)
    else:
        result = api.nightly(cfg, day=day, dry_run=dry_run)
    from finops.render import pull_table
    out.print(pull_table(result.pulled))
    out.print(f"reconciled {', '.join(result.months)}; {result.flags} anomaly flag(s), "
              f"{result.budget_flags} budget flag(s); reports in {result.out_dir}",
              markup=False, highlight=False)
    _mail_lines(result.mail)
    problems = []
    for s in result.pulled.failed:
        err.print(f"finops: error: {s.error}", markup=False, highlight=False)
    if result.failed_sources:
        problems.append(f"source(s) failed: {', '.join(result.failed_sources)}; the others were loaded")
    if result.mail.failed:
        problems.append(f"{len(result.mail.failed)} recipient(s) not delivered: "
                        + ", ".join(sorted({f.recipient for f in result.mail.failed})))
    for p in problems:
        err.print(f"finops: {p}", markup=False, highlight=False)
    if problems:
        raise typer.Exit(ExitCode.DATA)


# ----------------------------------------------------------------------------- demo

@app.command()
def demo(out_dir: Annotated[Path, typer.Option("--out", "-o", help="Output directory.")] = Path("demo-out"),
         seed: Annotated[int, typer.Option(help="Random seed (same seed, same month).")] = 7,
         month: Annotated[str, typer.Option("--month", "-m", help="Month to generate.")] = "2026-10") -> None:
    """Generate a realistic month, load it, reconcile it and write the HTML report."""
    from finops.demo.run import run_demo
    from finops.render import summary_table

    bar, update = _progress()
    if bar:
        with bar:
            result = run_demo(out_dir, seed=seed, month=month, progress=update)
    else:
        result = run_demo(out_dir, seed=seed, month=month)
    out.print(summary_table(result.report))
    out.print(f"\nreport: {result.html_path}")
    out.print(f"warehouse: {result.warehouse}  config: {result.config_path}")
    out.print(f"try: finops -c {result.config_path} gate --month {month}")


# ----------------------------------------------------------------------------- entry point

def main(argv: list[str] | None = None) -> None:
    """Run the CLI, mapping every outcome to a documented exit code."""
    try:
        app(args=argv, prog_name="finops")
    except SystemExit:
        raise
    except FinopsError as e:
        err.print(f"finops: error: {redact(str(e))}", markup=False, highlight=False)
        sys.exit(int(e.exit_code))
    except KeyboardInterrupt:
        err.print("finops: interrupted", markup=False)
        sys.exit(int(ExitCode.INTERRUPTED))
    except Exception as e:  # a bug: never let it read as "gate failed" (exit 1)
        err.print(f"finops: internal error: {redact(type(e).__name__ + ': ' + str(e))}",
                  markup=False, highlight=False)
        err.print(redact("".join(traceback.format_exc(limit=-8))), markup=False, highlight=False)
        sys.exit(int(ExitCode.INTERNAL))


