"""The MMAD-compatible score, exactly as the reference summary script counts.

1. dataset = first path component of the query key; Object Structure/Details -> Object Analysis;
2. answers whose reference-parsed letter (or correct letter) is not one of A-E leave the denominator;
3. accuracy per (dataset, subtask) = correct/total, in percent;
4. Anomaly Detection per dataset = (accuracy on keys containing "good" + accuracy on the others) / 2;
5. a dataset's Average = mean of its columns; the headline row = plain mean of the dataset rows.

``variant="exact"`` keeps the reference's quirks: an empty cell scores 0 and counts in the Average; a
dataset with only normal AD questions gets (normal accuracy + 0)/2; ``MVTec-AD/...`` keys form their own
row. ``variant="corrected"`` groups ``MVTec-AD/`` keys with DS-MVTec and leaves empty cells out of every
mean. ``exact_skip_after_drop`` emulates the reference loop's ``list.remove`` inside iteration, which also
skips the record right after each dropped one. Circular (option-rotation) runs: rotation 0 only.
"""
from __future__ import annotations

from typing import Sequence

from ..questions.model import LETTERS
from ..answers import AnswerRecord
from .cells import build_index, make_table
from .table import ScoreTable

VARIANTS = ("exact", "corrected")
GROUPED = {"MVTec-AD": "DS-MVTec"}   # the corrected variant's dataset grouping


def corrected_dataset(r: AnswerRecord) -> str:
    return GROUPED.get(r.dataset, r.dataset)


def _valid(r: AnswerRecord) -> bool:
    return r.answer in tuple(LETTERS) and r.reference_parsed in tuple(LETTERS)


def counted_flags(records: Sequence[AnswerRecord], skip_after_drop: bool) -> list[bool]:
    """Which records the reference loop counts (dropped ones never; with emulation, not their successors)."""
    out, skip = [], False
    for r in records:
        if skip:
            out.append(False)
            skip = False
            continue
        ok = _valid(r)
        out.append(ok)
        skip = skip_after_drop and not ok
    return out


def mmad_score(records: Sequence[AnswerRecord], variant: str = "exact",
               exact_skip_after_drop: bool = False) -> ScoreTable:
    """MMAD-compatible score table (``ScoreTable.name`` = "mmad" or "mmad-corrected")."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    from .mmad_answers import in_answers_file

    recs = [r for r in records if in_answers_file(r)]
    exact = variant == "exact"
    row_of = (lambda r: r.dataset) if exact else corrected_dataset
    correct = [r.reference_parsed == r.answer for r in recs]
    flags = counted_flags(recs, exact_skip_after_drop)
    table = make_table("mmad" if exact else "mmad-corrected", build_index(recs, row_of, flags, correct), exact)
    dropped = sum(not _valid(r) for r in recs)
    table.extra.update({"variant": variant, "questions": len(recs), "dropped_invalid": dropped,
                        "skipped_after_drop": sum(not f for f in flags) - dropped if exact_skip_after_drop else 0,
                        "exact_skip_after_drop": exact_skip_after_drop,
                        "rotations_ignored": sum(r.rotation != 0 for r in records),
                        "not_in_answers_file": sum(r.rotation == 0 for r in records) - len(recs)})
    if dropped:
        table.notes.append(f"{dropped} of {len(recs)} answers had no letter A-E and were left out of the "
                           "denominator (MMAD's rule; the strict score counts them wrong)")
    if exact_skip_after_drop:
        plain = make_table("", build_index(recs, row_of, counted_flags(recs, False), correct), exact)
        if _differs(plain, table):
            table.notes.append(f"exact skip-after-drop emulation left out {table.extra['skipped_after_drop']} "
                               "valid answers that follow a dropped one and changed the score "
                               f"(headline {plain.overall['Average']:.2f} without it)")
    return table


def _differs(a: ScoreTable, b: ScoreTable, tol: float = 1e-9) -> bool:
    def diff(x, y):
        return (x is None) != (y is None) or (x is not None and abs(x - y) > tol)
    if set(a.rows) != set(b.rows):
        return True
    return any(diff(a.overall[c], b.overall[c]) for c in a.overall) or any(
        diff(a.rows[d][c], b.rows[d][c]) for d in a.rows for c in a.rows[d])


def differing_note(exact: ScoreTable, corrected: ScoreTable) -> str | None:
    """A warning naming why the exact and corrected MMAD-compatible tables differ (None when they agree)."""
    if not _differs(exact, corrected):
        return None
    parts = []
    if set(exact.rows) != set(corrected.rows):
        extra_rows = sorted(set(exact.rows) - set(corrected.rows))
        parts.append(f"rows {', '.join(extra_rows)} are grouped with DS-MVTec in the corrected variant")
    empty = [f"{d}/{c}" for d, row in exact.rows.items() for c, v in row.items()
             if c != "Average" and v is not None and exact.counts[d].get(c, 0) == 0]
    if empty:
        parts.append(f"empty cells scored 0 in the exact variant: {', '.join(empty[:6])}"
                     + (" ..." if len(empty) > 6 else ""))
    one_sided = [d for d, n in exact.counts.items() if exact.rows[d]["Anomaly Detection"] is not None
                 and (n["AD normal"] == 0) != (n["AD defective"] == 0)]
    if one_sided:
        parts.append(f"Anomaly Detection with one class only (scored (acc + 0)/2): {', '.join(one_sided)}")
    return (f"exact MMAD score {exact.overall['Average']:.2f} differs from the corrected one "
            f"{corrected.overall['Average']:.2f}: " + "; ".join(parts or ["see the tables"]))


def mmad_scores(records: Sequence[AnswerRecord], exact_skip_after_drop: bool = False
                ) -> tuple[ScoreTable, ScoreTable]:
    """Both variants; each gets a warning in ``notes`` when the exact and corrected numbers differ."""
    exact = mmad_score(records, "exact", exact_skip_after_drop)
    corrected = mmad_score(records, "corrected", exact_skip_after_drop)
    note = differing_note(exact, corrected)
    if note:
        exact.notes.append(note)
        corrected.notes.append(note)
    return exact, corrected
