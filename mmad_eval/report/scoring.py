"""The report's one door to ``mmad_eval.score``: every number shown comes through here, nothing is re-scored.

``Scoring`` turns a run's answers into the few shapes the report draws. The default implementation calls
the score package; tests may pass another object with the same methods.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from ..answers import AnswerRecord
from ..score.ad_scores import DetectionReport, detection_report
from ..score.breakdown import category_table, overkill_miss
from ..score.calibration import Calibration, calibration
from ..score.compare import compare_runs
from ..score.ranking import Entrant, Ranking, compatible_gap, rank_runs
from ..score.scorers import STRICT, Scorer
from ..score.summary import compatible_tables, scored_table
from ..score.table import COLUMNS, ScoreTable


@dataclass
class PairRow:
    """One subtask (or "Overall") of a paired comparison of two runs on the questions both answered."""

    column: str
    n: int                         # paired questions
    acc_a: float | None            # percent
    acc_b: float | None
    diff: float | None             # b - a, percentage points
    ci: tuple[float, float] | None = None
    p_value: float | None = None   # McNemar (exact or chi-square, as the score package decides)
    a_only: int = 0                # questions only A got right
    b_only: int = 0                # questions only B got right

    @property
    def significant(self) -> bool:
        return self.p_value is not None and self.p_value < 0.05


@dataclass
class Breakdown:
    categories: dict[str, dict[str, float | None]] = field(default_factory=dict)   # category -> subtask -> %
    category_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    ad: dict[str, dict[str, float | int | None]] = field(default_factory=dict)
    # dataset -> {"overkill": % of normal images called defective, "miss": % of defective called normal,
    #             "normal": n, "defective": n, "unanswered": n} (score.breakdown.overkill_miss)


class Scoring(Protocol):
    def compatible(self, answers: list[AnswerRecord]) -> ScoreTable: ...
    def strict(self, answers: list[AnswerRecord]) -> ScoreTable: ...
    def breakdown(self, answers: list[AnswerRecord]) -> Breakdown: ...
    def paired(self, a: list[AnswerRecord], b: list[AnswerRecord]) -> list[PairRow]: ...
    def detection(self, answers: list[AnswerRecord]) -> DetectionReport | None: ...
    def calibration(self, answers: list[AnswerRecord]) -> Calibration | None: ...
    def ranking(self, entrants: list[Entrant]) -> Ranking: ...
    def gap(self, answers: list[AnswerRecord], compatible: ScoreTable, strict: ScoreTable) -> str | None: ...


class PackageScoring:
    """Scores with ``mmad_eval.score`` (:mod:`mmad_eval.score.summary`, the same code as ``mmad-eval score``):
    the ``strict`` scorer's table (what every ranking uses), the MMAD-compatible table beside it (what MMAD's
    summary.py prints for the run's answers file; notes say when our fixed variant differs), bootstrap CIs
    over query images, breakdowns, the ranking and paired comparisons by the strict scorer."""

    def __init__(self, strict: Scorer = STRICT, n_boot: int = 1000, seed: int = 0):
        self.strict_scorer = strict
        self.n_boot = n_boot
        self.seed = seed

    def compatible(self, answers):
        return compatible_tables(answers, self.n_boot, self.seed)[0]

    def strict(self, answers):
        return scored_table(answers, self.strict_scorer, self.n_boot, self.seed)

    def breakdown(self, answers):
        cats = category_table(answers, self.strict_scorer)
        return Breakdown(categories=cats.rows, category_counts=cats.counts,
                         ad=overkill_miss(answers, self.strict_scorer))

    def detection(self, answers):
        """Anomaly Detection as a detector: AUROC, AUPR, F1-max with CIs and the ROC curve."""
        return detection_report(answers, n_boot=self.n_boot, seed=self.seed)

    def calibration(self, answers):
        return calibration(answers)

    def ranking(self, entrants):
        """Complete runs of one question set by strict Average; the leader tested against each (paired)."""
        return rank_runs(entrants, self.strict_scorer, n_boot=max(self.n_boot, 1), seed=self.seed)

    def gap(self, answers, compatible, strict):
        """Why summary.py's number differs from the strict one, with counts (None when they agree)."""
        return compatible_gap(answers, compatible, strict)

    def paired(self, a, b):
        cmp = compare_runs(a, b, self.strict_scorer, n_boot=self.n_boot, seed=self.seed)
        rows = []
        for col in COLUMNS:
            mc = cmp.mcnemar.get("All" if col == "Average" else col)
            if mc is None and cmp.diff.get(col) is None:
                continue
            rows.append(PairRow(column=col, n=(mc.only_a + mc.only_b + mc.both + mc.neither) if mc else 0,
                                acc_a=cmp.a.get(col), acc_b=cmp.b.get(col), diff=cmp.diff.get(col),
                                ci=cmp.ci.get(col), p_value=mc.p_exact if mc else None,
                                a_only=mc.only_a if mc else 0, b_only=mc.only_b if mc else 0))
        return rows
