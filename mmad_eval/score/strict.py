"""The strict score: a fixed denominator, every question counts.

An unparsed reply (strict parser gave None) is wrong; a failed request is wrong; an abstention (the backend
declined the question by design, :attr:`AnswerRecord.abstained`) is wrong and counted apart from parse
failures. Anomaly Detection is
balanced accuracy as in MMAD (mean of the accuracy on normal and on defective queries, over the classes
present). ``MVTec-AD/`` keys are grouped with DS-MVTec; empty cells are left out of every mean; the headline
is the plain mean over dataset rows, as MMAD's. Beside it (``ScoreTable.extra``): the parse-failure and
error rates, which rule parsed how many replies, accuracy by correct-letter position and the distribution
of predicted letters (position bias), and, when rotations exist, circular accuracy.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from typing import Sequence

from ..questions.model import LETTERS
from ..answers import AnswerRecord
from .cells import build_index, make_table
from .mmad import corrected_dataset, empty_reason
from .table import ScoreTable


def strict_correct(r: AnswerRecord) -> bool:
    return r.error is None and r.parsed is not None and r.parsed == r.answer


def strict_score(records: Sequence[AnswerRecord]) -> ScoreTable:
    """Strict table on rotation 0 (comparable with MMAD); circular accuracy in ``extra`` when rotated."""
    recs = [r for r in records if r.rotation == 0]
    table = make_table("strict", build_index(recs, corrected_dataset, [True] * len(recs),
                                             [strict_correct(r) for r in recs]), exact=False)
    n = len(recs)
    errors = sum(r.error is not None for r in recs)
    abstained = sum(r.abstained for r in recs)
    unparsed = sum(r.error is None and r.parsed is None for r in recs) - abstained
    table.extra.update({
        "questions": n,
        "error_rate": 100 * errors / n if n else None,
        "parse_failure_rate": 100 * unparsed / n if n else None,
        "abstain_rate": 100 * abstained / n if n else None,
        "errors": errors, "unparsed": unparsed, "abstained": abstained,
        "rules": dict(Counter(r.rule or ("error" if r.error else "none") for r in recs)),
        **letter_bias(recs),
    })
    missing = sum((r.error or "").startswith("missing:") for r in recs)
    why = empty_reason(records) if not any(r.error is None and r.parsed is not None for r in recs) else None
    if missing:
        table.extra["missing"] = missing
    if why:
        table.notes.append(f"no answer parsed, every question counts wrong: {why}")
    elif missing:
        table.notes.append(f"{missing} questions are not answered yet (run incomplete); they count wrong here")
    table.notes.append("strict: unparsed replies, abstentions and failed requests count wrong (fixed denominator); "
                       "Anomaly Detection is balanced accuracy (mean of normal and defective accuracy)")
    circ = circular_accuracy(records)
    if circ is not None:
        table.extra["circular"] = circ
    return table


def letter_bias(records: Sequence[AnswerRecord]) -> dict:
    """Accuracy by the correct letter's position, and how often each letter was predicted (percent)."""
    by_letter: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    predicted: Counter = Counter()
    for r in records:
        cell = by_letter[r.answer]
        cell[0] += strict_correct(r)
        cell[1] += 1
        if r.error is None:
            predicted[r.parsed or ("abstained" if r.abstained else "unparsed")] += 1
    total_pred = sum(predicted.values())
    keys = [k for k in (*LETTERS, "unparsed", "abstained") if k in predicted]
    return {
        "accuracy_by_correct_letter": {k: 100 * by_letter[k][0] / by_letter[k][1]
                                       for k in LETTERS if by_letter.get(k, [0, 0])[1]},
        "questions_by_correct_letter": {k: by_letter[k][1] for k in LETTERS if by_letter.get(k, [0, 0])[1]},
        "predicted_letter_share": {k: 100 * predicted[k] / total_pred for k in keys},
    }


def circular_accuracy(records: Sequence[AnswerRecord]) -> dict | None:
    """Per subtask and overall: share of questions answered right in every rotation (None if unrotated)."""
    if not any(r.rotation for r in records):
        return None
    groups: dict[str, list[AnswerRecord]] = defaultdict(list)
    for r in records:
        groups[r.qid].append(r)
    per: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    rotations = Counter()
    for recs in groups.values():
        ok = all(strict_correct(r) for r in recs)
        for key in (recs[0].subtask, "All"):
            per[key][0] += ok
            per[key][1] += 1
        rotations[len(recs)] += 1
    return {"accuracy": {k: 100 * c / t for k, (c, t) in per.items()},
            "questions": {k: t for k, (c, t) in per.items()},
            "rotations_per_question": dict(rotations)}
