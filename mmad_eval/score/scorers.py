"""Scorers: one object per scoring variant, saying what counts, what is correct and which denominator.

Every table, bootstrap, breakdown, comparison, the CLI and the report take a :class:`Scorer`; nothing
switches on a scorer's name. The three built in:

* :data:`STRICT`: the strict cascade's letter; unparsed replies and failed requests count wrong (fixed
  denominator); ``MVTec-AD/`` keys grouped with DS-MVTec; empty cells left out of every mean.
* :data:`MMAD_EXACT`: MMAD's reference parser and summary script to the letter (answers without a letter
  A-E leave the denominator; an empty cell scores 0; ``MVTec-AD/`` keys form their own row).
* :data:`MMAD_CORRECTED`: the same letters and denominator, with the corrected grouping and arithmetic.

``MMADScorer(corrected, skip_after_drop=True)`` also emulates the reference loop skipping the answer after
each dropped one. A new scorer (e.g. likelihood-based) subclasses :class:`Scorer`.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Sequence

from ..answers import AnswerRecord
from .cells import CellIndex, build_index
from .mmad import corrected_dataset, counted_flags, mmad_score
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

    def index(self, records: Sequence[AnswerRecord], row_of=None) -> CellIndex:
        """The cell index on rotation 0 (rows by ``row_of``, default :meth:`row`)."""
        recs = [r for r in records if r.rotation == 0]
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
    corrected: bool = False
    skip_after_drop: bool = False   # emulate the reference loop skipping the answer after a dropped one
    fixed_denominator = False       # answers without a letter A-E leave the denominator

    @property
    def name(self) -> str:
        return "mmad-corrected" if self.corrected else "mmad"

    @property
    def variant(self) -> str:
        return "corrected" if self.corrected else "exact"

    @property
    def title(self) -> str:
        return f"MMAD-compatible ({self.variant})"

    @property
    def exact(self) -> bool:
        return not self.corrected

    def row(self, r):
        return corrected_dataset(r) if self.corrected else r.dataset

    def letter(self, r):
        return r.reference_parsed

    def correct(self, r):
        return r.reference_parsed == r.answer

    def counted(self, records):
        return counted_flags(records, self.skip_after_drop)

    def table(self, records):
        return mmad_score(records, self.variant, self.skip_after_drop)

    def other_variant(self) -> "MMADScorer":
        return MMADScorer(corrected=not self.corrected, skip_after_drop=self.skip_after_drop)


STRICT = StrictScorer()
MMAD_EXACT = MMADScorer()
MMAD_CORRECTED = MMADScorer(corrected=True)
SCORERS: dict[str, Scorer] = {s.name: s for s in (STRICT, MMAD_EXACT, MMAD_CORRECTED)}


def mmad_variant(variant: str, skip_after_drop: bool = False) -> MMADScorer:
    """The MMAD-compatible scorer of a ``--variant`` value ("exact" or "corrected")."""
    corrected = {"exact": False, "corrected": True}.get(variant)
    if corrected is None:
        raise ValueError(f"variant must be 'exact' or 'corrected', got {variant!r}")
    return MMADScorer(corrected=corrected, skip_after_drop=skip_after_drop)
