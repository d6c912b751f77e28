"""Scores per difficulty level: RobustMAD's ``difficulty`` of each image record (any question file whose
image entries carry a ``difficulty`` field), as its own CSVs break accuracy down.

Over every letter answer of the run (MMAD's subtasks and other types alike; not Defect Grounding) whose image
has a level, per level and ``All``:

* ``strict``: the strict score's rule (an unparsed reply or a failed request is wrong; with circular
  evaluation, right only when every rotation is), over ``n`` questions, with a 95 % percentile bootstrap CI
  over images (:mod:`.by_type`);
* ``mmad_compatible``: summary.py's counting (the letter A-E of MMAD's reference parser; a reply without one
  leaves the denominator and the answer right after it is skipped, over the run's answers in order), over
  ``n_mmad`` counted answers; pooled over the level's questions (the level is not a table cell of summary.py).
"""
from __future__ import annotations

import re
from typing import Sequence

from ..answers import AnswerRecord
from .by_type import ALL, score_groups
from .mmad import counted_flags, in_answers_file


def _level_order(level: str):
    """Numbers in numeric order, then texts alphabetically."""
    return (0, float(level), "") if re.fullmatch(r"-?\d+(\.\d+)?", level) else (1, 0.0, level)


def score_by_difficulty(records: Sequence[AnswerRecord], difficulty: dict[str, str], n_boot: int = 1000,
                        seed: int = 0) -> dict[str, dict] | None:
    """level -> {n, strict, ci, parse_failures, n_mmad, mmad_compatible}, levels in order then ``All``; None
    when no record's image has a level."""
    recs = [r for r in records if r.image in difficulty]
    if not recs:
        return None
    strict = score_groups(recs, lambda r: difficulty[r.image], n_boot=n_boot, seed=seed)
    mm = [r for r in records if in_answers_file(r)]
    counted = [r for r, flag in zip(mm, counted_flags(mm, skip_after_drop=True)) if flag and r.image in difficulty]
    rows = {}
    for level in sorted((k for k in strict if k != ALL), key=_level_order) + [ALL]:
        s = strict[level]
        mine = [r for r in counted if level == ALL or difficulty[r.image] == level]
        rows[level] = {"n": s["n"], "strict": s["accuracy"], **({"ci": s["ci"]} if "ci" in s else {}),
                       "parse_failures": s["parse_failures"], "n_mmad": len(mine),
                       "mmad_compatible": (100.0 * sum(r.reference_parsed == r.answer for r in mine) / len(mine)
                                           if mine else None)}
    return rows


def format_by_difficulty(rows: dict[str, dict]) -> str:
    """The table as `mmad-eval score` prints it."""
    width = max(len(k) for k in rows) + 2
    lines = ["By difficulty (the question file's levels; strict = what rankings use, MMAD-compatible = "
             "summary.py's counting)",
             f"{'':<{width}}{'n':>7}{'strict':>9}{'95% CI':>16}{'n (MMAD)':>10}{'MMAD-compat.':>14}"]
    for level, r in rows.items():
        ci = "[%.1f, %.1f]" % tuple(r["ci"]) if "ci" in r else "-"
        mm = "-" if r["mmad_compatible"] is None else f"{r['mmad_compatible']:.2f}"
        lines.append(f"{level:<{width}}{r['n']:>7}{r['strict']:>9.2f}{ci:>16}{r['n_mmad']:>10}{mm:>14}")
    return "\n".join(lines)
