"""Charts as inline SVG: no JavaScript, no external files, so a report opens anywhere offline.

Labels are escaped here (team names come from span attributes and are untrusted); the
result is marked safe for the autoescaping templates.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from markupsafe import Markup, escape

BILLED = "#2f6fdf"
ESTIMATED = "#e8833a"


def daily_chart(series: list[tuple[date, Decimal, Decimal]], *, width: int = 640,
                height: int = 180, title: str = "") -> Markup:
    """Daily billed (bars) and estimated (line) for one month."""
    if not series:
        return Markup("<p class='muted'>no daily data</p>")
    pad_l, pad_b, pad_t = 56, 22, 10
    plot_w, plot_h = width - pad_l - 8, height - pad_b - pad_t
    top = max(max(b, e) for _, b, e in series) or Decimal(1)
    n = len(series)
    slot = plot_w / n
    bar_w = max(1.0, slot * 0.7)

    def y(v: Decimal) -> float:
        return pad_t + plot_h - float(v / top) * plot_h

    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
             f"viewBox='0 0 {width} {height}' role='img' aria-label='{escape(title)}'>"]
    for frac in (0, 0.5, 1):
        v = top * Decimal(str(frac))
        yy = y(v)
        parts.append(f"<line x1='{pad_l}' x2='{width - 8}' y1='{yy:.1f}' y2='{yy:.1f}' stroke='#ddd'/>")
        parts.append(f"<text x='{pad_l - 4}' y='{yy + 4:.1f}' font-size='10' text-anchor='end' "
                     f"fill='#555'>{v:,.0f}</text>")
    points = []
    for i, (day, billed, est) in enumerate(series):
        x = pad_l + i * slot + (slot - bar_w) / 2
        parts.append(f"<rect x='{x:.1f}' y='{y(billed):.1f}' width='{bar_w:.1f}' "
                     f"height='{pad_t + plot_h - y(billed):.1f}' fill='{BILLED}'>"
                     f"<title>{day} billed {billed:,.2f} estimated {est:,.2f}</title></rect>")
        points.append(f"{x + bar_w / 2:.1f},{y(est):.1f}")
        if i == 0 or i == n - 1 or day.day % 7 == 1:
            parts.append(f"<text x='{x + bar_w / 2:.1f}' y='{height - 6}' font-size='10' "
                         f"text-anchor='middle' fill='#555'>{day.strftime('%d')}</text>")
    parts.append(f"<polyline points='{' '.join(points)}' fill='none' stroke='{ESTIMATED}' stroke-width='2'/>")
    parts.append("</svg>")
    return Markup("".join(parts))


def share_bars(items: list[tuple[str, Decimal]], *, width: int = 640) -> Markup:
    """Horizontal bars, one per item (team, provider...), labelled with the amount."""
    if not items:
        return Markup("")
    row_h, label_w = 20, 170
    top = max(v for _, v in items) or Decimal(1)
    height = row_h * len(items) + 4
    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
             f"viewBox='0 0 {width} {height}' role='img' aria-label='share by item'>"]
    for i, (name, v) in enumerate(items):
        yy = i * row_h + 2
        w = max(0.0, float(v / top) * (width - label_w - 90)) if top > 0 else 0.0
        label = escape(name if len(name) <= 26 else name[:25] + "…")
        parts.append(f"<text x='{label_w - 6}' y='{yy + 14}' font-size='11' text-anchor='end' "
                     f"fill='#222'>{label}</text>")
        parts.append(f"<rect x='{label_w}' y='{yy + 3}' width='{w:.1f}' height='{row_h - 6}' fill='{BILLED}'/>")
        parts.append(f"<text x='{label_w + w + 4:.1f}' y='{yy + 14}' font-size='11' fill='#222'>{v:,.2f}</text>")
    parts.append("</svg>")
    return Markup("".join(parts))
