"""Score tables: rows per dataset (or category), the seven subtask columns plus Average, a headline row."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..questions.model import SUBTASKS

COLUMNS = (*SUBTASKS, "Average")


@dataclass
class ScoreTable:
    name: str                                              # e.g. "mmad", "strict"
    rows: dict[str, dict[str, float | None]]               # dataset -> column -> percent (None = empty cell)
    overall: dict[str, float | None]                       # headline row
    counts: dict[str, dict[str, int]] = field(default_factory=dict)   # dataset -> column -> questions
    ci: dict[str, tuple[float, float]] = field(default_factory=dict)  # column -> 95% CI of the headline
    notes: list[str] = field(default_factory=list)         # warnings (e.g. exact vs corrected differ)
    extra: dict = field(default_factory=dict)              # parse-failure rate, error rate, ...
