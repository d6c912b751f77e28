"""Finer tables: dataset x category x subtask, and Anomaly Detection overkill/miss rates per dataset."""
from __future__ import annotations

from typing import Sequence

from ..answers import AnswerRecord
from .cells import make_table
from .mmad import corrected_dataset
from .scorers import STRICT, Scorer
from .table import ScoreTable


def category_table(records: Sequence[AnswerRecord], scorer: Scorer = STRICT) -> ScoreTable:
    """Rows ``dataset/category`` (MVTec-AD grouped with DS-MVTec); empty cells None; AD balanced accuracy.

    The scorer decides what is correct and what counts (strict: every question; MMAD's: letters A-E).
    """
    index = scorer.index(records, row_of=lambda r: f"{corrected_dataset(r)}/{r.category}")
    table = make_table(f"{scorer.name}-by-category", index, exact=False)
    table.rows = dict(sorted(table.rows.items()))
    table.notes.append("the headline row of a category table is the mean over categories, not MMAD's")
    return table


def overkill_miss(records: Sequence[AnswerRecord], scorer: Scorer = STRICT) -> dict[str, dict]:
    """Per dataset (the scorer's rows): overkill = normal images called defective, miss = defective images
    called normal (%), over the Anomaly Detection answers the scorer counts.

    With a fixed denominator (strict), unparsed replies and errors are counted apart (``unanswered``), not
    as overkill or miss; MMAD's scorer, as the reference script, gives overkill = 100 - normal accuracy
    and miss = 100 - defective accuracy over the answers with a letter A-E.
    """
    out: dict[str, dict] = {}
    recs = scorer.records(records)          # flags over the whole list: MMAD's skip-after-drop spans subtasks
    for r, counted in zip(recs, scorer.counted(recs)):
        if r.type != "Anomaly Detection":
            continue
        side = "normal" if "good" in r.image else "defective"
        row = out.setdefault(scorer.row(r), {"normal": 0, "defective": 0, "normal_wrong": 0,
                                             "defective_wrong": 0, "unanswered": 0})
        if not counted:
            continue
        letter = scorer.letter(r)
        row[side] += 1
        if scorer.fixed_denominator and letter is None:
            row["unanswered"] += 1
            continue
        row[f"{side}_wrong"] += letter != r.answer
    for row in out.values():
        row["overkill"] = 100 * row["normal_wrong"] / row["normal"] if row["normal"] else None
        row["miss"] = 100 * row["defective_wrong"] / row["defective"] if row["defective"] else None
    return out
