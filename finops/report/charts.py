"""Charts as inline SVG: no JavaScript, no external files, so a report opens anywhere offline.

Axes use nice ticks with currency labels (finops.report.axes). Labels are escaped here (team
names come from span attributes and are untrusted); the result is marked safe for the
autoescaping templates.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from markupsafe import Markup, escape

from finops.report.axes import axis_label, nice_ticks
from finops.report.words import amount

BILLED = "#2f6fdf"
ESTIMATED = "#e8833a"
TOP_TEAMS = 15  # bars in the organisation's team chart; the rest are one "others" bar


def daily_chart(series: list[tuple[date, Decimal, Decimal]], *, currency: str = "USD", width: int = 640,
                height: int = 190, title: str = "") -> Markup:
    """Daily billed (bars) and estimated (line) for one month, y axis in money."""
    if not series:
        return Markup("<p class='muted'>no daily data</p>")
    ticks = nice_ticks(max(max(b, e) for _, b, e in series))
    labels = [axis_label(v, ticks, currency) for v in ticks]
    pad_l = 14 + 6 * max(len(x) for x in labels)
    pad_b, pad_t = 22, 10
    plot_w, plot_h = width - pad_l - 8, height - pad_b - pad_t
    top = ticks[-1]
    n = len(series)
    slot = plot_w / n
    bar_w = max(1.0, slot * 0.7)

    def y(v: Decimal) -> float:
        return pad_t + plot_h - float(max(v, Decimal(0)) / top) * plot_h

    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
             f"viewBox='0 0 {width} {height}' role='img' aria-label='{escape(title)}'>"]
    for v, label in zip(ticks, labels, strict=True):
        yy = y(v)
        parts.append(f"<line x1='{pad_l}' x2='{width - 8}' y1='{yy:.1f}' y2='{yy:.1f}' stroke='#ddd'/>")
        parts.append(f"<text x='{pad_l - 4}' y='{yy + 4:.1f}' font-size='10' text-anchor='end' "
                     f"fill='#555'>{escape(label)}</text>")
    points = []
    for i, (day, billed, est) in enumerate(series):
        x = pad_l + i * slot + (slot - bar_w) / 2
        parts.append(f"<rect x='{x:.1f}' y='{y(billed):.1f}' width='{bar_w:.1f}' "
                     f"height='{pad_t + plot_h - y(billed):.1f}' fill='{BILLED}'>"
                     f"<title>{day:%d %B}: billed {escape(amount(billed, currency))}, "
                     f"estimated {escape(amount(est, currency))}</title></rect>")
        points.append(f"{x + bar_w / 2:.1f},{y(est):.1f}")
        if i == 0 or i == n - 1 or day.day % 7 == 1:
            parts.append(f"<text x='{x + bar_w / 2:.1f}' y='{height - 6}' font-size='10' "
                         f"text-anchor='middle' fill='#555'>{day.day} {day:%b}</text>")
    parts.append(f"<polyline points='{' '.join(points)}' fill='none' stroke='{ESTIMATED}' stroke-width='2'/>")
    parts.append("</svg>")
    return Markup("".join(parts))


def top_and_others(items: list[tuple[str, Decimal]], top: int = TOP_TEAMS) -> list[tuple[str, Decimal]]:
    """The ``top`` biggest items, then one ``others (N)`` item with the rest's sum."""
    head = sorted(items, key=lambda kv: -kv[1])
    rest = head[top:]
    out = head[:top]
    if rest:
        out.append((f"others ({len(rest)})", sum((v for _, v in rest), Decimal(0))))
    return out


def share_bars(items: list[tuple[str, Decimal]], *, currency: str = "USD", width: int = 640,
               top: int = TOP_TEAMS) -> Markup:
    """Horizontal bars (the ``top`` biggest items and "others"), each labelled with its amount."""
    if not items:
        return Markup("")
    items = top_and_others(items, top)
    row_h, label_w = 20, 170
    peak = max(v for _, v in items)
    height = row_h * len(items) + 4
    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
             f"viewBox='0 0 {width} {height}' role='img' aria-label='share by item'>"]
    for i, (name, v) in enumerate(items):
        yy = i * row_h + 2
        w = max(0.0, float(v / peak) * (width - label_w - 100)) if peak > 0 else 0.0
        label = escape(name if len(name) <= 26 else name[:25] + "…")
        parts.append(f"<text x='{label_w - 6}' y='{yy + 14}' font-size='11' text-anchor='end' "
                     f"fill='#222'>{label}</text>")
        parts.append(f"<rect x='{label_w}' y='{yy + 3}' width='{w:.1f}' height='{row_h - 6}' fill='{BILLED}'/>")
        parts.append(f"<text x='{label_w + w + 4:.1f}' y='{yy + 14}' font-size='11' "
                     f"fill='#222'>{escape(amount(v, currency))}</text>")
    parts.append("</svg>")
    return Markup("".join(parts))
