"""Render a :class:`Report` in a format and write report files."""

from __future__ import annotations

from pathlib import Path

from finops.errors import ConfigError
from finops.report.csvout import render_csv
from finops.report.jsonout import render_json
from finops.report.model import Report

EXTENSIONS = {"html": "html", "json": "json", "csv": "csv"}


def render_html(report: Report, *args: object, **kw: object) -> str:
    """:func:`finops.report.html.render_html` (jinja2 is imported only when HTML is written)."""
    from finops.report.html import render_html as html

    return html(report, *args, **kw)  # type: ignore[arg-type]


def render(report: Report, fmt: str, team: str | None = None) -> str:
    """The report as text in ``fmt`` (html | json | csv)."""
    if fmt == "html":
        return render_html(report, team)
    if fmt == "json":
        return render_json(report, team)
    if fmt == "csv":
        return render_csv(report, team)
    raise ConfigError(f"--format {fmt!r}: cannot be written to a file")


def write_report(report: Report, out_dir: Path, *, fmt: str = "html", team: str | None = None,
                 split_teams: bool = False) -> list[Path]:
    """Write ``chargeback-<month>[-<team>].<ext>`` into ``out_dir``; ``table`` writes all three.

    With ``split_teams`` the HTML is an index page (the organisation, each team a link) plus one
    page per team, ``chargeback-<month>-teams/<anchor>.html`` (anchors: finops.report.anchors).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    fmts = ["html", "json", "csv"] if fmt == "table" else [fmt]
    stem = f"chargeback-{report.window.label()}" + (f"-{_safe(team)}" if team else "")
    paths = []
    for f in fmts:
        path = out_dir / f"{stem}.{EXTENSIONS[f]}"
        if f == "html" and split_teams and team is None:
            paths += write_split_html(report, path)
            continue
        path.write_text(render(report, f, team), encoding="utf-8")
        paths.append(path)
    return paths


def write_split_html(report: Report, index: Path) -> list[Path]:
    """The index page at ``index`` and one page per team in the folder beside it (``<stem>-teams/``)."""
    folder = index.with_name(f"{index.stem}-teams")
    folder.mkdir(parents=True, exist_ok=True)
    index.write_text(render_html(report, team_href=f"{folder.name}/{{anchor}}.html", with_teams=False),
                     encoding="utf-8")
    paths = [index]
    for t in report.teams:
        page = folder / f"{t.anchor}.html"
        page.write_text(render_html(report, t.team, back=f"../{index.name}"), encoding="utf-8")
        paths.append(page)
    return paths


def write_report_file(report: Report, path: Path, *, fmt: str, team: str | None = None) -> list[Path]:
    """Write the report in ``fmt`` to the file ``path`` (its suffix must be the format's)."""
    if fmt not in EXTENSIONS or path.suffix.lower() != f".{EXTENSIONS[fmt]}":
        want = f"a .{EXTENSIONS[fmt]} file or a folder" if fmt in EXTENSIONS else "a folder"
        raise ConfigError(f"--out {path}: --format {fmt} writes {want}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(report, fmt, team), encoding="utf-8")
    return [path]


def _safe(name: str) -> str:
    """A file-name-safe version of a team name (team names are untrusted)."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:64] or "team"
