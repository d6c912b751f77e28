"""Run colours stay distinct up to 20 runs; many runs get a dot plot; small cells show n and a Wilson interval."""
import itertools
import math

import pytest

from mmad_eval.report import charts
from mmad_eval.report.html import SMALL_CELL, small_cell


def _lab(hex_colour: str) -> tuple[float, float, float]:
    rgb = [int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    x = (0.4124 * lin[0] + 0.3576 * lin[1] + 0.1805 * lin[2]) / 0.95047
    y = 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    z = (0.0193 * lin[0] + 0.1192 * lin[1] + 0.9505 * lin[2]) / 1.08883
    f = [t ** (1 / 3) if t > 0.008856 else 7.787 * t + 16 / 116 for t in (x, y, z)]
    return 116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])


def test_twenty_run_colours_are_pairwise_distinct():
    colours = [charts.colour(i) for i in range(20)]
    assert len(set(colours)) == 20
    closest = min(math.dist(_lab(a), _lab(b)) for a, b in itertools.combinations(colours, 2))
    assert closest >= 20, closest                       # CIELAB ΔE76; about 2.3 is just noticeable


def test_dot_plot_past_eight_runs():
    cols = ["Anomaly Detection", "Average"]
    few = [(f"r{i}", {"Anomaly Detection": 50.0 + i, "Average": 40.0}) for i in range(8)]
    many = few + [("r8", {"Anomaly Detection": 90.0, "Average": None})]
    assert "<rect" in str(charts.subtask_chart(cols, few)) and "<circle" not in str(charts.subtask_chart(cols, few))
    dots = str(charts.subtask_chart(cols, many))
    assert dots.count("<circle") == 2 * 9 - 1 and 'class="chart dots"' in dots   # no dot for an empty cell
    assert "r8 · Anomaly Detection: 90.0%" in dots


@pytest.mark.parametrize("pct,n,want", [(50.0, 10, "n=10<br>24–76"), (100.0, 4, "n=4<br>51–100"),
                                        (0.0, 7, "n=7<br>0–35")])
def test_small_cells_show_n_and_a_wilson_interval(pct, n, want):
    assert want in str(small_cell(pct, n))


def test_large_or_empty_cells_show_nothing_more():
    assert str(small_cell(50.0, SMALL_CELL)) == "" and str(small_cell(None, 5)) == "" and str(small_cell(50.0, 0)) == ""


@pytest.mark.parametrize("args", [(), ("div", -20, 20, "Δ accuracy, points")])
def test_the_legend_is_the_same_in_every_process(args):
    """Reports are reproducible: no id may come from Python's per-process randomised hash()."""
    import subprocess
    import sys

    code = f"from mmad_eval.report import charts; print(charts.legend(*{args!r}))"
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**__import__("os").environ, "PYTHONHASHSEED": seed}).stdout
            for seed in ("1", "2", "3")}
    assert len(outs) == 1 and "linearGradient id=" in outs.pop()
