"""The MMAD-compatible score: exactly what MMAD's helper/summary.py prints for the run's answers file, and
our fixed variant of it.

summary.py (``fixed=False``, table "mmad"):
1. rows = dataset (first path component of the query key) and columns = subtask (Object Structure/Details ->
   Object Analysis), in order of first appearance over the whole answers file;
2. answers whose letter (or correct letter) is not one of A-E are removed from the list it is looping over,
   so they leave the denominator AND the answer right after each removed one is never counted;
3. accuracy per (dataset, subtask) = correct/total in percent, 0 for an empty cell (it still counts);
4. Anomaly Detection per dataset = (accuracy on keys containing "good" + accuracy on the others) / 2, an
   empty side counting 0; a dataset's Average = mean of its columns; the headline = mean of the dataset rows.
A question not asked yet is not in the answers file (not a drop), nor is an answer the official script would
not write (Gemini's dropped images); circular runs count rotation 0 only.

Ours (``fixed=True``, table "mmad-fixed"): the same letters and denominator, without the skipped answers,
with ``MVTec-AD/`` keys grouped with DS-MVTec and empty cells left out of every mean.
"""
from __future__ import annotations

from typing import Sequence

from ..questions.model import LETTERS
from ..answers import AnswerRecord
from .cells import build_index, make_table
from .table import ScoreTable

GROUPED = {"MVTec-AD": "DS-MVTec"}   # the fixed variant's dataset grouping


def corrected_dataset(r: AnswerRecord) -> str:
    return GROUPED.get(r.dataset, r.dataset)


def in_answers_file(r: AnswerRecord) -> bool:
    """Would the official script write this answer to its file? Not a question that was never asked (a run
    still going), not one its script leaves out (Gemini's dropped images), not another option rotation."""
    return r.rotation == 0 and not (r.error or "").startswith("missing:") and not r.meta.get("mmad_absent")


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


def mmad_score(records: Sequence[AnswerRecord], fixed: bool = False) -> ScoreTable:
    """The MMAD-compatible table ("mmad", summary.py's numbers) or our fixed variant ("mmad-fixed")."""
    recs = [r for r in records if in_answers_file(r)]
    row_of = corrected_dataset if fixed else (lambda r: r.dataset)
    correct = [r.reference_parsed == r.answer for r in recs]
    flags = counted_flags(recs, skip_after_drop=not fixed)
    table = make_table("mmad-fixed" if fixed else "mmad", build_index(recs, row_of, flags, correct), not fixed)
    dropped = sum(not _valid(r) for r in recs)
    skipped = sum(not f for f in flags) - dropped
    table.extra.update({"questions": len(recs), "dropped_invalid": dropped, "skipped_after_drop": skipped,
                        "rotations_ignored": sum(r.rotation != 0 for r in records),
                        "not_in_answers_file": sum(r.rotation == 0 for r in records) - len(recs)})
    why = empty_reason(records) if not any(flags) else None
    if why:
        table.notes.append(f"n = 0: {why}")
    elif dropped:
        table.notes.append(f"{dropped} of {len(recs)} answers had no letter A-E and were left out of the "
                           "denominator (MMAD's rule; the strict score counts them wrong)"
                           + (f"; as summary.py does, the {skipped} answers right after them were not counted "
                              "either" if skipped else ""))
    return table


def empty_reason(records: Sequence[AnswerRecord]) -> str | None:
    """Why no answer counts, in words: nothing asked yet, every request failed, or no reply had a letter."""
    recs = [r for r in records if r.rotation == 0]
    if not recs:
        return "the run has no questions"
    missing = sum((r.error or "").startswith("missing:") for r in recs)
    failed = [r.error for r in recs if r.error is not None and not r.error.startswith("missing:")]
    if missing == len(recs):
        return f"no question answered yet ({missing} not asked; rerun the same command to resume)"
    if missing + len(failed) == len(recs):
        kinds = sorted({e.split(":", 1)[0] for e in failed})
        return (f"every request failed ({len(failed)} failed: {', '.join(kinds)}; e.g. {failed[0][:120]})"
                + (f", {missing} not asked yet" if missing else ""))
    if not any(r.reference_parsed in tuple(LETTERS) for r in recs if r.error is None):
        return f"no reply had a letter A-E ({len(recs) - missing - len(failed)} replies)"
    return None


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def _differs(a: ScoreTable, b: ScoreTable, tol: float = 1e-9) -> bool:
    def diff(x, y):
        return (x is None) != (y is None) or (x is not None and abs(x - y) > tol)
    if set(a.rows) != set(b.rows):
        return True
    return any(diff(a.overall[c], b.overall[c]) for c in a.overall) or any(
        diff(a.rows[d][c], b.rows[d][c]) for d in a.rows for c in a.rows[d])


def differing_note(compatible: ScoreTable, fixed: ScoreTable) -> str | None:
    """A note naming why the MMAD-compatible table and our fixed variant differ (None when they agree, or
    when nothing counts: the n = 0 note says why)."""
    if not _differs(compatible, fixed) or any(n.startswith("n = 0") for n in compatible.notes):
        return None
    parts = []
    if compatible.extra.get("skipped_after_drop"):
        parts.append(f"summary.py skips the {compatible.extra['skipped_after_drop']} answers right after "
                     "dropped ones")
    if set(compatible.rows) != set(fixed.rows):
        extra_rows = sorted(set(compatible.rows) - set(fixed.rows))
        parts.append(f"rows {', '.join(extra_rows)} are grouped with DS-MVTec in ours")
    empty = [f"{d}/{c}" for d, row in compatible.rows.items() for c, v in row.items()
             if c != "Average" and v is not None and compatible.counts[d].get(c, 0) == 0]
    if empty:
        parts.append(f"summary.py scores empty cells 0: {', '.join(empty[:6])}" + (" ..." if len(empty) > 6 else ""))
    one_sided = [d for d, n in compatible.counts.items() if compatible.rows[d]["Anomaly Detection"] is not None
                 and (n["AD normal"] == 0) != (n["AD defective"] == 0)]
    if one_sided:
        parts.append(f"Anomaly Detection with one class only (scored (acc + 0)/2): {', '.join(one_sided)}")
    return (f"MMAD-compatible score {_fmt(compatible.overall['Average'])} (what summary.py prints) differs from "
            f"our fixed variant {_fmt(fixed.overall['Average'])}: " + "; ".join(parts or ["see the tables"]))


def mmad_scores(records: Sequence[AnswerRecord]) -> tuple[ScoreTable, ScoreTable]:
    """(MMAD-compatible, ours fixed); each gets a note when their numbers differ."""
    compatible, fixed = mmad_score(records), mmad_score(records, fixed=True)
    note = differing_note(compatible, fixed)
    if note:
        compatible.notes.append(note)
        fixed.notes.append(note)
    return compatible, fixed
