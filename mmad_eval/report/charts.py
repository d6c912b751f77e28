"""Inline SVG charts and colour scales. Every label is escaped; the output is plain markup, no scripts."""
from __future__ import annotations

import math
import zlib
from html import escape

from markupsafe import Markup

# 20 run colours, pairwise at least 20 apart in CIELAB (ΔE76; tests/report/test_charts.py checks it)
PALETTE = ("#2f6db5", "#e07b39", "#3a9a6a", "#b8476a", "#7a5cb0", "#8c6d46", "#3aa6b9", "#a6a13a",
           "#596273", "#d45d5d", "#f2c12e", "#1b2f66", "#8fd16a", "#e68fc4", "#5c1f0c", "#00c2a8",
           "#c45ad6", "#9aa7b8", "#3d5229", "#ff9e80")
GROUPED_BARS_UP_TO = 8      # more runs than this: a dot plot instead of grouped bars, and no radar
# sequential scale for accuracy (light yellow -> teal -> deep blue), perceptually ordered
_SEQ = ((255, 255, 217), (199, 233, 180), (127, 205, 187), (65, 182, 196), (29, 145, 192),
        (34, 94, 168), (12, 44, 132))
# diverging scale for differences (red -> white -> blue)
_DIV = ((178, 24, 43), (239, 138, 98), (253, 219, 199), (247, 247, 247), (209, 229, 240),
        (103, 169, 207), (33, 102, 172))


def colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _lerp(stops, t: float) -> tuple[int, int, int]:
    t = min(1.0, max(0.0, t)) * (len(stops) - 1)
    i = min(int(t), len(stops) - 2)
    f = t - i
    return tuple(round(a + (b - a) * f) for a, b in zip(stops[i], stops[i + 1]))


def _css(rgb) -> str:
    return "#%02x%02x%02x" % rgb


def _ink(rgb) -> str:
    lum = 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2]
    return "#111" if lum > 140 else "#fff"


def seq_style(value: float | None, lo: float = 30.0, hi: float = 100.0) -> str:
    """Inline style for a heatmap cell holding an accuracy (empty cells grey; at or below ``lo`` palest)."""
    if value is None:
        return "background:#f1f1f1;color:#999"
    rgb = _lerp(_SEQ, (value - lo) / ((hi - lo) or 1))
    return f"background:{_css(rgb)};color:{_ink(rgb)}"


def div_style(value: float | None, span: float = 10.0) -> str:
    """Inline style for a difference in points (negative red, positive blue)."""
    if value is None:
        return ""
    rgb = _lerp(_DIV, 0.5 + value / (2 * span))
    return f"background:{_css(rgb)};color:{_ink(rgb)}"


def legend(kind: str = "seq", lo: float = 30, hi: float = 100, label: str = "accuracy, %",
           width: int = 240) -> Markup:
    """A horizontal colour bar with end labels."""
    stops = _SEQ if kind == "seq" else _DIV
    grad = "".join(f'<stop offset="{i / (len(stops) - 1):.3f}" stop-color="{_css(c)}"/>'
                   for i, c in enumerate(stops))
    gid = f"g{kind}{zlib.crc32(repr((lo, hi, label)).encode()):08x}"     # same id in every process
    mid = (lo + hi) / 2
    return Markup(
        f'<svg class="legend" width="{width + 160}" height="34" role="img" aria-label="colour scale">'
        f'<defs><linearGradient id="{gid}">{grad}</linearGradient></defs>'
        f'<rect x="10" y="2" width="{width}" height="12" rx="2" fill="url(#{gid})" stroke="#ccc"/>'
        f'<text x="10" y="28" font-size="10">{lo:g}</text>'
        f'<text x="{10 + width / 2}" y="28" font-size="10" text-anchor="middle">{mid:g}</text>'
        f'<text x="{10 + width}" y="28" font-size="10" text-anchor="end">{hi:g}</text>'
        f'<text x="{width + 16}" y="12" font-size="11">{escape(label)}</text></svg>')


def bar_chart(columns: list[str], series: list[tuple[str, dict[str, float | None]]],
              width: int = 860, height: int = 280) -> Markup:
    """Grouped bars: one group per column (subtask), one bar per series (model); y axis 0-100 %."""
    left, right, top, bottom = 40, 10, 12, 46
    pw, ph = width - left - right, height - top - bottom
    n = max(1, len(series))
    gw = pw / max(1, len(columns))
    bw = min(22.0, (gw * 0.8) / n)
    out = [f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" role="img" '
           f'aria-label="accuracy per subtask">']
    for v in range(0, 101, 20):
        y = top + ph * (1 - v / 100)
        out.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
                   f'<text x="{left - 6}" y="{y + 3:.1f}" text-anchor="end" class="tick">{v}</text>')
    for ci, col in enumerate(columns):
        gx = left + gw * ci + (gw - bw * n) / 2
        for si, (name, vals) in enumerate(series):
            v = vals.get(col)
            if v is None:
                continue
            h = ph * max(0.0, min(100.0, v)) / 100
            x, y = gx + si * bw, top + ph - h
            out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bw - 2:.1f}" height="{h:.1f}" '
                       f'fill="{colour(si)}"><title>{escape(name)} · {escape(col)}: {v:.1f}%</title></rect>')
        label = escape(col if len(col) < 14 else col.replace(" ", "\n"))
        lines = label.split("\n")
        for li, line in enumerate(lines):
            out.append(f'<text x="{left + gw * ci + gw / 2:.1f}" y="{top + ph + 15 + 12 * li}" '
                       f'text-anchor="middle" class="axis">{line}</text>')
    out.append("</svg>")
    return Markup("".join(out))


def dot_chart(columns: list[str], series: list[tuple[str, dict[str, float | None]]],
              width: int = 860, row_h: int = 26) -> Markup:
    """One row per column (subtask), one dot per series (run) on a 0-100 % axis: readable for many runs."""
    left, right, top = 150, 16, 22
    pw = width - left - right
    height = top + row_h * len(columns) + 8
    out = [f'<svg class="chart dots" viewBox="0 0 {width} {height}" width="100%" role="img" '
           f'aria-label="accuracy per subtask, one dot per run">']
    for v in range(0, 101, 20):
        x = left + pw * v / 100
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top - 6}" y2="{height - 6}" class="grid"/>'
                   f'<text x="{x:.1f}" y="{top - 10}" text-anchor="middle" class="tick">{v}</text>')
    for ci, col in enumerate(columns):
        y = top + row_h * ci + row_h / 2
        out.append(f'<text x="{left - 8}" y="{y + 4:.1f}" text-anchor="end" class="axis">{escape(col)}</text>'
                   f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        for si, (name, vals) in enumerate(series):
            v = vals.get(col)
            if v is None:
                continue
            x = left + pw * max(0.0, min(100.0, v)) / 100
            out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="{colour(si)}" fill-opacity="0.85" '
                       f'stroke="#fff"><title>{escape(name)} · {escape(col)}: {v:.1f}%</title></circle>')
    out.append("</svg>")
    return Markup("".join(out))


def subtask_chart(columns: list[str], series: list[tuple[str, dict[str, float | None]]]) -> Markup:
    """Grouped bars up to :data:`GROUPED_BARS_UP_TO` runs, a dot plot past that."""
    return (bar_chart if len(series) <= GROUPED_BARS_UP_TO else dot_chart)(columns, series)


def radar_chart(columns: list[str], series: list[tuple[str, dict[str, float | None]]],
                size: int = 360) -> Markup:
    """One polygon per series over the columns, radius 0-100 %."""
    cx = cy = size / 2
    r = size / 2 - 58
    k = max(1, len(columns))

    def pt(i: int, v: float) -> tuple[float, float]:
        a = -math.pi / 2 + 2 * math.pi * i / k
        return cx + r * v / 100 * math.cos(a), cy + r * v / 100 * math.sin(a)

    out = [f'<svg class="chart radar" viewBox="0 0 {size} {size}" width="{size}" role="img" '
           f'aria-label="radar chart of subtask accuracy">']
    for ring in (20, 40, 60, 80, 100):
        pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in (pt(i, ring) for i in range(k)))
        out.append(f'<polygon points="{pts}" class="ring"/>')
    for i, col in enumerate(columns):
        x, y = pt(i, 100)
        lx, ly = pt(i, 122)
        anchor = "middle" if abs(lx - cx) < 8 else ("start" if lx > cx else "end")
        out.append(f'<line x1="{cx}" y1="{cy}" x2="{x:.1f}" y2="{y:.1f}" class="spoke"/>'
                   f'<text x="{lx:.1f}" y="{ly + 4:.1f}" text-anchor="{anchor}" class="axis">'
                   f'{escape(col)}</text>')
    for si, (name, vals) in enumerate(series):
        pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in (pt(i, vals.get(c) or 0.0) for i, c in enumerate(columns)))
        c = colour(si)
        out.append(f'<polygon points="{pts}" fill="{c}" fill-opacity="0.05" stroke="{c}" stroke-width="2">'
                   f'<title>{escape(name)}</title></polygon>')
    out.append("</svg>")
    return Markup("".join(out))


def swatches(names: list[str]) -> Markup:
    """The model colour key used by the charts."""
    return Markup("".join(f'<span class="swatch"><i style="background:{colour(i)}"></i>{escape(n)}</span>'
                          for i, n in enumerate(names)))


def hbar(value: float | None, hi: float = 100.0, colour_: str = "#b8476a", width: int = 120) -> Markup:
    """A small inline horizontal bar (for overkill/miss rates)."""
    if value is None:
        return Markup("")
    w = width * max(0.0, min(hi, value)) / hi
    return Markup(f'<svg width="{width}" height="10" class="hbar"><rect width="{width}" height="10" '
                  f'fill="#eee"/><rect width="{w:.1f}" height="10" fill="{colour_}"/></svg>')
