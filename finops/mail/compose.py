"""Build the emails: a team's chargeback, the organisation summary for finance, anomaly notices.

Each message is HTML with a plain-text alternative. Email clients ignore ``<style>`` blocks and
block scripts, SVG and remote images, so the HTML is table-based with its CSS inlined
(``css-inline``), bars are table cells, and the daily chart is a PNG attached inline and
referenced by ``cid:``. A team's email is built from that team's section only: no other team's
name or amount is in it. Every value is HTML-escaped (team names come from span attributes).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from functools import cache
from typing import Any

import css_inline
from jinja2 import Environment, FileSystemLoader, select_autoescape

from finops.config import EmailConfig
from finops.mail.png import daily_png
from finops.money import fmt_money as money
from finops.money import fmt_pct as pct
from finops.paths import data_dir
from finops.report.axes import axis_label
from finops.report.html import add_filters
from finops.report.model import Line, Report, TeamSection

TOP_ROWS = 8  # rows per breakdown before the rest is summed as "other"
BAR_PX = 160


@dataclass
class Draft:
    """A message ready to send, with what the sent-mail ledger needs to know about it."""

    kind: str  # chargeback | summary | anomaly
    period: str
    team: str  # "*" for the organisation summary
    message: EmailMessage
    topics: tuple[str, ...] = ()

    @property
    def recipients(self) -> list[str]:
        """The To addresses."""
        return [a.strip() for a in str(self.message["To"] or "").split(",") if a.strip()]

    @property
    def subject(self) -> str:
        """The Subject header."""
        return str(self.message["Subject"])


@cache
def environment() -> Environment:
    """Email templates: ``*.html.j2`` autoescaped, ``*.txt.j2`` plain."""
    env = Environment(loader=FileSystemLoader(str(data_dir("templates"))),
                      autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False),
                      trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["money"] = money
    env.filters["pct"] = pct
    add_filters(env)
    return env


def _render(name: str, **ctx: Any) -> str:
    return environment().get_template(name).render(**ctx)


def bars(lines: list[Line], *, top: int = TOP_ROWS) -> list[dict[str, Any]]:
    """Breakdown rows with a bar width in pixels; rows past ``top`` summed into one ``other``."""
    head = sorted(lines, key=lambda x: x.billed, reverse=True)
    rows = [(x.name, x.billed, x.estimated, x.tokens) for x in head[:top]]
    rest = head[top:]
    if rest:
        rows.append((f"other ({len(rest)})", sum((x.billed for x in rest), Decimal(0)),
                     sum((x.estimated for x in rest), Decimal(0)),
                     sum((x.tokens or 0 for x in rest), 0)))
    peak = max((r[1] for r in rows), default=Decimal(0)) or Decimal(1)
    return [{"name": n, "billed": b, "estimated": e, "tokens": t,
             "px": max(1, int(BAR_PX * max(b, Decimal(0)) / peak)) if b > 0 else 0}
            for n, b, e, t in rows]


def _subject(cfg: EmailConfig, *parts: str) -> str:
    # One line: a team name with a line break (it comes from span attributes) must not end
    # the header; any other Unicode is encoded by the email package (RFC 2047).
    text = " ".join(" ".join(p.split()) for p in parts if p)
    return f"{cfg.subject_prefix} {text}".strip()


def _envelope(cfg: EmailConfig, to: list[str], subject: str, tag: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = cfg.from_address
    msg["To"] = ", ".join(to)
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime.now(UTC))
    domain = cfg.from_address.rpartition("@")[2] or "localhost"
    msg["Message-ID"] = make_msgid(idstring=tag, domain=domain)
    if cfg.reply_to:
        msg["Reply-To"] = cfg.reply_to
    msg["Auto-Submitted"] = "auto-generated"
    return msg


def _body(msg: EmailMessage, text: str, html: str, images: dict[str, bytes]) -> EmailMessage:
    """text/plain + (text/html with inline PNGs) as multipart/alternative."""
    msg.set_content(text)
    msg.add_alternative(css_inline.inline(html), subtype="html")
    html_part = msg.get_payload()[1]
    for cid, data in images.items():
        html_part.add_related(data, "image", "png", cid=f"<{cid}>", filename=f"{cid.split('@')[0]}.png")
    return msg


def _cid(name: str, msg_domain: str) -> str:
    return f"{name}@{msg_domain}"


def _chart(series: list[tuple[date, Decimal, Decimal]], name: str, domain: str, currency: str
           ) -> tuple[dict[str, Any] | None, dict[str, bytes]]:
    """The daily PNG and what the HTML around it needs: its y-axis labels, top first, one per grid line."""
    if not series:
        return None, {}
    height = 160
    data, ticks = daily_png(series, width=540, height=height)
    cid = _cid(name, domain)
    labels = [axis_label(v, ticks, currency) for v in reversed(ticks)]
    return ({"cid": cid, "top": ticks[-1], "labels": labels, "row_px": height // (len(ticks) - 1),
             "first": series[0][0], "last": series[-1][0], "width": 540, "height": height}, {cid: data})


def report_link(report: Report, cfg: EmailConfig, team: TeamSection | None = None) -> str | None:
    """``[email] report_url`` for the report's month; a team's link goes to its own section."""
    if not cfg.report_url:
        return None
    url = cfg.report_url.replace("{month}", report.window.label())
    return f"{url}#team-{team.anchor}" if team is not None and team.anchor else url


def _safe(name: str) -> str:
    """An ASCII token for Message-ID and Content-ID (RFC 5322 allows no other characters there).

    A name that had to change gets a short hash of the original, so ``données`` and
    ``donn_es`` stay apart.
    """
    safe = "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_" for c in name)[:40] or "team"
    if safe != name:
        safe = f"{safe[:31]}-{hashlib.sha1(name.encode('utf-8')).hexdigest()[:8]}"
    return safe


def chargeback_email(report: Report, team: TeamSection, to: list[str], cfg: EmailConfig) -> Draft:
    """One team's month: its allocation, estimate, drift, breakdowns and daily chart, nothing else."""
    month = report.window.label()
    provisional = bool(report.provisional_days)
    subject = _subject(cfg, f"LLM chargeback {month} · {team.team}:",
                       f"{report.currency} {money(team.billed)}, drift {pct(team.drift_pct)}",
                       "(provisional)" if provisional else "")
    msg = _envelope(cfg, to, subject, f"chargeback.{month}.{_safe(team.team)}")
    domain = cfg.from_address.rpartition("@")[2] or "localhost"
    chart, images = _chart(team.daily, f"daily-{_safe(team.team)}", domain, report.currency)
    budgets = report.anomalies.for_team(team.team)[1] if report.anomalies else []
    ctx = {"r": report, "t": team, "month": month, "chart": chart, "provisional": provisional,
           "budgets": budgets, "link": report_link(report, cfg, team),
           "breakdowns": [("project", bars(team.by_project)), ("feature", bars(team.by_feature)),
                          ("model", bars(team.by_model))],
           "providers": bars(team.by_provider), "reply_to": cfg.reply_to}
    _body(msg, _render("email_chargeback.txt.j2", **ctx), _render("email_chargeback.html.j2", **ctx), images)
    return Draft("chargeback", month, team.team, msg)


def summary_email(report: Report, to: list[str], cfg: EmailConfig) -> Draft:
    """The organisation's month for finance: billed by provider, teams, drift explained, gate."""
    month = report.window.label()
    provisional = bool(report.provisional_days)
    subject = _subject(cfg, f"LLM spend {month} · organisation:",
                       f"{report.currency} {money(report.billed_total)}, drift {pct(report.drift_pct)}",
                       "(provisional)" if provisional else "")
    msg = _envelope(cfg, to, subject, f"summary.{month}")
    domain = cfg.from_address.rpartition("@")[2] or "localhost"
    chart, images = _chart(report.daily, "daily-org", domain, report.currency)
    team_lines = [Line(t.team, t.billed, t.estimated) for t in report.teams]
    flagged = [b for b in report.anomalies.budgets if b.flagged] if report.anomalies else []
    ctx = {"r": report, "month": month, "chart": chart, "provisional": provisional,
           "flagged_budgets": flagged, "link": report_link(report, cfg),
           "teams": bars(team_lines, top=25), "providers": bars(report.providers),
           "reply_to": cfg.reply_to}
    _body(msg, _render("email_summary.txt.j2", **ctx), _render("email_summary.html.j2", **ctx), images)
    return Draft("summary", month, "*", msg)


def anomaly_email(team: str, flags: list[Any], budgets: list[Any], as_of: date, to: list[str],
                  cfg: EmailConfig, *, currency: str = "USD", label: str = "") -> Draft:
    """A team's nightly notice: week-over-week flags (with where to look) and budget warnings."""
    kinds = sorted({f"anomaly:{f.kind}" for f in flags} | {"budget" for _ in budgets[:1]})
    what = ", ".join(k.split(":")[-1] for k in kinds)
    subject = _subject(cfg, f"LLM spend alert · {team}: {what} ({as_of})")
    msg = _envelope(cfg, to, subject, f"anomaly.{as_of}.{_safe(team)}")
    ctx = {"team": team, "flags": flags, "budgets": budgets, "as_of": as_of, "currency": currency,
           "label": label, "reply_to": cfg.reply_to}
    _body(msg, _render("email_anomaly.txt.j2", **ctx), _render("email_anomaly.html.j2", **ctx), {})
    return Draft("anomaly", as_of.isoformat(), team, msg, tuple(kinds))


def html_part(msg: EmailMessage) -> str:
    """The HTML body of a composed message."""
    part = msg.get_body(preferencelist=("html",))
    return part.get_content() if part is not None else ""
