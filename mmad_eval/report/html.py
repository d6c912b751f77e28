"""Render :class:`ReportData` to one self-contained HTML file (inline CSS, SVG and script; no network)."""
from __future__ import annotations

import json
from pathlib import Path

import jinja2

from ..questions.model import SUBTASK_SHORT, SUBTASKS
from . import charts
from .browser import script_json
from .data import ReportData

_TEMPLATES = Path(__file__).parent / "templates"


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
    env.filters.update(fmt=_fmt, signed=_signed, ci=_ci, p=_p, int=_int, si=_si, money=_money,
                       seq=charts.seq_style, div=charts.div_style, hbar=charts.hbar,
                       pretty=lambda v: json.dumps(v, indent=2, sort_keys=True, ensure_ascii=False, default=str))
    return env


def render(data: ReportData) -> str:
    cols = list(SUBTASKS) + ["Average"]
    short = {**SUBTASK_SHORT, "Average": "Avg"}
    names = [m.name for m in data.models]
    series = [(m.name, m.compatible.overall) for m in data.models]
    ctx = dict(
        d=data, cols=cols, subtasks=list(SUBTASKS), short=short,
        bar=charts.bar_chart(cols, series), radar=charts.radar_chart([short[c] for c in SUBTASKS],
                                                                     [(n, {short[k]: v for k, v in s.items()})
                                                                      for n, s in series]),
        swatches=charts.swatches(names), legend=charts.legend(), diff_legend=charts.legend(
            "div", -10, 10, "difference, points"), colour=charts.colour,
        best=max(data.models, key=lambda m: m.compatible.overall.get("Average") or -1, default=None),
        browser_json=script_json(data.browser), thumbs_json=script_json(data.thumbs.uris),
        css=(_TEMPLATES / "report.css").read_text(encoding="utf-8"),
        js=(_TEMPLATES / "browser.js").read_text(encoding="utf-8"),
    )
    return _env().get_template("report.html.j2").render(**ctx)


def write_report(data: ReportData, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(data), encoding="utf-8")
    return path
