"""Inline SVG charts of Anomaly Detection as a detector and of calibration: ROC curves, reliability
diagrams, accuracy vs coverage. One curve per model, in the model's report colour; labels escaped."""
from __future__ import annotations

from html import escape

from markupsafe import Markup

from .charts import colour

Series = list[tuple[int, str, list[tuple[float, float]]]]     # (model index, label, points in [0, 1]^2)


def _frame(size: int, xlabel: str, ylabel: str, aria: str, y_from: float = 0.0) -> tuple[list[str], callable]:
    left, top, pw = 44, 10, size - 56
    ph = pw

    def xy(x: float, y: float) -> tuple[float, float]:
        return left + pw * x, top + ph * (1 - (y - y_from) / (1 - y_from))

    out = [f'<svg class="chart detector" viewBox="0 0 {size} {size + 34}" width="{size}" role="img" '
           f'aria-label="{escape(aria)}">']
    for i in range(6):
        t = i / 5
        x, _ = xy(t, y_from)
        _, y = xy(0, y_from + t * (1 - y_from))
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{top + ph}" class="grid"/>'
                   f'<line x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
                   f'<text x="{x:.1f}" y="{top + ph + 14}" text-anchor="middle" class="tick">{t:g}</text>'
                   f'<text x="{left - 5}" y="{y + 3:.1f}" text-anchor="end" class="tick">'
                   f'{y_from + t * (1 - y_from):.2g}</text>')
    out.append(f'<text x="{left + pw / 2}" y="{top + ph + 30}" text-anchor="middle" class="axis">{escape(xlabel)}</text>'
               f'<text transform="translate(11,{top + ph / 2}) rotate(-90)" text-anchor="middle" class="axis">'
               f'{escape(ylabel)}</text>')
    return out, xy


def _curves(out: list[str], xy, series: Series, dashed: set[int] = frozenset(), markers: bool = False) -> None:
    for idx, label, pts in series:
        if not pts:
            continue
        path = " ".join(f"{'M' if i == 0 else 'L'}{x:.1f},{y:.1f}" for i, (x, y) in
                        enumerate(xy(px, py) for px, py in pts))
        dash = ' stroke-dasharray="5 3"' if idx in dashed else ""
        out.append(f'<path d="{path}" fill="none" stroke="{colour(idx)}" stroke-width="2"{dash}>'
                   f'<title>{escape(label)}</title></path>')
        if markers:
            for px, py in pts:
                x, y = xy(px, py)
                out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour(idx)}">'
                           f'<title>{escape(label)}: {px:.2f}, {py:.2f}</title></circle>')


def roc_chart(series: Series, dashed: set[int] = frozenset(), size: int = 340) -> Markup:
    """ROC curves (false positive rate vs true positive rate) with the chance diagonal; ``dashed`` marks
    detectors' curves (expert, detector:DIR) apart from the models'."""
    out, xy = _frame(size, "false positive rate (normal called defective)", "true positive rate",
                     "ROC curves of Anomaly Detection")
    (x0, y0), (x1, y1) = xy(0, 0), xy(1, 1)
    out.append(f'<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y1}" stroke="#9ca3af" stroke-dasharray="3 3"/>')
    _curves(out, xy, series, dashed)
    out.append("</svg>")
    return Markup("".join(out))


def reliability_chart(series: Series, size: int = 300) -> Markup:
    """Accuracy against mean confidence per bin; the diagonal is perfect calibration."""
    out, xy = _frame(size, "confidence", "accuracy", "reliability diagram")
    (x0, y0), (x1, y1) = xy(0, 0), xy(1, 1)
    out.append(f'<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y1}" stroke="#9ca3af" stroke-dasharray="3 3"/>')
    _curves(out, xy, series, markers=True)
    out.append("</svg>")
    return Markup("".join(out))


def coverage_chart(series: Series, size: int = 300) -> Markup:
    """Accuracy of the answers kept against the fraction kept (least confident withheld first)."""
    out, xy = _frame(size, "coverage (answers kept)", "accuracy", "accuracy against coverage")
    _curves(out, xy, series, markers=True)
    out.append("</svg>")
    return Markup("".join(out))
