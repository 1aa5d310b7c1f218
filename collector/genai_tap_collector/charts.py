"""Small inline SVG charts, drawn here so the UI needs no JavaScript and no chart library.

A chart is a list of points ``(time_ns, {series: value})``; lines or bars are
scaled to a "nice" maximum (1, 2, 2.5 or 5 times a power of ten), with four
grid lines, time labels along the bottom and a ``<title>`` on every point so
hovering shows the exact value.
"""

from __future__ import annotations

import math
import time
from html import escape
from typing import Callable, Dict, List, Optional, Sequence, Tuple

Point = Tuple[int, Dict[str, Optional[float]]]
Series = Tuple[str, str, str]  # (key in the point, label, colour)

WIDTH, HEIGHT = 560, 190
LEFT, RIGHT, TOP, BOTTOM = 52, 12, 14, 26


def nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for m in (1, 2, 2.5, 5, 10):
        if value <= m * power:
            return m * power
    return 10 * power


def _time_label(t_ns: int, span_s: float) -> str:
    fmt = "%H:%M:%S" if span_s < 600 else ("%H:%M" if span_s <= 2 * 86400 else "%b %d")
    return time.strftime(fmt, time.localtime(t_ns / 1e9))


def chart(title: str, points: Sequence[Point], series: Sequence[Series], fmt: Callable[[float], str],
          kind: str = "line", step_s: float = 60.0, integer: bool = False) -> str:
    """An SVG chart with a title and legend, as an HTML fragment."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    values = [v for _, p in points for key, _, _ in series if (v := p.get(key)) is not None]
    top = nice_max(max(values, default=0.0))
    if integer:  # counts: grid lines on whole numbers
        top = 4.0 * math.ceil(top / 4.0)
    n = max(len(points), 1)
    slot = plot_w / n

    def x(i: int) -> float:
        return LEFT + slot * (i + 0.5)

    def y(v: float) -> float:
        return TOP + plot_h - (v / top) * plot_h

    parts: List[str] = []
    for k in range(5):  # grid and y labels
        gy = TOP + plot_h * k / 4
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{gy:.1f}" y2="{gy:.1f}"/>')
        parts.append(f'<text class="axis" x="{LEFT - 6}" y="{gy + 4:.1f}" text-anchor="end">{escape(fmt(top * (4 - k) / 4))}</text>')
    if points:
        span_s = (points[-1][0] - points[0][0]) / 1e9 + step_s
        for i in sorted({0, n // 2, n - 1}):
            anchor = "start" if i == 0 and n > 1 else ("end" if i == n - 1 and n > 1 else "middle")
            parts.append(f'<text class="axis" x="{x(i):.1f}" y="{HEIGHT - 8}" text-anchor="{anchor}">'
                         f'{escape(_time_label(points[i][0], span_s))}</text>')
    for si, (key, label, colour) in enumerate(series):
        if kind == "bar":
            bar_w = max(slot / len(series) - 2, 1.5)
            for i, (t, p) in enumerate(points):
                v = p.get(key) or 0.0
                if v <= 0:
                    continue
                bx = LEFT + slot * i + 1 + si * (bar_w + 1)
                parts.append(f'<rect x="{bx:.1f}" y="{y(v):.1f}" width="{bar_w:.1f}" height="{TOP + plot_h - y(v):.1f}" '
                             f'fill="{colour}" rx="1.5"><title>{escape(label)}: {escape(fmt(v))} at '
                             f'{escape(_time_label(t, 0))}</title></rect>')
            continue
        coords = [(x(i), y(p[key])) for i, (_, p) in enumerate(points) if p.get(key) is not None]
        if not coords:
            continue
        line = " ".join(f"{cx:.1f},{cy:.1f}" for cx, cy in coords)
        if si == 0:
            base = TOP + plot_h
            area = f"{coords[0][0]:.1f},{base:.1f} {line} {coords[-1][0]:.1f},{base:.1f}"
            parts.append(f'<polygon points="{area}" fill="{colour}" opacity="0.12"/>')
        parts.append(f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="2" '
                     f'stroke-linejoin="round" stroke-linecap="round"/>')
        for i, (t, p) in enumerate(points):
            if p.get(key) is None:
                continue
            parts.append(f'<circle cx="{x(i):.1f}" cy="{y(p[key]):.1f}" r="{2.5 if n <= 30 else 1.6}" fill="{colour}">'
                         f'<title>{escape(label)}: {escape(fmt(p[key]))} at {escape(_time_label(t, 0))}</title></circle>')
    legend = "".join(
        f'<span class="key"><svg class="swatch" viewBox="0 0 10 10" aria-hidden="true"><rect width="10" height="10" rx="2" '
        f'fill="{colour}"/></svg>{escape(label)}</span>' for _, label, colour in series
    )
    svg = (f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" '
           f'preserveAspectRatio="xMidYMid meet">{"".join(parts)}</svg>')
    return f'<figure class="chart"><figcaption><b>{escape(title)}</b>{legend}</figcaption>{svg}</figure>'
