"""Accuracy per question type for letter questions outside MMAD's seven subtasks (e.g. RobustMAD's
robustness categories), scored apart from the MMAD table.

Strict, as the strict MMAD score: an unparsed reply or a failed request is wrong, the denominator is every
question. With circular evaluation a question is right only when every rotation is. ``All`` pools every
question (RobustMAD's overall accuracy). 95 % CIs: percentile bootstrap over query images (all questions of
an image move together), seeded.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ..answers import AnswerRecord

ALL = "All"


@dataclass
class TypeScores:
    rows: dict[str, dict] = field(default_factory=dict)   # type -> {n, correct, accuracy, ci, parse_failures}

    def as_dict(self) -> dict:
        return self.rows


def _questions(records: Sequence[AnswerRecord], group_of) -> dict[str, tuple[str, str, bool, bool]]:
    """qid -> (group, image, right on every rotation, some rotation unparsed or failed)."""
    out: dict[str, list] = {}
    for r in records:
        cur = out.setdefault(r.qid, [group_of(r), r.image, True, False])
        cur[2] &= r.correct
        cur[3] |= r.parsed is None
    return {k: tuple(v) for k, v in out.items()}


def score_groups(records: Sequence[AnswerRecord], group_of, n_boot: int = 1000, seed: int = 0) -> dict[str, dict]:
    """group -> {n, correct, accuracy, ci, parse_failures} for the groups ``group_of(record)`` names (sorted),
    then ``All``; {} for no records."""
    qs = _questions(records, group_of)
    rows: dict[str, dict] = {}
    if not qs:
        return rows
    images = sorted({v[1] for v in qs.values()})
    img_ix = {k: i for i, k in enumerate(images)}
    groups = sorted({v[0] for v in qs.values()})
    weights = (np.random.default_rng(seed).multinomial(len(images), [1 / len(images)] * len(images), size=n_boot)
               if n_boot > 0 else None)
    for name in [*groups, ALL]:
        sel = [v for v in qs.values() if name == ALL or v[0] == name]
        right = np.zeros(len(images))
        total = np.zeros(len(images))
        for _, img, ok, _ in sel:
            total[img_ix[img]] += 1
            right[img_ix[img]] += ok
        row = {"n": len(sel), "correct": int(right.sum()), "accuracy": 100.0 * right.sum() / len(sel),
               "parse_failures": 100.0 * sum(v[3] for v in sel) / len(sel)}
        if weights is not None:
            tot = weights @ total
            acc = 100.0 * (weights @ right)[tot > 0] / tot[tot > 0]
            row["ci"] = [float(np.percentile(acc, 2.5)), float(np.percentile(acc, 97.5))]
        rows[name] = row
    return rows


def score_by_type(records: Sequence[AnswerRecord], n_boot: int = 1000, seed: int = 0) -> TypeScores:
    return TypeScores(score_groups(records, lambda r: r.type, n_boot=n_boot, seed=seed))


def format_by_type(scores: TypeScores, title: str) -> str:
    width = max(len(k) for k in scores.rows) + 2
    lines = [title, f"{'':<{width}}{'n':>7}{'accuracy':>10}{'95% CI':>16}{'unparsed':>10}"]
    for name, r in scores.rows.items():
        ci = "[%.1f, %.1f]" % tuple(r["ci"]) if "ci" in r else "-"
        lines.append(f"{name:<{width}}{r['n']:>7}{r['accuracy']:>10.2f}{ci:>16}{r['parse_failures']:>9.1f}%")
    return "\n".join(lines)
