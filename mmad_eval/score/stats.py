"""Bootstrap confidence intervals, resampling query images (all questions about an image move together).

Resampling is stratified by row (dataset): each dataset keeps its number of images, as in the benchmark's
fixed design. Vectorised: one (resamples x images) weight matrix times (images x cells) count matrices.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..answers import AnswerRecord
from .cells import CellIndex, table_values
from .scorers import Scorer
from .table import COLUMNS, ScoreTable

def image_weights(index: CellIndex, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n_images) resample counts, stratified by each image's row."""
    rng = np.random.default_rng(seed)
    n_img = len(index.images)
    img_row = np.zeros(n_img, dtype=int)
    img_row[index.image] = index.row
    draws = []
    for g in np.unique(img_row):
        members = np.flatnonzero(img_row == g)
        draws.append(members[rng.integers(0, len(members), size=(n_boot, len(members)))])
    flat = np.concatenate(draws, axis=1) + (np.arange(n_boot) * n_img)[:, None]
    return np.bincount(flat.ravel(), minlength=n_boot * n_img).reshape(n_boot, n_img).astype(float)


def bootstrap_headline(index: CellIndex, exact: bool, n_boot: int = 1000, seed: int = 0,
                       weights: np.ndarray | None = None) -> np.ndarray:
    """(n_boot, 8) resampled headline rows (7 subtasks + Average)."""
    w = image_weights(index, n_boot, seed) if weights is None else weights
    c, t = index.sums(w)
    return table_values(c, t, index.present, exact)[2]


def percentile_ci(samples: np.ndarray, level: float = 0.95) -> list[tuple[float, float] | None]:
    lo, hi = (1 - level) / 2 * 100, (1 + level) / 2 * 100
    out = []
    for col in samples.T:
        col = col[~np.isnan(col)]
        out.append((float(np.percentile(col, lo)), float(np.percentile(col, hi))) if len(col) else None)
    return out


def add_bootstrap_ci(table: ScoreTable, records: Sequence[AnswerRecord], scorer: Scorer, n_boot: int = 1000,
                     seed: int = 0, level: float = 0.95) -> ScoreTable:
    """Fill ``table.ci`` (headline columns) with percentile bootstrap intervals over query images."""
    index = scorer.index(records)
    if not index.images or not index.counted.any():     # n = 0: nothing to resample
        return table
    samples = bootstrap_headline(index, scorer.exact, n_boot, seed)
    table.ci = {col: ci for col, ci in zip(COLUMNS, percentile_ci(samples, level)) if ci is not None}
    table.extra["ci"] = {"method": "percentile bootstrap over query images, stratified by dataset",
                         "resamples": n_boot, "seed": seed, "level": level}
    return table
