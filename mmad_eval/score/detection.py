"""Threshold-free detection metrics and calibration, on plain arrays (no scikit-learn).

* :func:`roc_curve`, :func:`auroc`: tied scores form one threshold (one diagonal step of the curve); AUROC is
  the Mann-Whitney statistic with mid-ranks, i.e. P(score of a defective > score of a normal) + P(tie) / 2.
* :func:`aupr`: average precision, sum over distinct thresholds of (recall gain) x (precision at that
  threshold), the usual step-wise estimate (ties enter together, no interpolation).
* :func:`f1_max`: the best F1 over every distinct threshold.
* :func:`bootstrap_ci`: percentile interval of a metric over resamples drawn within each class (so every
  resample has both classes and the class balance of the test set).
* :func:`ece`, :func:`reliability`: expected calibration error over equal-width confidence bins
  (sum of bin weight x |accuracy - mean confidence|) and the per-bin points of the reliability diagram.
* :func:`coverage_curve`: accuracy of the answers kept when the least confident ones are withheld.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
from scipy.stats import rankdata


def _arrays(labels, scores) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels, dtype=bool)
    s = np.asarray(scores, dtype=float)
    if y.shape != s.shape or y.ndim != 1:
        raise ValueError("labels and scores must be 1-D and of equal length")
    if not np.isfinite(s).all():
        raise ValueError("scores must be finite")
    return y, s


def _both_classes(y: np.ndarray) -> bool:
    return bool(y.any()) and bool((~y).any())


def _counts(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cumulative (true positives, false positives) at each distinct threshold, highest score first."""
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]      # last index of each run of equal scores
    tp = np.cumsum(y)[last]
    fp = np.cumsum(~y)[last]
    return tp.astype(float), fp.astype(float), s[last]


def roc_curve(labels, scores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(false positive rates, true positive rates, thresholds), starting at (0, 0); positives = defective."""
    y, s = _arrays(labels, scores)
    if not _both_classes(y):
        raise ValueError("ROC needs both defective and normal images")
    tp, fp, thr = _counts(y, s)
    return np.r_[0.0, fp / (~y).sum()], np.r_[0.0, tp / y.sum()], np.r_[np.inf, thr]


def auroc(labels, scores) -> float | None:
    """Area under the ROC curve (ties count one half); None without both classes."""
    y, s = _arrays(labels, scores)
    if not _both_classes(y):
        return None
    ranks = rankdata(s)                       # mid-ranks for ties
    n1, n0 = int(y.sum()), int((~y).sum())
    return float((ranks[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def aupr(labels, scores) -> float | None:
    """Average precision of the defective class; None without any defective image."""
    y, s = _arrays(labels, scores)
    if not y.any():
        return None
    tp, fp, _ = _counts(y, s)
    precision = tp / (tp + fp)
    recall = tp / y.sum()
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def f1_max(labels, scores) -> tuple[float, float] | None:
    """(best F1, its threshold: predict defective when score >= threshold); None without defective images."""
    y, s = _arrays(labels, scores)
    if not y.any():
        return None
    tp, fp, thr = _counts(y, s)
    fn = y.sum() - tp
    f1 = 2 * tp / (2 * tp + fp + fn)
    i = int(np.argmax(f1))
    return float(f1[i]), float(thr[i])


METRICS: dict[str, Callable] = {"auroc": auroc, "aupr": aupr,
                                "f1_max": lambda y, s: (lambda r: None if r is None else r[0])(f1_max(y, s))}


_CHUNK = 128


def _resamples(y: np.ndarray, n_boot: int, seed: int):
    """Chunks of (resamples x images) index arrays, each row drawn within each class with replacement."""
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(y), np.flatnonzero(~y)
    for start in range(0, n_boot, _CHUNK):
        b = min(_CHUNK, n_boot - start)
        yield np.concatenate([rng.choice(pos, (b, len(pos))), rng.choice(neg, (b, len(neg)))], axis=1)


def bootstrap_ci(labels, scores, metric: Callable, n_boot: int = 1000, seed: int = 0,
                 level: float = 0.95) -> tuple[float, float] | None:
    """Percentile CI of ``metric(labels, scores)`` resampling images within each class (the reference
    implementation of what :func:`detection_scores` computes for all three metrics at once)."""
    y, s = _arrays(labels, scores)
    if n_boot <= 0 or not _both_classes(y):
        return None
    values = [v for chunk in _resamples(y, n_boot, seed) for idx in chunk
              if (v := metric(y[idx], s[idx])) is not None]
    if not values:
        return None
    lo, hi = np.percentile(values, [(1 - level) / 2 * 100, (1 + level) / 2 * 100])
    return float(lo), float(hi)


@dataclass
class DetectionScores:
    """Image-level detection metrics of one group of images (a dataset, a category, or all)."""

    n_defective: int
    n_normal: int
    auroc: float | None
    aupr: float | None
    f1_max: float | None
    ci: dict[str, tuple[float, float] | None]


def _boot_three(y: np.ndarray, s: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, 3) AUROC, AP and F1-max of class-stratified resamples, without re-sorting: the scores are
    sorted once, a resample becomes per-image counts, and tied scores are summed into one threshold."""
    n = len(s)
    order = np.argsort(-s, kind="mergesort")
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    starts = np.r_[0, np.flatnonzero(np.diff(s[order])) + 1]        # first image of each tied group
    positive = y[order]
    out = []
    for idx in _resamples(y, n_boot, seed):
        b = idx.shape[0]
        flat = (rank[idx] + (np.arange(b) * n)[:, None]).ravel()
        w = np.bincount(flat, minlength=b * n).reshape(b, n).astype(float)
        tp = np.cumsum(np.add.reduceat(w * positive, starts, axis=1), axis=1)
        fp = np.cumsum(np.add.reduceat(w * ~positive, starts, axis=1), axis=1)
        n1, n0 = tp[:, -1:], fp[:, -1:]
        tpr, fpr = np.pad(tp / n1, ((0, 0), (1, 0))), np.pad(fp / n0, ((0, 0), (1, 0)))
        roc = np.sum(np.diff(fpr, axis=1) * (tpr[:, 1:] + tpr[:, :-1]) / 2, axis=1)
        precision = np.divide(tp, tp + fp, out=np.zeros_like(tp), where=(tp + fp) > 0)
        ap = np.sum(np.diff(tpr, axis=1) * precision, axis=1)
        f1 = np.max(2 * tp / (tp + n1 + fp), axis=1)
        out.append(np.stack([roc, ap, f1], axis=1))
    return np.concatenate(out)


def detection_scores(labels, scores, n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> DetectionScores:
    """AUROC, AP and F1-max with percentile CIs from ``n_boot`` class-stratified resamples."""
    y, s = _arrays(labels, scores)
    values = {name: fn(y, s) for name, fn in METRICS.items()}
    ci: dict = {}
    if n_boot > 0 and _both_classes(y):
        draws = _boot_three(y, s, n_boot, seed)
        lo, hi = np.percentile(draws, [(1 - level) / 2 * 100, (1 + level) / 2 * 100], axis=0)
        ci = {name: (float(lo[i]), float(hi[i])) for i, name in enumerate(METRICS)}
    return DetectionScores(n_defective=int(y.sum()), n_normal=int((~y).sum()), ci=ci, **values)


# -- calibration --------------------------------------------------------------------------------------
@dataclass
class Reliability:
    """Equal-width confidence bins: edges, and per non-empty bin its count, mean confidence and accuracy."""

    edges: list[float]
    counts: list[int]
    confidence: list[float | None]
    accuracy: list[float | None]
    ece: float | None


def reliability(confidence: Sequence[float], correct: Sequence[bool], n_bins: int = 10) -> Reliability:
    """Reliability diagram data and ECE = sum_b (n_b / n) |acc_b - conf_b|; a confidence equal to a bin edge
    falls in the upper bin, except 1.0, which is in the last."""
    c = np.asarray(confidence, dtype=float)
    ok = np.asarray(correct, dtype=bool)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    if c.size == 0:
        return Reliability(edges.tolist(), [0] * n_bins, [None] * n_bins, [None] * n_bins, None)
    if ((c < 0) | (c > 1)).any():
        raise ValueError("confidences must lie in [0, 1]")
    b = np.minimum((c * n_bins).astype(int), n_bins - 1)
    counts, conf, acc, err = [], [], [], 0.0
    for i in range(n_bins):
        m = b == i
        n = int(m.sum())
        counts.append(n)
        conf.append(float(c[m].mean()) if n else None)
        acc.append(float(ok[m].mean()) if n else None)
        if n:
            err += n / c.size * abs(acc[-1] - conf[-1])
    return Reliability(edges.tolist(), counts, conf, acc, float(err))


def ece(confidence: Sequence[float], correct: Sequence[bool], n_bins: int = 10) -> float | None:
    return reliability(confidence, correct, n_bins).ece


def coverage_curve(confidence: Sequence[float], correct: Sequence[bool], steps: int = 10
                   ) -> list[tuple[float, float]]:
    """(coverage, accuracy) keeping the most confident fraction; ties at the cut are kept in order of the
    input (stable), so the curve does not depend on a random tie-break."""
    c = np.asarray(confidence, dtype=float)
    ok = np.asarray(correct, dtype=bool)
    if c.size == 0:
        return []
    order = np.argsort(-c, kind="mergesort")
    hits = np.cumsum(ok[order])
    out = []
    for k in range(steps, 0, -1):
        n = max(1, int(round(c.size * k / steps)))
        out.append((n / c.size, float(hits[n - 1] / n)))
    return out
