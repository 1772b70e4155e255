"""A tiny PNG chart for emails: mail clients block SVG and scripts, but show a ``cid:`` PNG.

Stdlib only (zlib + struct): an RGB canvas with rectangles and lines, no text (labels are
HTML around the image, so they stay selectable and escaped). Drawn at 2x for sharp screens.
"""

from __future__ import annotations

import struct
import zlib
from datetime import date
from decimal import Decimal

from finops.report.axes import nice_ticks

Color = tuple[int, int, int]
WHITE: Color = (255, 255, 255)
GRID: Color = (221, 221, 221)
BILLED: Color = (0x2F, 0x6F, 0xDF)
ESTIMATED: Color = (0xE8, 0x83, 0x3A)


class Canvas:
    """An RGB raster, origin top left."""

    def __init__(self, width: int, height: int, background: Color = WHITE) -> None:
        self.width, self.height = width, height
        self.pixels = bytearray(bytes(background) * (width * height))

    def rect(self, x0: int, y0: int, x1: int, y1: int, color: Color) -> None:
        """Fill ``[x0, x1) × [y0, y1)``, clipped to the canvas."""
        x0, x1 = max(0, min(x0, x1)), min(self.width, max(x0, x1))
        y0, y1 = max(0, min(y0, y1)), min(self.height, max(y0, y1))
        if x0 >= x1:
            return
        row = bytes(color) * (x1 - x0)
        for y in range(y0, y1):
            start = (y * self.width + x0) * 3
            self.pixels[start:start + len(row)] = row

    def line(self, x0: int, y0: int, x1: int, y1: int, color: Color, thickness: int = 1) -> None:
        """A straight line (Bresenham), ``thickness`` pixels wide."""
        dx, dy = abs(x1 - x0), -abs(y1 - y0)
        sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
        err = dx + dy
        half = thickness // 2
        while True:
            self.rect(x0 - half, y0 - half, x0 - half + thickness, y0 - half + thickness, color)
            if x0 == x1 and y0 == y1:
                return
            e2 = 2 * err
            if e2 >= dy:
                err += dy
                x0 += sx
            if e2 <= dx:
                err += dx
                y0 += sy

    def png(self) -> bytes:
        """The canvas as PNG bytes (8-bit RGB, no filter)."""
        stride = self.width * 3
        raw = b"".join(b"\x00" + bytes(self.pixels[y * stride:(y + 1) * stride]) for y in range(self.height))

        def chunk(tag: bytes, data: bytes) -> bytes:
            return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9))
                + chunk(b"IEND", b""))


def daily_png(series: list[tuple[date, Decimal, Decimal]], *, width: int = 600, height: int = 160,
              scale: int = 2) -> tuple[bytes, list[Decimal]]:
    """Daily billed (bars) and estimated (line) as a PNG; returns the bytes and the y-axis ticks.

    Grid lines sit at the nice ticks (finops.report.axes), evenly spaced from the bottom edge
    (0) to the top edge (the last tick), so the HTML beside the image can label them.
    ``width``/``height`` are CSS pixels; the image has ``scale`` times as many.
    """
    w, h = width * scale, height * scale
    c = Canvas(w, h)
    ticks = nice_ticks(max((max(b, e) for _, b, e in series), default=Decimal(0)))
    top = ticks[-1]
    line = max(1, scale // 2)
    plot_h = h - line
    for i in range(len(ticks)):
        y = int(plot_h * (1 - i / (len(ticks) - 1)))
        c.rect(0, y, w, y + line, GRID)
    n = max(1, len(series))
    slot = w / n
    bar_w = max(1, int(slot * 0.7))

    def yy(v: Decimal) -> int:
        return int(plot_h - float(max(v, Decimal(0)) / top) * plot_h)

    points = []
    for i, (_, billed, est) in enumerate(series):
        x = int(i * slot + (slot - bar_w) / 2)
        c.rect(x, yy(billed), x + bar_w, plot_h, BILLED)
        points.append((x + bar_w // 2, yy(est)))
    for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False):
        c.line(x0, y0, x1, y1, ESTIMATED, thickness=2 * scale)
    if len(points) == 1:
        x0, y0 = points[0]
        c.rect(x0 - 2 * scale, y0 - 2 * scale, x0 + 2 * scale, y0 + 2 * scale, ESTIMATED)
    return c.png(), ticks
