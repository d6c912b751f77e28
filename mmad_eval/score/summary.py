"""Score orchestration, written once: what ``mmad-eval score``, the demo and the HTML report show for a run.

:func:`score_run` gives the MMAD-compatible table (what MMAD's summary.py prints for the run's answers file),
our fixed variant beside it (with a note whenever the two differ), the strict table, bootstrap CIs, the
Anomaly Detection overkill/miss rates and, on request, the per-category table; every piece is computed by
a :class:`Scorer`. Beside them, Anomaly Detection as a detector (AUROC, AUPR, F1-max of P(defective),
:mod:`.ad_scores`) and the calibration of the answers' confidences (:mod:`.calibration`), where the run has
what they need.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

from ..answers import AnswerRecord
from .ad_scores import DetectionReport, detection_report
from .breakdown import category_table, overkill_miss
from .calibration import Calibration, calibration
from .mmad import differing_note
from .none_option import NoneOptionReport, none_option_report
from .scorers import MMAD, MMAD_FIXED, STRICT, Scorer
from .stats import add_bootstrap_ci
from .table import ScoreTable


@dataclass
class RunScores:
    compatible: ScoreTable                 # MMAD-compatible: summary.py's numbers
    fixed: ScoreTable                      # ours, beside it
    strict: ScoreTable
    overkill_miss: dict[str, dict]         # by the strict scorer
    by_category: ScoreTable | None = None
    detection: DetectionReport | None = None   # Anomaly Detection as a detector (None without AD questions)
    calibration: Calibration | None = None     # None when no answer carries a confidence
    outside_topk: int = 0                      # answers with a shown letter outside the returned top-k
    none_option: NoneOptionReport | None = None   # questions offering "None of the listed choices", scored apart

    def as_dict(self) -> dict:
        out = {"mmad": asdict(self.compatible), "mmad_fixed": asdict(self.fixed), "strict": asdict(self.strict),
               "overkill_miss": self.overkill_miss}
        if self.by_category is not None:
            out["by_category"] = asdict(self.by_category)
        for key in ("detection", "calibration", "none_option"):
            if getattr(self, key) is not None:
                out[key] = asdict(getattr(self, key))
        if self.outside_topk:
            out["outside_topk"] = self.outside_topk
        return out


def scored_table(answers: Sequence[AnswerRecord], scorer: Scorer, n_boot: int = 0, seed: int = 0) -> ScoreTable:
    """The scorer's table, with bootstrap CIs when ``n_boot`` > 0 and something counts."""
    table = scorer.table(answers)
    return add_bootstrap_ci(table, answers, scorer, n_boot=n_boot, seed=seed) if n_boot > 0 else table


def compatible_tables(answers: Sequence[AnswerRecord], n_boot: int = 0, seed: int = 0
                      ) -> tuple[ScoreTable, ScoreTable]:
    """(the MMAD-compatible table with CIs, our fixed variant's), each noting where they differ."""
    table = scored_table(answers, MMAD, n_boot, seed)
    fixed = MMAD_FIXED.table(answers)
    note = differing_note(table, fixed)
    if note:
        table.notes.append(note)
        fixed.notes.append(note)
    return table, fixed


def score_run(answers: Sequence[AnswerRecord], strict: Scorer = STRICT, n_boot: int = 1000, seed: int = 0,
              by_category: bool = False) -> RunScores:
    table, fixed = compatible_tables(answers, n_boot, seed)
    return RunScores(compatible=table, fixed=fixed, strict=scored_table(answers, strict, n_boot, seed),
                     overkill_miss=overkill_miss(answers, strict),
                     by_category=category_table(answers, strict) if by_category else None,
                     detection=detection_report(answers, n_boot=n_boot, seed=seed, category_ci=by_category),
                     calibration=calibration(answers),
                     outside_topk=sum(bool((r.meta or {}).get("outside_topk")) for r in answers if r.rotation == 0),
                     none_option=none_option_report(answers))
