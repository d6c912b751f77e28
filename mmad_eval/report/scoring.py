"""The report's one door to ``mmad_eval.score``: every number shown comes through here, nothing is re-scored.

``Scoring`` turns a run's answers into the few shapes the report draws. The default implementation calls
the score package; tests may pass another object with the same methods.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from ..records import AnswerRecord
from ..score.table import ScoreTable


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


class PackageScoring:
    """Scores with ``mmad_eval.score``: the MMAD-compatible table (exact by default, the variant that
    reproduces published numbers; notes say when the corrected one differs), the strict table, bootstrap
    CIs over query images, breakdowns and paired comparisons."""

    def __init__(self, variant: str = "exact", exact_skip_after_drop: bool = False, n_boot: int = 1000,
                 seed: int = 0):
        self.variant = variant
        self.exact_skip_after_drop = exact_skip_after_drop
        self.n_boot = n_boot
        self.seed = seed

    def compatible(self, answers):
        from ..score.mmad import mmad_scores
        from ..score.stats import add_bootstrap_ci

        exact, corrected = mmad_scores(answers, exact_skip_after_drop=self.exact_skip_after_drop)
        table = exact if self.variant == "exact" else corrected
        scorer = "mmad" if self.variant == "exact" else "mmad-corrected"
        return add_bootstrap_ci(table, answers, scorer, n_boot=self.n_boot, seed=self.seed,
                                exact_skip_after_drop=self.exact_skip_after_drop)

    def strict(self, answers):
        from ..score.stats import add_bootstrap_ci
        from ..score.strict import strict_score

        return add_bootstrap_ci(strict_score(answers), answers, "strict", n_boot=self.n_boot, seed=self.seed)

    def breakdown(self, answers):
        from ..score.breakdown import category_table, overkill_miss

        cats = category_table(answers, "strict")
        return Breakdown(categories=cats.rows, category_counts=cats.counts, ad=overkill_miss(answers, "strict"))

    def paired(self, a, b):
        from ..score.compare import compare_runs
        from ..score.table import COLUMNS

        cmp = compare_runs(a, b, "strict", n_boot=self.n_boot, seed=self.seed)
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
