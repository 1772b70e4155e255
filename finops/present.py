"""What the CLI shows: rich tables, the gate's text/markdown/json, and the lines a run prints.

Only the CLI imports this module; the library never prints. It reads the result objects of
:mod:`finops.api` and nothing below it.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.table import Table

from finops.money import fmt_money as _m
from finops.money import fmt_pct as _p

if TYPE_CHECKING:  # the results' types only: a command imports just the parts of the library it runs
    import polars as pl

    from finops.api import AnomalyReport, GateResult, MailOutcome, NightlyResult, NotifyOutcome, PullResult, Report


def fit_table(title: str, columns: list[tuple[str, bool]], rows: list[list[str]], *, width: int | None = None,
              optional: tuple[str, ...] = ()) -> Table:
    """A table that never truncates a number.

    ``columns`` are (header, numeric). Numeric columns keep their widest cell on one line;
    text wraps instead of being cut with ``…``. When ``width`` (the terminal's) cannot hold the
    numbers, the ``optional`` columns are left out in order, and the caption says which.
    """
    keep = list(range(len(columns)))

    def need(idx: list[int]) -> int:
        total = 1
        for i in idx:
            cells = [len(r[i]) for r in rows] or [1]
            word = max(len(w) for w in columns[i][0].replace("_", " ").split() or [""])  # a header word never breaks
            total += 3 + max(word, max(cells) if columns[i][1] else min(max(cells), 10))
        return total

    dropped = []
    for name in optional:
        if width is None or need(keep) <= width:
            break
        i = next((k for k in keep if columns[k][0].strip() == name), None)
        if i is not None:
            keep.remove(i)
            dropped.append(name)
    t = Table(title=title, title_justify="left")
    for i in keep:
        head, numeric = columns[i]
        head = head.replace("_", " ")  # headers wrap at spaces; cells keep their width
        if numeric:
            t.add_column(head, justify="right", min_width=max([len(r[i]) for r in rows] or [1]))
        else:
            t.add_column(head, overflow="fold")
    for r in rows:
        t.add_row(*[r[i] for i in keep])
    if dropped:
        t.caption = f"left out at {width} columns: {', '.join(dropped)} (a wider terminal shows them)"
    return t


def pull_problems(result: PullResult) -> list[str]:
    """Stderr lines: each source's notes (never silent), then the sources that failed."""
    lines = [f"finops: note: {note}" for s in result.sources for note in s.notes]
    if not result.failed:
        return lines
    names = ", ".join(s.name for s in result.failed)
    return (lines + [f"finops: error: {s.error}" for s in result.failed]
            + [f"finops: {len(result.failed)} source(s) failed: {names}; the others were loaded"])


def pull_notes(result: PullResult) -> list[str]:
    """Stderr lines for what each source said while pulling (fallbacks, skipped input, ...)."""
    return [f"finops: note: {s.name}: {n}" for s in result.sources for n in s.notes]


def mail_lines(outcome: MailOutcome) -> tuple[list[str], list[str]]:
    """What a batch of mail did: (stdout lines: sent, written; stderr lines: notes, failures)."""
    out = []
    for m in outcome.sent:
        what = "organisation summary" if m.team == "*" else f"{m.kind} {m.team}"
        out.append(f"sent {what} {m.period} to {', '.join(m.recipients)}")
    out += [f"wrote {p}" for p in outcome.written]
    err = [f"finops: {line}" for line in outcome.skipped + outcome.notes]
    err += [f"finops: error: not delivered: {f}" for f in outcome.failed]
    return out, err


def undelivered(outcome: MailOutcome) -> str:
    """``3 recipient(s) not delivered: a@x, b@y``."""
    names = ", ".join(sorted({f.recipient for f in outcome.failed}))
    return f"{len(outcome.failed)} recipient(s) not delivered: {names}"


def notify_lines(outcome: NotifyOutcome) -> tuple[list[str], list[str]]:
    """One line per ``[[notify]]`` target saying what it got; (those lines, problem lines)."""
    lines = []
    for t in outcome.targets:
        parts = []
        if t.posted:
            parts.append("posted " + ", ".join(e.label() for e in t.posted))
        if t.written:
            parts.append("wrote " + ", ".join(str(p) for p in t.written))
        if t.skipped:
            parts.append("already posted, not again: " + ", ".join(e.label() for e in t.skipped))
        if t.failed:
            parts.append(f"{len(t.failed)} not posted")
        lines.append(f"notify {t.name} ({t.kind}): " + ("; ".join(parts) or "nothing to post"))
    problems = [f"finops: {n}" for n in outcome.notes]
    problems += [f"finops: error: {line}" for t in outcome.targets for line in t.failed]
    if outcome.failed:
        problems.append(f"finops: notify target(s) not posted: {', '.join(outcome.failed)}")
    return lines, problems


def nightly_lines(result: NightlyResult) -> tuple[list[str], list[str]]:
    """What the night did: (stdout lines, stderr lines), after its pull table."""
    out = [f"reconciled {', '.join(result.months)}; {result.flags} anomaly flag(s), "
           f"{result.budget_flags} budget flag(s); reports in {result.out_dir}"]
    sent, err = mail_lines(result.mail)
    err += [f"finops: error: {n}" if n == result.held_back else f"finops: {n}" for n in result.notes]
    posted, problems = notify_lines(result.notify)
    sent += posted
    err += problems
    err += [f"finops: error: {s.error}" for s in result.pulled.failed]
    if result.failed_sources:
        err.append(f"finops: source(s) failed: {', '.join(result.failed_sources)}; the others were loaded")
    if result.mail.failed:
        err.append(f"finops: {undelivered(result.mail)}")
    return out + sent, err


def pull_table(result: PullResult) -> Table:
    """One row per source: rows loaded or the error."""
    t = Table(title=f"pull {result.window}", title_justify="left")
    for c in ("source", "kind", "rows", "status"):
        t.add_column(c, justify="right" if c == "rows" else "left")
    for s in result.sources:
        status = "[red]failed[/red]" if s.error else "ok"
        extra = ", ".join(f"{k}={v}" for k, v in s.stats.items() if v)
        t.add_row(s.name, s.kind, f"{s.rows:,}", status + (f" ({extra})" if extra and not s.error else ""))
    return t


def summary_table(rep: Report) -> Table:
    """Org summary: providers, totals, drift and gate."""
    t = Table(title=f"finops {rep.window.label()} — {rep.currency}", title_justify="left")
    for c in ("provider", "billed", "estimated", "drift"):
        t.add_column(c, justify="left" if c == "provider" else "right")
    for p in rep.providers:
        t.add_row(p.name, _m(p.billed), _m(p.estimated), _p(p.drift_pct))
    t.add_section()
    t.add_row("[b]total[/b]", f"[b]{_m(rep.billed_total)}[/b]", _m(rep.estimated_total),
              _p(rep.drift_pct))
    gate = "[green]pass[/green]" if rep.gate_passed else "[red]fail[/red]"
    t.caption = (f"gate at ±{rep.max_drift_pct} %: {gate} · {unattributed_words(rep)}"
                 + (f" · provisional days: {len(rep.provisional_days)}" if rep.provisional_days else "")
                 + (f" · billing missing for {', '.join(rep.billing_gaps)}" if rep.billing_gaps else ""))
    return t


def unattributed_words(rep: Report) -> str:
    """The unattributed total and what it is made of, in words."""
    parts = rep.unattributed_parts
    said = [f"{_m(v)} {label}" for k, label in (("no_spans", "billed with no spans and no account rule"),
                                                 ("no_team", "on spans without team.id"),
                                                 ("credit", "credits"))
            if (v := parts[k])]
    return f"unattributed {_m(rep.unattributed)}" + (f" ({'; '.join(said)})" if len(said) > 1 else "")


def report_tables(rep: Report, team: str | None = None) -> list[Table]:
    """The terminal report: summary, teams, explanation, unpriced models."""
    tables = [] if team else [summary_table(rep)]
    t = Table(title="chargeback by team", title_justify="left")
    for c in ("team", "billed", "estimated", "drift", "share"):
        t.add_column(c, justify="left" if c == "team" else "right")
    total = rep.billed_total or Decimal(1)
    for s in rep.teams:
        if team and s.team != team:
            continue
        t.add_row(s.team, _m(s.billed), _m(s.estimated), _p(s.drift_pct),
                  f"{s.billed / total * 100:.1f} %")
    tables.append(t)
    if team:
        sec = rep.team(team)
        if sec:
            for label, lines in (("project", sec.by_project), ("feature", sec.by_feature),
                                 ("model", sec.by_model)):
                b = Table(title=f"{team} by {label}", title_justify="left")
                for c in (label, "billed", "estimated", "tokens"):
                    b.add_column(c, justify="left" if c == label else "right")
                for x in lines:
                    b.add_row(x.name, _m(x.billed), _m(x.estimated), f"{x.tokens or 0:,}")
                tables.append(b)
        return tables
    e = Table(title="drift explained (estimated − billed)", title_justify="left")
    e.add_column("part")
    e.add_column("amount", justify="right")
    e.add_column("what")
    words = {p.part: p.text for p in rep.drift_parts}
    for k, v in rep.explanation.items():
        e.add_row(k, _m(v), escape(words.get(k, "")))
    e.caption = escape(rep.drift_summary)
    tables.append(e)
    if rep.unattributed_sources:
        tables.append(unattributed_table(rep))
    if rep.unpriced:
        tables.append(unpriced_table(rep.unpriced))
    return tables


def unattributed_table(rep: Report) -> Table:
    """Where the unattributed money came from, and the rule that would assign it."""
    t = Table(title="unattributed: where it came from", title_justify="left")
    for c in ("reason", "provider", "account", "model", "amount", "fix"):
        t.add_column(c, justify="right" if c == "amount" else "left")
    for r in rep.unattributed_sources:
        fix = {"no_spans": r["rule"], "no_team": "set team.id on the service's spans",
               "credit": "credits follow the provider's positive allocation"}[r["reason"]]
        t.add_row(*(escape(x) for x in (r["reason"], r["provider"], r["account"] or "(no account)",
                                        r["model"], _m(r["amount"]), fix)))
    return t


def unpriced_table(rows: list[dict[str, Any]], width: int | None = None) -> Table:
    """Models with tokens and no price (never costed as 0)."""
    cols = [c for c in ("provider", "model", "service_tier", "token_type", "tokens", "billed_tokens", "first_day",
                        "last_day", "seen_in") if c in rows[0]]
    counts = ("tokens", "billed_tokens")
    cells = [[f"{r[c]:,}" if c in counts else str(r[c]) for c in cols] for r in rows]
    heads = [("span tokens" if c == "tokens" and "billed_tokens" in cols else c, c in counts) for c in cols]
    return fit_table("unpriced models (tokens with no price in force)", heads,
                     cells, width=width, optional=("seen_in", "first_day", "service_tier", "last_day"))


def price_table(frame: pl.DataFrame, day: date, width: int | None = None) -> Table:
    """Prices in force on ``day``, USD per million tokens."""
    cells = [["" if v is None else (f"{v.normalize():f}" if isinstance(v, Decimal) else str(v)) for v in row]
             for row in frame.iter_rows()]
    return fit_table(f"list prices in force on {day} (USD per 1M tokens)",
                     [(c, frame[c].dtype.is_numeric()) for c in frame.columns], cells, width=width,
                     optional=("checked", "match_kind", "effective_from", "model_match", "cache_write_1h"))


def sources_table(rows: list[dict[str, str]]) -> Table:
    """``finops sources check``: one row per source and finding."""
    t = Table(title="sources", title_justify="left")
    for c in ("source", "kind", "check", "result"):
        t.add_column(c)
    for r in rows:
        t.add_row(r["source"], r["kind"], r["check"], r["result"])
    return t


def gate_output(result: GateResult, fmt: str) -> str:
    """The gate verdict as text, markdown (CI job summary) or JSON."""
    window = result.window.label()
    status = "PASS" if result.passed else ("BILLING MISSING" if result.billing_missing else "FAIL")
    # The headline names what failed, and a pass never sits above a provider shown as failed.
    why = "; ".join(result.failures) if not result.passed and not result.billing_missing else ""
    aside = (f"{', '.join(result.not_gated)} outside ±{result.max_drift_pct} % (not gated: --per-provider)"
             if result.not_gated else "")

    def mark(r: dict[str, Any]) -> str:
        return "✅" if r["passed"] else ("❌" if result.per_provider_gated else "⚠️ not gated")
    drift = "n/a" if result.drift_pct is None else f"{result.drift_pct:+.2f} %"
    prov = (f"provisional days (may still be restated): {len(result.provisional_days)}"
            if result.provisional_days else "")
    missing = "; ".join(
        f"{p}: {', '.join(d.isoformat() for d in days)}" if p != "*"
        else f"no billing loaded for {window}" for p, days in result.billing_missing.items())
    if fmt == "json":
        return json.dumps(result.as_dict(), indent=2) + "\n"
    if fmt == "markdown":
        head = f"### finops gate {window}: **{status}**" + (f": {why}" if why else "")
        lines = [head, "",
                 f"Drift {drift} against ±{result.max_drift_pct} % "
                 f"(billed {_m(result.report.billed_total)}, estimated {_m(result.report.estimated_total)}).",
                 "", f"Drift explained: {result.report.drift_summary}.",
                 "", "| provider | billed | estimated | drift | |", "|---|---:|---:|---:|---|"]
        for r in result.per_provider:
            lines.append(f"| {r['provider']} | {_m(r['billed'])} | {_m(r['estimated'])} | "
                         f"{_p(r['drift_pct'])} | {mark(r)} |")
        if aside:
            lines += ["", f"_⚠️ {aside}_"]
        if missing:
            lines += ["", f"Billing missing (fail closed): {missing}"]
        if prov:
            lines += ["", f"_{prov}_"]
        return "\n".join(lines) + "\n"
    lines = [f"finops gate {window}: {status}" + (f" ({why})" if why else "")
             + f" — drift {drift} (threshold ±{result.max_drift_pct} %)",
             f"  explained: {result.report.drift_summary}"]
    for r in result.per_provider:
        lines.append(f"  {r['provider']:<12} billed {_m(r['billed']):>14}  estimated "
                     f"{_m(r['estimated']):>14}  drift {_p(r['drift_pct']):>10}"
                     + ("" if r["passed"] else ("  FAIL" if result.per_provider_gated else "  outside (not gated)")))
    if aside:
        lines.append(f"  {aside}")
    if missing:
        lines.append(f"  billing missing (fail closed): {missing}")
    if prov:
        lines.append(f"  {prov}")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- anomalies

def _ratio(v: Decimal | None) -> str:
    return "—" if v is None else f"×{v}"


def _cell(v: object) -> str:
    """A markdown table cell: ``|`` escaped (team names come from span attributes)."""
    return str(v).replace("|", "\\|")


def anomaly_tables(rep: AnomalyReport, width: int | None = None) -> list[Table]:
    """``finops anomalies``: every team's two windows, where to look per flag, budgets."""
    cur, prior = rep.current, rep.prior
    last = date.fromordinal(cur.window_end.toordinal() - 1)
    plast = date.fromordinal(prior.window_end.toordinal() - 1)
    rows = []
    for w in rep.teams:
        flag = {"up": "[red]up[/red]", "new": "[red]new[/red]", "drop": "[yellow]drop[/yellow]"}.get(
            w.kind or "", "below floor" if w.below_floor else "")
        rows.append([w.team, flag, f"{w.prior_output_tokens:,}", f"{w.current_output_tokens:,}",
                     _m(w.prior_cost), _m(w.current_cost), _ratio(w.ratio), str(w.threshold)])
    t = fit_table(f"anomalies {rep.label}: {prior.window_start}..{plast} → {cur.window_start}..{last} (UTC)",
                  [(c, c not in ("team", "flag")) for c in ("team", "flag", "output tokens before", "after",
                                                             "cost before", "after ", "ratio", "threshold")],
                  rows, width=width, optional=("threshold",))
    left_out = f"{t.caption} · " if t.caption else ""
    t.caption = (f"{left_out}cost: estimated from span usage (tokens × contracted price), {rep.currency} · floor "
                 f"{rep.min_output_tokens:,} output tokens or {_m(rep.min_cost_usd)} a week"
                 + "".join(f" · {n}" for n in rep.notes))
    tables = [t]
    for f in rep.flags:
        heads = ("feature", "model", "project", "requests before", "after", "output tokens before",
                 "after ", "cost before", "after  ", "driver")
        rows = [[c.feature, c.model, c.project, f"{c.prior_requests:,}", f"{c.current_requests:,}",
                 f"{c.prior_output_tokens:,}", f"{c.current_output_tokens:,}", _m(c.prior_cost),
                 _m(c.current_cost), c.driver] for c in f.contributors]
        tables.append(fit_table(f.message, [(h, h not in ("feature", "model", "project", "driver")) for h in heads],
                                rows, width=width, optional=("project", "requests before", "after")))
    if rep.budgets:
        rows = []
        for s in rep.budgets:
            status = ("[red]" + (f"{s.early_pct:g} % before mid-month" if s.early else "projected over")
                      + "[/red]") if s.flagged else "on track"
            rows.append([s.team, _m(s.budget), _m(s.spent), f"{s.pct_used} %", _m(s.projected),
                         f"{s.projected_pct} %", ", ".join(f"{x:g} %" for x in s.thresholds_reached) or "—",
                         status])
        heads = ("team", "budget", "spent", "used", "projected", "projected %", "reached", "status")
        b = fit_table(f"budgets as of {rep.budgets[0].as_of}",
                      [(h, h not in ("team", "reached", "status")) for h in heads], rows, width=width,
                      optional=("reached", "projected %"))
        b.caption = (f"{b.caption} · " if b.caption else "") + (
            "spent = billed (allocated) on settled days + span estimate on provisional days; "
            "projected = spent × days in month / days elapsed")
        tables.append(b)
    return tables


def anomaly_output(rep: AnomalyReport, fmt: str) -> str:
    """``finops anomalies --format json | markdown``."""
    if fmt == "json":
        return json.dumps(rep.as_dict(), indent=2) + "\n"
    cur, prior = rep.current, rep.prior
    lines = [f"## finops anomalies {rep.label}", "",
             f"Current {cur.window_start}..{cur.window_end} vs prior "
             f"{prior.window_start}..{prior.window_end} "
             "(UTC, end exclusive); cost estimated from span usage.", ""]
    if rep.flags:
        lines += ["| team | flag | output tokens | cost | ratio | threshold |",
                  "| --- | --- | ---: | ---: | ---: | ---: |"]
        for f in rep.flags:
            lines.append(f"| {_cell(f.team)} | {f.kind} | {f.prior_output_tokens:,} → {f.current_output_tokens:,} | "
                         f"{_m(f.prior_cost)} → {_m(f.current_cost)} | {_ratio(f.ratio)} | {f.threshold} |")
        lines.append("")
        lines += [f"- {f.message}" for f in rep.flags]
    else:
        lines.append("No team flagged.")
    if rep.budgets:
        lines += ["", "| team | budget | spent | used | projected | status |",
                  "| --- | ---: | ---: | ---: | ---: | --- |"]
        for s in rep.budgets:
            status = ("**" + (f"{s.early_pct:g} % before mid-month" if s.early else "projected over") + "**"
                      ) if s.flagged else "on track"
            lines.append(f"| {_cell(s.team)} | {_m(s.budget)} | {_m(s.spent)} | {s.pct_used} % | "
                         f"{_m(s.projected)} ({s.projected_pct} %) | {status} |")
        lines += [""] + [f"- {s.message}" for s in rep.budgets if s.flagged]
    lines += [f"\n_{n}_" for n in rep.notes]
    return "\n".join(lines) + "\n"
