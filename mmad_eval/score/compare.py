"""Paired comparison of two runs on the questions both answered (rotation 0).

Per subtask and for the headline: both scores on the shared questions, their difference with a paired
bootstrap 95% CI (the same image resample applied to both runs), and McNemar's test on the per-question
right/wrong table (exact binomial p-value, and the chi-square one with continuity correction).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from scipy import stats as sps

from ..questions.model import SUBTASKS
from ..answers import AnswerRecord
from .cells import build_index, table_values
from .mmad import empty_reason
from .scorers import STRICT, Scorer
from .stats import image_weights, percentile_ci
from .table import COLUMNS


@dataclass
class McNemar:
    only_a: int          # questions A got right and B wrong
    only_b: int
    both: int
    neither: int
    p_exact: float
    p_chi2: float


@dataclass
class Comparison:
    scorer: str                                   # the scorer's name
    shared: int                                   # questions both runs answered (identical in both)
    only_in_a: int
    only_in_b: int
    a: dict[str, float | None]                    # headline columns on the shared questions
    b: dict[str, float | None]
    diff: dict[str, float | None]                 # b - a
    ci: dict[str, tuple[float, float]] = field(default_factory=dict)
    mcnemar: dict[str, McNemar] = field(default_factory=dict)    # per subtask and "All"
    notes: list[str] = field(default_factory=list)
    differing: int = 0                            # question ids in both runs whose question differs (left out)


def question_identity(r: AnswerRecord) -> tuple:
    """What makes two runs' answers to one question id comparable: the question text, its option texts (in
    any order: a shuffle is a protocol choice) and the text of the correct option."""
    return r.question, tuple(sorted(r.options.values())), r.options.get(r.answer)


def differing_questions(a: Sequence[AnswerRecord], b: Sequence[AnswerRecord]) -> list[str]:
    """Question ids in both runs whose text, options or answer differ (sorted)."""
    ia = {r.qid: question_identity(r) for r in a if r.rotation == 0}
    ib = {r.qid: question_identity(r) for r in b if r.rotation == 0}
    return sorted(q for q in ia if q in ib and ia[q] != ib[q])


def _counted_by_qid(records: Sequence[AnswerRecord], scorer: Scorer) -> dict[str, bool]:
    recs = scorer.records(records)
    return {r.qid: c for r, c in zip(recs, scorer.counted(recs))}


def mcnemar(a_right: np.ndarray, b_right: np.ndarray) -> McNemar:
    a_right, b_right = np.asarray(a_right, bool), np.asarray(b_right, bool)
    n01, n10 = int((a_right & ~b_right).sum()), int((~a_right & b_right).sum())
    n = n01 + n10
    p_exact = float(sps.binomtest(n01, n, 0.5).pvalue) if n else 1.0
    p_chi2 = float(sps.chi2.sf((abs(n01 - n10) - 1) ** 2 / n, 1)) if n else 1.0
    return McNemar(only_a=n01, only_b=n10, both=int((a_right & b_right).sum()),
                   neither=int((~a_right & ~b_right).sum()), p_exact=min(p_exact, 1.0), p_chi2=min(p_chi2, 1.0))


def _num(x) -> float | None:
    return None if np.isnan(x) else float(x)


def _answered(r: AnswerRecord) -> bool:
    """Not a placeholder of an unfinished run (those are not answers; failed requests are)."""
    return not (r.error or "").startswith("missing:")


def compare_runs(a: Sequence[AnswerRecord], b: Sequence[AnswerRecord], scorer: Scorer = STRICT,
                 n_boot: int = 1000, seed: int = 0) -> Comparison:
    """Compare run B against run A (differences are B - A) on the questions both answered and that are the
    same question in both (text, options, answer); questions not answered yet are left out."""
    a0 = {r.qid: r for r in a if r.rotation == 0 and _answered(r)}
    b0 = {r.qid: r for r in b if r.rotation == 0 and _answered(r)}
    common = [q for q in a0 if q in b0]
    # which answers count is decided over each whole run, as its own table does (MMAD's skip-after-drop
    # follows the answers file's order); only answers both scorers look at are paired
    ca, cb = _counted_by_qid(a, scorer), _counted_by_qid(b, scorer)
    shared = [q for q in common if question_identity(a0[q]) == question_identity(b0[q]) and q in ca and q in cb]
    ra, rb = [a0[q] for q in shared], [b0[q] for q in shared]
    ia = build_index(ra, scorer.row, [ca[q] for q in shared], [scorer.correct(r) for r in ra])
    ib = build_index(rb, scorer.row, [cb[q] for q in shared], [scorer.correct(r) for r in rb])
    exact = scorer.exact
    cmp = Comparison(scorer=scorer.name, shared=len(shared), only_in_a=len(a0) - len(common),
                     only_in_b=len(b0) - len(common), a={}, b={}, diff={}, differing=len(common) - len(shared))
    if cmp.differing:
        cmp.notes.append(f"{cmp.differing} question ids in both runs differ in text, options or answer and were "
                         "left out")
    if not shared:
        cmp.notes.append("the runs share no questions")
        return cmp
    for label, recs, index in (("A", a, ia), ("B", b, ib)):
        if not index.counted.any():
            cmp.notes.append(f"run {label} has n = 0 under the {scorer.name} score: "
                             f"{empty_reason(recs) or 'no answer counts'}")
    present = ia.present | ib.present
    ha = table_values(*ia.sums(), present, exact)[2]
    hb = table_values(*ib.sums(), present, exact)[2]
    for j, col in enumerate(COLUMNS):
        cmp.a[col], cmp.b[col] = _num(ha[j]), _num(hb[j])
        cmp.diff[col] = None if np.isnan(ha[j]) or np.isnan(hb[j]) else float(hb[j] - ha[j])
    w = image_weights(ia, n_boot, seed)      # same images, same order in both indexes (same question list)
    da = table_values(*ia.sums(w), present, exact)[2]
    db = table_values(*ib.sums(w), present, exact)[2]
    cmp.ci = {col: ci for col, ci in zip(COLUMNS, percentile_ci(db - da)) if ci is not None}
    # McNemar on questions both runs count (the MMAD scorer drops invalid answers)
    both = ia.counted & ib.counted
    for j, col in enumerate((*SUBTASKS, "All")):
        sel = both & (ia.col == j) if col != "All" else both
        if sel.any():
            cmp.mcnemar[col] = mcnemar(ia.correct[sel], ib.correct[sel])
    if not scorer.fixed_denominator and not both.all():
        cmp.notes.append(f"McNemar uses the {int(both.sum())} questions valid in both runs")
    if cmp.only_in_a or cmp.only_in_b:
        cmp.notes.append(f"compared on {len(shared)} shared questions ({cmp.only_in_a} only in A, "
                         f"{cmp.only_in_b} only in B)")
    return cmp
