"""Score orchestration, written once: what ``mmad-eval score``, the demo and the HTML report show for a run.

:func:`score_run` gives the MMAD-compatible table of the chosen variant (with a note whenever the exact and
corrected variants differ), the strict table, bootstrap CIs for both, the Anomaly Detection overkill/miss
rates and, on request, the per-category table; every piece is computed by a :class:`Scorer`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

from ..answers import AnswerRecord
from .breakdown import category_table, overkill_miss
from .mmad import differing_note
from .scorers import MMAD_EXACT, STRICT, MMADScorer, Scorer
from .stats import add_bootstrap_ci
from .table import ScoreTable


@dataclass
class RunScores:
    compatible: ScoreTable                 # the chosen MMAD-compatible variant
    other_variant: ScoreTable              # the other one (exports keep both)
    strict: ScoreTable
    overkill_miss: dict[str, dict]         # by the strict scorer
    by_category: ScoreTable | None = None

    def as_dict(self) -> dict:
        exact, corrected = ((self.compatible, self.other_variant) if self.compatible.name == "mmad"
                            else (self.other_variant, self.compatible))
        out = {"mmad": asdict(exact), "mmad_corrected": asdict(corrected), "strict": asdict(self.strict),
               "overkill_miss": self.overkill_miss}
        if self.by_category is not None:
            out["by_category"] = asdict(self.by_category)
        return out


def scored_table(answers: Sequence[AnswerRecord], scorer: Scorer, n_boot: int = 0, seed: int = 0) -> ScoreTable:
    """The scorer's table, with bootstrap CIs when ``n_boot`` > 0."""
    table = scorer.table(answers)
    return add_bootstrap_ci(table, answers, scorer, n_boot=n_boot, seed=seed) if n_boot > 0 else table


def compatible_tables(answers: Sequence[AnswerRecord], scorer: MMADScorer = MMAD_EXACT, n_boot: int = 0,
                      seed: int = 0) -> tuple[ScoreTable, ScoreTable]:
    """(the scorer's MMAD-compatible table with CIs, the other variant's), each noting where they differ."""
    table = scored_table(answers, scorer, n_boot, seed)
    other = scorer.other_variant().table(answers)
    note = differing_note(*((table, other) if scorer.exact else (other, table)))
    if note:
        table.notes.append(note)
        other.notes.append(note)
    return table, other


def score_run(answers: Sequence[AnswerRecord], compatible: MMADScorer = MMAD_EXACT, strict: Scorer = STRICT,
              n_boot: int = 1000, seed: int = 0, by_category: bool = False) -> RunScores:
    table, other = compatible_tables(answers, compatible, n_boot, seed)
    return RunScores(compatible=table, other_variant=other, strict=scored_table(answers, strict, n_boot, seed),
                     overkill_miss=overkill_miss(answers, strict),
                     by_category=category_table(answers, strict) if by_category else None)
