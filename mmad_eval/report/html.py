"""Render :class:`ReportData` to one self-contained HTML file (inline CSS, SVG and script; no network)."""
from __future__ import annotations

import json
from pathlib import Path

import jinja2
from markupsafe import Markup, escape

from ..atomic_write import write_text
from ..questions.human_scores import wilson
from ..questions.model import SUBTASK_SHORT, SUBTASKS
from . import charts, detection_charts
from .browser import script_json
from .data import ReportData
from .grounding import COLUMNS as GROUNDING_COLUMNS

_TEMPLATES = Path(__file__).parent / "templates"
SMALL_CELL = 30         # a cell of fewer questions shows its n and a 95 % Wilson interval


def _fmt(v, digits: int = 1) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def _signed(v, digits: int = 1) -> str:
    return "–" if v is None else f"{v:+.{digits}f}"


def _ci(ci) -> str:
    return "" if not ci else f"{ci[0]:.1f}–{ci[1]:.1f}"


def _p(p) -> str:
    if p is None:
        return "–"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _int(v) -> str:
    return "–" if v is None else f"{v:,}"


def _si(v) -> str:
    if v is None:
        return "–"
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= div:
            return f"{v / div:.1f}{suffix}"
    return str(v)


def _money(v) -> str:
    return "–" if v is None else f"${v:,.2f}"


def _env() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(_TEMPLATES)),
                             autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters.update(auroc=lambda v: "–" if v is None else f"{100 * v:.1f}", fmt=_fmt, signed=_signed, ci=_ci, p=_p, int=_int, si=_si, money=_money,
                       seq=charts.seq_style, div=charts.div_style, hbar=charts.hbar,
                       pretty=lambda v: json.dumps(v, indent=2, sort_keys=True, ensure_ascii=False, default=str))
    return env


def _pct(v) -> str:
    return "–" if v is None else f"{100 * v:.1f}"


def _pct_ci(ci) -> str:
    return "" if not ci else f"{100 * ci[0]:.1f}–{100 * ci[1]:.1f}"


def detection_context(data: ReportData) -> dict:
    """The ROC, reliability and coverage charts of the runs that have them (colours by model order)."""
    roc, dashed, rel, cov = [], set(), [], []
    for i, m in enumerate(data.models):
        if m.detection is not None and m.detection.roc:
            auc = m.detection.overall.auroc
            roc.append((i, f"{m.name}: AUROC {_pct(auc)}", list(zip(m.detection.roc["fpr"], m.detection.roc["tpr"]))))
            if m.detection.source == "detector score":
                dashed.add(i)
        if m.calibration is not None:
            r = m.calibration.reliability
            rel.append((i, m.name, [(c, a) for c, a in zip(r.confidence, r.accuracy) if c is not None]))
            cov.append((i, m.name, sorted(m.calibration.coverage)))
    return {"roc": detection_charts.roc_chart(roc, dashed), "reliability": detection_charts.reliability_chart(rel),
            "coverage": detection_charts.coverage_chart(cov), "pct": _pct, "pct_ci": _pct_ci}


def cell(run: str, subtask: str, scorer: str) -> Markup:
    """The attributes naming a number's run, subtask and scorer (one number per cell per scorer on a page)."""
    return Markup(f'data-run="{escape(run)}" data-subtask="{escape(subtask)}" data-scorer="{escape(scorer)}"')


def delta_cell(run: str, base: str, subtask: str, scorer: str) -> Markup:
    """The attributes of a difference (run - base) of two cells of one scorer."""
    return Markup(f'data-delta-run="{escape(run)}" data-delta-base="{escape(base)}" '
                  f'data-subtask="{escape(subtask)}" data-scorer="{escape(scorer)}"')


def small_cell(pct: float | None, n: int | None) -> Markup:
    """Below a small cell's percent: its number of questions and 95 % Wilson interval (nothing for n >= 30)."""
    if pct is None or not n or n >= SMALL_CELL:
        return Markup("")
    lo, hi = wilson(pct / 100 * n, n)
    return Markup(f'<small class="n" title="{n} questions; 95% Wilson interval">n={n}<br>{100 * lo:.0f}–{100 * hi:.0f}'
                  '</small>')


def render(data: ReportData) -> str:
    cols = list(SUBTASKS) + ["Average"]
    short = {**SUBTASK_SHORT, "Average": "Avg"}
    names = [m.name for m in data.models]
    series = [(m.name, m.strict.overall) for m in data.models]
    radar = None
    if len(series) <= charts.GROUPED_BARS_UP_TO:
        radar = charts.radar_chart([short[c] for c in SUBTASKS], [(n, {short[k]: v for k, v in s.items()})
                                                                  for n, s in series])
    ctx = dict(
        d=data, cols=cols, subtasks=list(SUBTASKS), short=short,
        bar=charts.subtask_chart(cols, series), radar=radar,
        swatches=charts.swatches(names), legend=charts.legend(), diff_legend=charts.legend(
            "div", -10, 10, "difference, points"), colour=charts.colour,
        cell=cell, delta_cell=delta_cell, small_cell=small_cell, small_n=SMALL_CELL,
        browser_json=script_json(data.browser), thumbs_json=script_json(data.thumbs.uris),
        css=(_TEMPLATES / "report.css").read_text(encoding="utf-8"),
        js=(_TEMPLATES / "browser.js").read_text(encoding="utf-8"),
        **detection_context(data),
        grounding_cols=list(GROUNDING_COLUMNS), model_index={n: i for i, n in enumerate(names)},
    )
    return _env().get_template("report.html.j2").render(**ctx)


def write_report(data: ReportData, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, render(data))
    return path
