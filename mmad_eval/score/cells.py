"""Shared arithmetic of every score table: per-(dataset, cell) correct/total sums and the table built from them.

Cells per dataset: the seven subtasks (0-6) plus Anomaly Detection split into normal (7) and defective (8)
queries. All functions work on arrays with any leading shape, so one code path gives the point estimate
and every bootstrap resample.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from ..questions.model import SUBTASKS
from ..answers import AnswerRecord
from .table import COLUMNS, ScoreTable

AD_NORMAL, AD_DEFECT = 7, 8
N_CELLS = 9


@dataclass
class CellIndex:
    """Per-record positions: which row, which cell, which query image; and which records count."""

    rows: list[str]              # row names in order of first appearance
    present: np.ndarray          # (7,) bool: subtask occurs anywhere in the input (exact-mode columns)
    row: np.ndarray              # (n,) row index per record
    col: np.ndarray              # (n,) subtask index per record
    side: np.ndarray             # (n,) AD_NORMAL / AD_DEFECT for AD records, -1 otherwise
    image: np.ndarray            # (n,) query-image index per record
    images: list[str]            # image keys
    counted: np.ndarray          # (n,) bool: record is in the denominator
    correct: np.ndarray          # (n,) bool

    def per_image(self) -> tuple[np.ndarray, np.ndarray]:
        """(n_images, rows*cells) correct and total counts: the unit a bootstrap resamples."""
        n_img, width = len(self.images), len(self.rows) * N_CELLS
        c = np.zeros((n_img, width))
        t = np.zeros((n_img, width))
        w = self.counted.astype(float)
        ok = (self.counted & self.correct).astype(float)
        for cells in (self.row * N_CELLS + self.col,
                      np.where(self.side >= 0, self.row * N_CELLS + self.side, -1)):
            sel = cells >= 0
            np.add.at(t, (self.image[sel], cells[sel]), w[sel])
            np.add.at(c, (self.image[sel], cells[sel]), ok[sel])
        return c, t

    def sums(self, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Correct and total per (row, cell); ``weights`` (..., n_images) resample the images."""
        c, t = self.per_image()
        if weights is None:
            c, t = c.sum(0), t.sum(0)
        else:
            c, t = weights @ c, weights @ t
        shape = c.shape[:-1] + (len(self.rows), N_CELLS)
        return c.reshape(shape), t.reshape(shape)


def build_index(records: Sequence[AnswerRecord], row_of: Callable[[AnswerRecord], str],
                counted: Sequence[bool], correct: Sequence[bool]) -> CellIndex:
    rows: dict[str, int] = {}
    images: dict[str, int] = {}
    row, col, side, image = [], [], [], []
    for r in records:
        row.append(rows.setdefault(row_of(r), len(rows)))
        image.append(images.setdefault(r.image, len(images)))
        j = SUBTASKS.index(r.subtask)
        col.append(j)
        side.append(-1 if j else (AD_NORMAL if "good" in r.image else AD_DEFECT))
    col_a = np.array(col, dtype=int)
    present = np.zeros(len(SUBTASKS), bool)
    present[np.unique(col_a)] = True
    return CellIndex(rows=list(rows), present=present, row=np.array(row, dtype=int), col=col_a,
                     side=np.array(side, dtype=int), image=np.array(image, dtype=int), images=list(images),
                     counted=np.asarray(counted, bool), correct=np.asarray(correct, bool))


def nanmean(a: np.ndarray, axis: int) -> np.ndarray:
    ok = ~np.isnan(a)
    n = ok.sum(axis)
    s = np.where(ok, a, 0.0).sum(axis)
    return np.where(n > 0, s / np.maximum(n, 1), np.nan)


def table_values(correct: np.ndarray, total: np.ndarray, present: np.ndarray, exact: bool):
    """Cell percentages (..., rows, 7), row Averages (..., rows) and the headline (..., 8).

    exact: MMAD's arithmetic (an empty cell is 0 and counts; AD = (normal + defective)/2 with an empty side 0;
    only subtasks present somewhere are columns). Otherwise empty cells are NaN and left out of every mean,
    and AD is the mean over the classes present (balanced accuracy as scikit-learn defines it).
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.where(total > 0, correct / np.where(total > 0, total, 1), 0.0 if exact else np.nan) * 100
    cells = acc[..., :7].copy()
    if exact:
        cells[..., 0] = (acc[..., AD_NORMAL] + acc[..., AD_DEFECT]) / 2
    else:
        cells[..., 0] = nanmean(acc[..., AD_NORMAL:], axis=-1)
    cells = np.where(present, cells, np.nan)
    row_avg = nanmean(cells, axis=-1)
    headline = np.concatenate([nanmean(cells, axis=-2), nanmean(row_avg, axis=-1)[..., None]], axis=-1)
    return cells, row_avg, headline


def _num(x) -> float | None:
    return None if np.isnan(x) else float(x)


def make_table(name: str, index: CellIndex, exact: bool) -> ScoreTable:
    c, t = index.sums()
    cells, row_avg, headline = table_values(c, t, index.present, exact)
    rows, counts = {}, {}
    for i, rname in enumerate(index.rows):
        rows[rname] = {col: _num(cells[i, j]) for j, col in enumerate(SUBTASKS)}
        rows[rname]["Average"] = _num(row_avg[i])
        counts[rname] = {col: int(t[i, j]) for j, col in enumerate(SUBTASKS)}
        counts[rname]["AD normal"] = int(t[i, AD_NORMAL])
        counts[rname]["AD defective"] = int(t[i, AD_DEFECT])
        counts[rname]["Average"] = int(t[i, :7].sum())
    overall = {col: _num(headline[j]) for j, col in enumerate(COLUMNS)}
    return ScoreTable(name=name, rows=rows, overall=overall, counts=counts)
