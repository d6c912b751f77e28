"""The score with errata applied, beside (never instead of) the official one.

``compare_with_errata`` scores the answers as they are ("official") and after ``errata.apply_to_answers``
("with errata") with the same scoring function, and keeps what the errata changed (questions excluded or
answers corrected, per erratum), so a reader sees both numbers and why they differ.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ..errata import Changes, Errata, apply_to_answers
from ..questions.model import SUBTASK_SHORT, SUBTASKS
from .scorers import MMAD, STRICT, Scorer
from .table import ScoreTable

COLUMNS = (*SUBTASKS, "Average")


@dataclass
class ErrataComparison:
    official: ScoreTable
    with_errata: ScoreTable
    changes: Changes
    errata: Errata

    def errata_ref(self) -> dict:
        """How the errata file is named in run records and score exports."""
        return errata_reference(self.errata)

    def as_dict(self) -> dict:
        return {"errata": self.errata_ref(), "changes": self.changes.as_dict(),
                "official": {c: self.official.overall.get(c) for c in COLUMNS},
                "with_errata": {c: self.with_errata.overall.get(c) for c in COLUMNS},
                "notes": [{"id": n["id"], "message": n.get("message", ""), "source": n.get("source")}
                          for n in self.errata.notes()]}


def errata_reference(errata: Errata) -> dict:
    from ..errata import reported_path

    shipped = errata.path == str(reported_path())
    return {"file": "mmad-reported (shipped with mmad-eval)" if shipped else errata.path, "sha256": errata.sha256,
            "entries": len(errata.entries), "applied": len(errata.applied())}


def compare_with_errata(answers: Sequence, errata: Errata, scorer: Scorer) -> ErrataComparison:
    """Score ``answers`` as they are and with ``errata`` applied, with the same scorer."""
    fixed, changes = apply_to_answers(list(answers), errata)
    return ErrataComparison(official=scorer.table(answers), with_errata=scorer.table(fixed), changes=changes,
                            errata=errata)


def _fmt(v) -> str:
    return "-" if v is None else f"{v:.2f}"


def format_comparison(cmp: ErrataComparison, title: str) -> str:
    """A text table: one row per subtask (and Average), columns official / with errata / difference."""
    lines = [f"{title}: official vs with errata ({errata_reference(cmp.errata)['file'] or 'errata'}, "
             f"sha256 {cmp.errata.sha256[:16]})",
             f"  {'':<8}{'official':>10}{'with errata':>13}{'diff':>8}"]
    for c in COLUMNS:
        a, b = cmp.official.overall.get(c), cmp.with_errata.overall.get(c)
        diff = f"{b - a:+.2f}" if a is not None and b is not None else "-"
        lines.append(f"  {SUBTASK_SHORT.get(c, 'Avg'):<8}{_fmt(a):>10}{_fmt(b):>13}{diff:>8}")
    c = cmp.changes
    lines.append(f"  errata changed {c.questions} question(s): {sum(c.excluded.values())} excluded, "
                 f"{sum(c.corrected.values())} answer(s) corrected; {len(cmp.errata.applied())} of "
                 f"{len(cmp.errata.entries)} entries are applied (reported or confirmed, not notes)")
    for eid, n in c.per_entry().items():
        parts = [f"{k} {v}" for k, v in n.items() if v]
        lines.append(f"    {eid}: {', '.join(parts)}")
    pending = sum(e["status"] == "suspect" for e in cmp.errata.entries)
    if pending:
        lines.append(f"  {pending} suspect entries are not applied until a person confirms them")
    for note in cmp.errata.notes():
        lines.append(f"  note ({note['id']}): {note.get('message', '')}")
    return "\n".join(lines)


def errata_summary(answers: Sequence, errata: Errata, compatible: Scorer = MMAD,
                   strict: Scorer = STRICT) -> tuple[str, dict]:
    """(text, JSON-ready dict): the MMAD-compatible score and the strict Average, official and with errata,
    and what the errata changed."""
    compat = compare_with_errata(answers, errata, compatible)
    strict_cmp = compare_with_errata(answers, errata, strict)
    a, b = strict_cmp.official.overall.get("Average"), strict_cmp.with_errata.overall.get("Average")
    text = format_comparison(compat, compatible.title) + \
        f"\n  strict Average: official {_fmt(a)}, with errata {_fmt(b)}"
    s = strict_cmp.as_dict()
    return text, {**compat.as_dict(), "strict": {"official": s["official"], "with_errata": s["with_errata"]}}
