"""Finer tables: dataset x category x subtask, and Anomaly Detection overkill/miss rates per dataset."""
from __future__ import annotations

from typing import Sequence

from ..records import AnswerRecord
from .cells import build_index, make_table
from .mmad import corrected_dataset, counted_flags
from .strict import strict_correct
from .table import ScoreTable


def category_table(records: Sequence[AnswerRecord], scorer: str = "strict") -> ScoreTable:
    """Rows ``dataset/category`` (MVTec-AD grouped with DS-MVTec); empty cells None; AD balanced accuracy.

    ``scorer`` = "strict" (fixed denominator) or "mmad" (reference-parsed letters, invalid answers dropped).
    """
    recs = [r for r in records if r.rotation == 0]
    if scorer == "strict":
        counted, correct = [True] * len(recs), [strict_correct(r) for r in recs]
    elif scorer == "mmad":
        counted, correct = counted_flags(recs, False), [r.reference_parsed == r.answer for r in recs]
    else:
        raise ValueError(f"scorer must be 'strict' or 'mmad', got {scorer!r}")
    index = build_index(recs, lambda r: f"{corrected_dataset(r)}/{r.category}", counted, correct)
    table = make_table(f"{scorer}-by-category", index, exact=False)
    table.rows = dict(sorted(table.rows.items()))
    table.notes.append("the headline row of a category table is the mean over categories, not MMAD's")
    return table


def overkill_miss(records: Sequence[AnswerRecord], scorer: str = "strict") -> dict[str, dict]:
    """Per dataset: overkill = normal images called defective, miss = defective images called normal (%).

    strict: a wrong parsed letter on a normal (defective) query is an overkill (miss); unparsed replies and
    errors are counted apart (``unanswered``). mmad: as the reference script, overkill = 100 - normal
    accuracy and miss = 100 - defective accuracy over the answers with a letter A-E.
    """
    out: dict[str, dict] = {}
    recs = [r for r in records if r.rotation == 0 and r.type == "Anomaly Detection"]
    flags = counted_flags(recs, False) if scorer == "mmad" else [True] * len(recs)
    for r, counted in zip(recs, flags):
        ds = corrected_dataset(r) if scorer == "strict" else r.dataset
        side = "normal" if "good" in r.image else "defective"
        row = out.setdefault(ds, {"normal": 0, "defective": 0, "normal_wrong": 0, "defective_wrong": 0,
                                  "unanswered": 0})
        if not counted:
            continue
        letter = r.parsed if scorer == "strict" else r.reference_parsed
        if scorer == "strict" and (r.error is not None or letter is None):
            row["unanswered"] += 1
            row[side] += 1
            continue
        row[side] += 1
        row[f"{side}_wrong"] += letter != r.answer
    for row in out.values():
        row["overkill"] = 100 * row["normal_wrong"] / row["normal"] if row["normal"] else None
        row["miss"] = 100 * row["defective_wrong"] / row["defective"] if row["defective"] else None
    return out
