"""Scores of judged open answers: per subtask and dimension, the mean grade with a bootstrap 95% CI over
images; invalid gradings counted apart; and the judge's agreement with people who graded the same answers
on the same rubric (quadratic-weighted Cohen's kappa, exact and within-one agreement)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..questions.model import SUBTASKS

ALL = "All"


@dataclass
class JudgedTable:
    dimensions: list[str]
    means: dict[str, dict[str, float]] = field(default_factory=dict)          # subtask -> dimension -> mean
    ci: dict[str, dict[str, tuple[float, float]]] = field(default_factory=dict)
    n: dict[str, int] = field(default_factory=dict)                            # graded answers per subtask
    invalid: dict[str, int] = field(default_factory=dict)                      # invalid gradings per subtask


def judged_table(judged, n_boot: int = 1000, seed: int = 0) -> JudgedTable:
    """Means of each dimension and of their average ("overall") per subtask and over all answers."""
    dims = [d for d, _ in judged.rubric.dimensions]
    table = JudgedTable(dims + ["overall"])
    rows = []                                  # (subtask, image, grades vector incl. overall)
    for qid, grades in judged.grades.items():
        rec = judged.records[qid]
        if grades is None:
            for s in (rec.subtask, ALL):
                table.invalid[s] = table.invalid.get(s, 0) + 1
            continue
        vec = [float(grades[d]) for d in dims]
        rows.append((rec.subtask, rec.image, vec + [float(np.mean(vec))]))
    rng = np.random.default_rng(seed)
    others = sorted({r[0] for r in rows} - set(SUBTASKS))     # types outside MMAD's (RobustMAD's categories)
    for subtask in [s for s in SUBTASKS if any(r[0] == s for r in rows)] + others + ([ALL] if rows else []):
        sel = [r for r in rows if subtask == ALL or r[0] == subtask]
        values = np.array([r[2] for r in sel])
        table.n[subtask] = len(sel)
        table.means[subtask] = dict(zip(table.dimensions, values.mean(axis=0).round(4).tolist()))
        if n_boot > 0:
            table.ci[subtask] = _image_bootstrap([r[1] for r in sel], values, table.dimensions, n_boot, rng)
    return table


def _image_bootstrap(images: list[str], values: np.ndarray, dims: list[str], n_boot: int, rng) -> dict:
    """Percentile 95% CIs of the means, resampling images (an image's answers move together)."""
    ids = {im: i for i, im in enumerate(dict.fromkeys(images))}
    group = np.array([ids[im] for im in images])
    sums = np.zeros((len(ids), values.shape[1]))
    np.add.at(sums, group, values)
    counts = np.bincount(group, minlength=len(ids)).astype(float)
    draws = rng.integers(0, len(ids), (n_boot, len(ids)))
    w = np.stack([np.bincount(d, minlength=len(ids)) for d in draws]).astype(float)
    means = (w @ sums) / np.maximum(w @ counts, 1e-12)[:, None]
    lo, hi = np.percentile(means, [2.5, 97.5], axis=0)
    return {d: (round(float(a), 4), round(float(b), 4)) for d, a, b in zip(dims, lo, hi)}


def weighted_kappa(a: list[int], b: list[int], low: int, high: int) -> float | None:
    """Cohen's kappa with quadratic weights between two raters' grades on the scale low..high (None: no
    pairs, or no variation to agree beyond chance on)."""
    if not a or len(a) != len(b):
        return None
    k = high - low + 1
    obs = np.zeros((k, k))
    for x, y in zip(a, b):
        obs[x - low, y - low] += 1
    obs /= obs.sum()
    exp = np.outer(obs.sum(axis=1), obs.sum(axis=0))
    i, j = np.indices((k, k))
    weights = (i - j) ** 2 / (k - 1) ** 2
    denom = (weights * exp).sum()
    return None if denom == 0 else float(1 - (weights * obs).sum() / denom)


def agreement(judged, human: dict[str, dict[str, int]] | list[dict[str, dict[str, int]]]) -> dict[str, dict]:
    """Per dimension: answers graded by both, quadratic-weighted kappa, exact and within-one agreement (%).
    ``human`` is one person's grades {qid: {dimension: grade}} or a list of several people's, pooled (each
    person's grade of an answer is one pair with the judge's)."""
    lo, hi = judged.rubric.scale
    people = human if isinstance(human, list) else [human]
    out = {}
    for dim, _ in judged.rubric.dimensions:
        pairs = [(g[dim], h[q][dim]) for h in people for q, g in judged.grades.items()
                 if g is not None and q in h and isinstance(h[q].get(dim), int)]
        a, b = [p[0] for p in pairs], [p[1] for p in pairs]
        out[dim] = {"n": len(pairs), "kappa": weighted_kappa(a, b, lo, hi),
                    "exact": 100.0 * sum(x == y for x, y in pairs) / len(pairs) if pairs else None,
                    "within_one": 100.0 * sum(abs(x - y) <= 1 for x, y in pairs) / len(pairs) if pairs else None}
    return out
