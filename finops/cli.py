"""The ``finops`` command: thin over :mod:`finops.api`.

Each command parses its options, makes one library call, shows the result
(:mod:`finops.present`) and exits with the result's ``exit_code``. stdout is data (tables,
JSON, CSV); stderr is diagnostics. Exit codes: :class:`~finops.errors.ExitCode`.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console

import finops
from finops import api
from finops.errors import ExitCode, FinopsError, environment_error, redact
from finops.windows import Window, month_window, parse_day

if TYPE_CHECKING:
    from finops.frames import ProgressFn

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
T = TypeVar("T")


@dataclass
class Ctx:
    """Global options, resolved lazily so 'finops init' works without a config."""

    config_path: Path | None
    warehouse: str | None

    def config(self) -> api.Config:
        """Load the configuration (once per command)."""
        return api.load_config(self.config_path, warehouse=self.warehouse)


ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="Config file (default ./finops.toml).")]
WarehouseOpt = Annotated[str | None, typer.Option("--warehouse", "-w", help="DuckDB file (overrides config).")]
MonthOpt = Annotated[str, typer.Option("--month", "-m", help="Calendar month YYYY-MM (UTC).")]


@app.callback()
def _global(ctx: typer.Context, config: ConfigOpt = None, warehouse: WarehouseOpt = None) -> None:
    ctx.obj = Ctx(config, warehouse)


def _say(lines: Iterable[str], *, to: Console = out) -> None:
    for line in lines:
        to.print(line, markup=False, highlight=False)


def _exit(code: ExitCode) -> None:
    if code != ExitCode.OK:
        raise typer.Exit(int(code))


def _with_progress(call: Callable[[ProgressFn | None], T]) -> T:
    """Run ``call(progress)`` with a rich progress bar on a terminal; without one under cron."""
    if not err.is_terminal:
        return call(None)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), console=err, transient=True)
    tasks: dict[str, int] = {}

    def update(label: str, done: int, total: int | None) -> None:
        if label not in tasks:
            tasks[label] = bar.add_task(label, total=total)
        bar.update(tasks[label], completed=done, total=total)

    with bar:
        return call(update)


def _choice(value: str, allowed: Iterable[str], option: str) -> str:
    allowed = tuple(allowed)
    if value not in allowed:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(allowed)}", param_hint=option)
    return value


# ----------------------------------------------------------------------------- init

@app.command()
def init(path: Annotated[Path, typer.Argument(help="Where to write the config.")] = Path("finops.toml"),
         force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False) -> None:
    """Write a commented starter finops.toml."""
    written = api.init(path, force=force)
    err.print(f"wrote {written}: edit sources, teams and thresholds, then run 'finops pull'")


# ----------------------------------------------------------------------------- pull

@app.command()
def pull(ctx: typer.Context,
         month: Annotated[str | None, typer.Option("--month", "-m", help="Load a calendar month YYYY-MM.")] = None,
         start: Annotated[str | None, typer.Option(help="Window start YYYY-MM-DD (inclusive).")] = None,
         end: Annotated[str | None, typer.Option(help="Window end YYYY-MM-DD (exclusive).")] = None,
         source: Annotated[list[str] | None, typer.Option("--source", "-s", help="Only this source (repeatable).")] = None,
         allow_empty: Annotated[bool, typer.Option(
             "--allow-empty", help="Let a span source replace a day that had usage with none.")] = False,
         ) -> None:
    """Load span and billing sources for a window; each source's window is replaced atomically."""
    from finops.present import pull_notes, pull_problems, pull_table

    cfg = ctx.obj.config()
    if month:
        window = month_window(month)
    elif start and end:
        window = Window(parse_day(start, "--start"), parse_day(end, "--end"))
    else:
        today = cfg.run_date()
        window = Window(today - timedelta(days=cfg.provisional_days), today)
    result = _with_progress(lambda progress: api.pull(cfg, window, only=source, progress=progress,
                                                      allow_empty=allow_empty))
    out.print(pull_table(result))
    _say(pull_notes(result), to=err)
    _say(pull_problems(result), to=err)
    _exit(result.exit_code)


# ----------------------------------------------------------------------------- reconcile

@app.command()
def reconcile(ctx: typer.Context, month: MonthOpt,
              force: Annotated[bool, typer.Option(
                  "--force", help="Recompute even when no input changed since the stored results.")] = False,
              ) -> None:
    """Recompute estimated vs billed, the drift explanation and the allocation for a month.

    Unless --force, a month whose inputs (loads, price files, overrides, rules, finops version)
    are unchanged since its last reconciliation keeps its stored results.
    """
    from finops.present import summary_table

    rep = api.reconcile_window(ctx.obj.config(), month_window(month), force=force)
    _say([f"finops: {rep.results_note}"], to=err)
    out.print(summary_table(rep))


# ----------------------------------------------------------------------------- report

@app.command()
def report(ctx: typer.Context, month: MonthOpt,
           team: Annotated[str | None, typer.Option(help="Only this team.")] = None,
           fmt: Annotated[str, typer.Option("--format", "-f",
                                            help="table | html | csv | json | focus")] = "table",
           out_dir: Annotated[Path | None, typer.Option(
               "--out", "-o", help="Directory for the files (focus: a .csv or .parquet file).")] = None,
           focus_version: Annotated[str, typer.Option(
               "--focus-version", help="FOCUS version of --format focus: 1.2 | 1.3")] = "1.2",
           split_teams: Annotated[bool, typer.Option(
               "--split-teams", help="HTML: an index page plus one page per team.")] = False,
           ) -> None:
    """Chargeback report for a month: terminal table, HTML, CSV, JSON or a FOCUS file."""
    from finops.present import report_tables

    _choice(fmt, api.EXPORT_FORMATS, "--format")
    cfg = ctx.obj.config()
    window = month_window(month)
    if fmt == "table" and out_dir is None:
        rep = api.report(cfg, window, team=team)
        _say([f"finops: {rep.results_note}"], to=err)
        for t in report_tables(rep, team):
            out.print(t)
        return
    if fmt == "focus":
        finops.keep_freed_pages()  # before polars loads: the export streams batches
    result = api.export(cfg, window, fmt, team=team, out=out_dir, focus_version=focus_version,
                        split_teams=split_teams)
    _say([f"finops: {result.note}"] if result.note else [], to=err)
    if result.text is not None:
        sys.stdout.write(result.text)
    _say((f"wrote {p}" for p in result.paths), to=err)
    _exit(result.exit_code)


# ----------------------------------------------------------------------------- gate

@app.command()
def gate(ctx: typer.Context, month: MonthOpt,
         max_drift: Annotated[float | None, typer.Option("--max-drift", help="Percent; default from config (5).")] = None,
         per_provider: Annotated[bool, typer.Option("--per-provider", help="Every provider must pass too.")] = False,
         fmt: Annotated[str, typer.Option("--format", "-f", help="text | markdown | json")] = "text",
         notify: Annotated[bool, typer.Option(
             "--notify", help="Post a failure to the [[notify]] targets that take gate events (once per month).")] = False,
         dry_run: Annotated[bool, typer.Option(
             "--dry-run", help="With --notify: write the posts as .json, post nothing.")] = False,
         out_dir: Annotated[Path | None, typer.Option("--out", "-o", help="--dry-run folder (./outbox).")] = None,
         ) -> None:
    """Exit 1 when reconciliation drift exceeds the threshold; 3 when billing is missing."""
    from finops.present import gate_output, notify_lines

    _choice(fmt, ("text", "markdown", "json"), "--format")
    if max_drift is not None and max_drift < 0:
        raise typer.BadParameter("must be ≥ 0", param_hint="--max-drift")
    if dry_run and not notify:
        raise typer.BadParameter("only with --notify", param_hint="--dry-run")
    if out_dir is not None and not dry_run:
        raise typer.BadParameter("only with --dry-run", param_hint="--out")
    result = api.gate(ctx.obj.config(), month_window(month), max_drift_pct=max_drift, per_provider=per_provider,
                      notify=notify, dry_run=dry_run, out_dir=out_dir)
    _say([f"finops: {result.report.results_note}"], to=err)
    sys.stdout.write(gate_output(result, fmt))
    if result.notify is not None:
        lines, problems = notify_lines(result.notify)
        _say(lines + problems, to=err)
    _exit(result.exit_code)


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
    from finops.present import anomaly_output, anomaly_tables

    _choice(fmt, ("table", "json", "markdown"), "--format")
    day = parse_day(as_of, "--as-of") if as_of else None
    result = api.anomalies(ctx.obj.config(), as_of=day, week=week, fail_on_anomaly=fail_on_anomaly)
    if fmt == "table":
        for t in anomaly_tables(result, out.width):
            out.print(t)
    else:
        sys.stdout.write(anomaly_output(result, fmt))
    _exit(result.exit_code)


# ----------------------------------------------------------------------------- pricing

@pricing_app.command("show")
def pricing_show(ctx: typer.Context,
                 on: Annotated[str | None, typer.Option("--date", help="YYYY-MM-DD (default today, UTC).")] = None,
                 provider: Annotated[str | None, typer.Option(help="Only this provider.")] = None) -> None:
    """Print the price table in force on a date (USD per million tokens)."""
    from finops.present import price_table

    cfg = ctx.obj.config()
    day = parse_day(on, "--date") if on else cfg.run_date()
    frame = api.pricing_table(cfg, day)
    if provider:
        frame = frame.filter(frame["provider"] == provider)
    out.print(price_table(frame, day, out.width))


@pricing_app.command("check")
def pricing_check(ctx: typer.Context) -> None:
    """List every model seen in usage or billing with no price; exit 1 if there is one."""
    from finops.present import unpriced_table

    result = api.pricing_check(ctx.obj.config())
    if result.rows:
        out.print(unpriced_table(result.rows, out.width))
        err.print(f"finops: {len(result.rows)} model/token type(s) have no price: add them to pricing/")
    else:
        err.print("every model seen in usage and billing has a price")
    _exit(result.exit_code)


# ----------------------------------------------------------------------------- sources

@sources_app.command("check")
def sources_check(ctx: typer.Context) -> None:
    """Connect to each configured source and report what it found (version, auth, schema)."""
    from finops.present import sources_table

    result = api.check_sources(ctx.obj.config())
    out.print(sources_table(result.rows))
    _exit(result.exit_code)


# ----------------------------------------------------------------------------- email

@app.command()
def email(ctx: typer.Context, month: MonthOpt,
          team: Annotated[str | None, typer.Option(help="Only this team (no finance summary).")] = None,
          dry_run: Annotated[bool, typer.Option("--dry-run", help="Write .eml files, send nothing.")] = False,
          out_dir: Annotated[Path | None, typer.Option("--out", "-o", help="--dry-run folder (./outbox).")] = None,
          resend: Annotated[bool, typer.Option("--resend", help="Send again to who already had it.")] = False,
          ) -> None:
    """Email each team's chargeback to its leads and the organisation summary to finance."""
    from finops.present import mail_lines, undelivered

    if out_dir is not None and not dry_run:
        raise typer.BadParameter("only with --dry-run", param_hint="--out")
    outcome = api.email(ctx.obj.config(), month_window(month), team=team, dry_run=dry_run,
                        out_dir=out_dir, resend=resend)
    sent, problems = mail_lines(outcome)
    _say(sent)
    _say(problems + ([f"finops: {undelivered(outcome)}"] if outcome.failed else []), to=err)
    _exit(outcome.exit_code)


# ----------------------------------------------------------------------------- nightly

@app.command()
def nightly(ctx: typer.Context,
            on: Annotated[str | None, typer.Option("--date", help="Run as of YYYY-MM-DD (default today).")] = None,
            dry_run: Annotated[bool, typer.Option(
                "--dry-run", help="Write emails as .eml and posts as .json into the outbox; send nothing.")] = False,
            ) -> None:
    """The cron job: pull the trailing window, reconcile, report, notify, send chargebacks."""
    from finops.present import nightly_lines, pull_table

    cfg = ctx.obj.config()
    day = parse_day(on, "--date") if on else None
    result = _with_progress(lambda progress: api.nightly(cfg, day=day, dry_run=dry_run, progress=progress))
    out.print(pull_table(result.pulled))
    lines, problems = nightly_lines(result)
    _say(lines)
    _say(problems, to=err)
    _exit(result.exit_code)


# ----------------------------------------------------------------------------- demo

@app.command()
def demo(out_dir: Annotated[Path, typer.Option("--out", "-o", help="Output directory.")] = Path("demo-out"),
         seed: Annotated[int, typer.Option(help="Random seed (same seed, same month).")] = 7,
         month: Annotated[str, typer.Option("--month", "-m", help="Month to generate.")] = "2026-10") -> None:
    """Generate a realistic month, load it, reconcile it and write the HTML report."""
    from finops.present import pull_notes, summary_table

    result = _with_progress(lambda progress: api.run_demo(out_dir, seed=seed, month=month, progress=progress))
    _say(pull_notes(result.pulled), to=err)
    out.print(summary_table(result.report))
    out.print(f"\nreport: {result.html_path}")
    out.print(f"warehouse: {result.warehouse}  config: {result.config_path}")
    out.print(f"try: finops -c {result.config_path} gate --month {month}")


# ----------------------------------------------------------------------------- entry point

def _interrupted() -> None:
    """Ctrl-C: one line, exit 130, and no 'Exception ignored in generator' noise on the way out."""
    err.print("finops: interrupted", markup=False)
    sys.unraisablehook = lambda _: None  # generators closed during shutdown may raise again
    sys.exit(int(ExitCode.INTERRUPTED))


def _by_interrupt(e: BaseException) -> bool:
    """Whether ``e`` came from a KeyboardInterrupt (typer turns one into a silent exit 130)."""
    seen: BaseException | None = e
    for _ in range(8):
        seen = seen.__cause__ or seen.__context__ if seen is not None else None
        if isinstance(seen, KeyboardInterrupt):
            return True
    return False


def main(argv: list[str] | None = None) -> None:
    """Run the CLI, mapping every outcome to a documented exit code."""
    try:
        app(args=argv, prog_name="finops")
    except SystemExit as e:
        if e.code == int(ExitCode.INTERRUPTED) and _by_interrupt(e):
            _interrupted()
        raise
    except FinopsError as e:
        err.print(f"finops: error: {redact(str(e))}", markup=False, highlight=False)
        sys.exit(int(e.exit_code))
    except KeyboardInterrupt:
        _interrupted()
    except Exception as e:
        mapped = environment_error(e)  # an unwritable path, a full disk: the operator's to fix
        if mapped is not None:
            err.print(f"finops: error: {redact(str(mapped))}", markup=False, highlight=False)
            sys.exit(int(mapped.exit_code))
        # a bug: never let it read as "gate failed" (exit 1)
        err.print(f"finops: internal error: {redact(type(e).__name__ + ': ' + str(e))}",
                  markup=False, highlight=False)
        err.print(redact("".join(traceback.format_exc(limit=-8))), markup=False, highlight=False)
        sys.exit(int(ExitCode.INTERNAL))
