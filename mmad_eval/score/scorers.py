"""Scorers: one object per scoring variant, saying what counts, what is correct and which denominator.

Every table, bootstrap, breakdown, comparison, the CLI and the report take a :class:`Scorer`; nothing
switches on a scorer's name. The three built in:

* :data:`STRICT`: the strict cascade's letter; unparsed replies, abstentions and failed requests count wrong (fixed
  denominator); ``MVTec-AD/`` keys grouped with DS-MVTec; empty cells left out of every mean.
* :data:`MMAD` ("mmad", MMAD-compatible): exactly what MMAD's summary.py prints for the run's answers file
  (answers without a letter A-E leave the denominator and the answer right after each is skipped, as the
  script's loop does; an empty cell scores 0; ``MVTec-AD/`` keys form their own row).
* :data:`MMAD_FIXED` ("mmad-fixed", ours): the same letters and denominator without the skipped answers,
  with ``MVTec-AD/`` keys grouped with DS-MVTec and empty cells left out.

A new scorer (e.g. likelihood-based) subclasses :class:`Scorer`.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Sequence

from ..answers import AnswerRecord
from .cells import CellIndex, build_index
from .mmad import corrected_dataset, counted_flags, in_answers_file, mmad_score
from .strict import strict_correct, strict_score
from .table import ScoreTable


class Scorer(ABC):
    name: str                      # table name and CLI value, e.g. "strict"
    title: str                     # for people, e.g. "Strict (fixed denominator)"
    exact: bool = False            # MMAD's arithmetic: empty cells score 0 and count in means
    fixed_denominator: bool = True  # every question counts (unanswered = wrong)

    @abstractmethod
    def row(self, r: AnswerRecord) -> str:
        """The table row (dataset grouping) a record belongs to."""

    @abstractmethod
    def letter(self, r: AnswerRecord) -> str | None:
        """The letter this scorer reads from the record (None: no answer)."""

    def correct(self, r: AnswerRecord) -> bool:
        return r.error is None and self.letter(r) is not None and self.letter(r) == r.answer

    def counted(self, records: Sequence[AnswerRecord]) -> list[bool]:
        """Which records are in the denominator (all of them for a fixed denominator)."""
        return [True] * len(records)

    def records(self, records: Sequence[AnswerRecord]) -> list[AnswerRecord]:
        """The records this scorer looks at, in order (rotation 0)."""
        return [r for r in records if r.rotation == 0]

    def index(self, records: Sequence[AnswerRecord], row_of=None) -> CellIndex:
        """The cell index of :meth:`records` (rows by ``row_of``, default :meth:`row`)."""
        recs = self.records(records)
        return build_index(recs, row_of or self.row, self.counted(recs), [self.correct(r) for r in recs])

    @abstractmethod
    def table(self, records: Sequence[AnswerRecord]) -> ScoreTable:
        """The score table, with the scorer's own notes and extras."""


@dataclass(frozen=True)
class StrictScorer(Scorer):
    name = "strict"
    title = "Strict (fixed denominator)"

    def row(self, r):
        return corrected_dataset(r)

    def letter(self, r):
        return r.parsed if r.error is None else None

    def correct(self, r):
        return strict_correct(r)

    def table(self, records):
        return strict_score(records)


@dataclass(frozen=True)
class MMADScorer(Scorer):
    fixed: bool = False             # ours: no skip after a drop, MVTec-AD grouped, empty cells left out
    fixed_denominator = False       # answers without a letter A-E leave the denominator

    @property
    def name(self) -> str:
        return "mmad-fixed" if self.fixed else "mmad"

    @property
    def title(self) -> str:
        return "MMAD fixed (ours)" if self.fixed else "MMAD-compatible (what MMAD's summary.py prints)"

    @property
    def exact(self) -> bool:
        return not self.fixed

    def records(self, records):
        return [r for r in records if in_answers_file(r)]

    def row(self, r):
        return corrected_dataset(r) if self.fixed else r.dataset

    def letter(self, r):
        return r.reference_parsed

    def correct(self, r):
        return r.reference_parsed == r.answer

    def counted(self, records):
        return counted_flags(records, skip_after_drop=not self.fixed)

    def table(self, records):
        return mmad_score(records, fixed=self.fixed)


STRICT = StrictScorer()
MMAD = MMADScorer()
MMAD_FIXED = MMADScorer(fixed=True)
SCORERS: dict[str, Scorer] = {s.name: s for s in (STRICT, MMAD, MMAD_FIXED)}
