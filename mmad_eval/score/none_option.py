"""Scores of questions that offer a none option ("None of the listed choices."), kept apart from the
MMAD tables: on unanswerable questions (the none option is right), how often the model still picked a listed
option (a forced wrong pick); on answerable ones, how often it wrongly picked none."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ..answers import AnswerRecord
from ..questions.none_option import none_letter


@dataclass
class NoneOptionReport:
    unanswerable: int             # questions whose right answer is the none option
    none_picked: int              # ... answered none (right)
    forced_picks: int             # ... answered a listed option (wrong: the model invented an answer)
    unanswerable_unparsed: int    # ... no letter read, or the request failed
    answerable: int               # questions offering none whose right answer is listed
    false_none: int               # ... answered none (wrong)
    answerable_right: int

    @staticmethod
    def _pct(n: int, d: int) -> float | None:
        return 100.0 * n / d if d else None

    @property
    def forced_pick_rate(self) -> float | None:
        """Share (%) of unanswerable questions answered with a listed option (unparsed ones in the denominator)."""
        return self._pct(self.forced_picks, self.unanswerable)

    @property
    def none_recall(self) -> float | None:
        return self._pct(self.none_picked, self.unanswerable)

    @property
    def false_none_rate(self) -> float | None:
        return self._pct(self.false_none, self.answerable)

    def line(self) -> str:
        def f(v):
            return "-" if v is None else f"{v:.1f}%"
        return (f"none option: {self.unanswerable} unanswerable questions: none picked {f(self.none_recall)}, "
                f"a listed option forced {f(self.forced_pick_rate)} ({self.forced_picks}), unparsed or failed "
                f"{self.unanswerable_unparsed}; {self.answerable} answerable with the option: none wrongly "
                f"picked {f(self.false_none_rate)} ({self.false_none})")


def none_option_report(records: Sequence[AnswerRecord]) -> NoneOptionReport | None:
    """Over rotation 0 of the questions that offer a none option; None when no question does."""
    counts = dict.fromkeys(("unanswerable", "none_picked", "forced_picks", "unanswerable_unparsed", "answerable",
                            "false_none", "answerable_right"), 0)
    seen = False
    for r in records:
        letter = none_letter(r.options) if r.rotation == 0 else None
        if letter is None:
            continue
        seen = True
        picked = r.parsed if r.error is None else None
        if r.answer == letter:
            counts["unanswerable"] += 1
            counts["none_picked"] += picked == letter
            counts["forced_picks"] += picked is not None and picked != letter
            counts["unanswerable_unparsed"] += picked is None
        else:
            counts["answerable"] += 1
            counts["false_none"] += picked == letter
            counts["answerable_right"] += picked == r.answer
    return NoneOptionReport(**counts) if seen else None
