"""Apply errata before scoring (to answer records) or to a question set (a corrected question file).

Scoring: an ``exclude`` entry drops its questions; ``correct_answer`` sets the correct letter to the option
whose text is ``answer_text`` (as shown to the model, so shuffled options work); ``replace_references``
drops its questions too, since those answers were given with the wrong reference image (re-ask them with a
corrected question file). Nothing here changes the official score: callers score both lists.
"""
from __future__ import annotations

import dataclasses
import fnmatch
import re
from collections import Counter

from ..questions.model import ImageEntry, QuestionSet, split_key
from .model import Errata
from .pattern import compile_pattern


def _norm(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def matches(entry: dict, image: str, index: int, qtype: str, answer_text: str) -> bool:
    t = entry["target"]
    if "images" in t and image not in t["images"]:
        return False
    if "image_glob" in t and not fnmatch.fnmatchcase(image, t["image_glob"]):
        return False
    if t.get("question") is not None and t["question"] != index:
        return False
    if t.get("types") and qtype not in t["types"]:
        return False
    if t.get("answer_pattern") and not compile_pattern(t["answer_pattern"]).search(answer_text):
        return False
    return True


@dataclasses.dataclass
class Changes:
    """What the errata changed: per entry id, how many questions it excluded or corrected."""

    excluded: Counter = dataclasses.field(default_factory=Counter)
    corrected: Counter = dataclasses.field(default_factory=Counter)
    not_applicable: Counter = dataclasses.field(default_factory=Counter)   # answer_text not among the options
    questions: int = 0              # distinct questions changed

    def per_entry(self) -> dict[str, dict]:
        ids = set(self.excluded) | set(self.corrected) | set(self.not_applicable)
        return {i: {"excluded": self.excluded[i], "corrected": self.corrected[i],
                    **({"not_applicable": self.not_applicable[i]} if self.not_applicable[i] else {})}
                for i in sorted(ids)}

    def as_dict(self) -> dict:
        return {"questions_changed": self.questions, "excluded": sum(self.excluded.values()),
                "corrected": sum(self.corrected.values()), "per_entry": self.per_entry()}


def _letter_for(options: dict[str, str], text: str) -> str | None:
    want = _norm(text)
    return next((L for L, t in options.items() if _norm(t) == want), None)


def apply_to_answers(answers: list, errata: Errata) -> tuple[list, Changes]:
    """A new list of answer records with the applied errata; the input records are not modified."""
    active = errata.applied()
    changes = Changes()
    out = []
    for rec in answers:
        hits = [e for e in active if matches(e, rec.image, rec.index, rec.type, rec.options.get(rec.answer, ""))]
        if not hits:
            out.append(rec)
            continue
        drop = next((e for e in hits if e["fix"]["action"] in ("exclude", "replace_references")), None)
        if drop is not None:
            changes.excluded[drop["id"]] += 1
            changes.questions += rec.rotation == 0
            continue
        fix = hits[0]
        letter = _letter_for(rec.options, fix["fix"]["answer_text"])
        if letter is None:
            changes.not_applicable[fix["id"]] += 1
            out.append(rec)
        elif letter == rec.answer:
            out.append(rec)
        else:
            changes.corrected[fix["id"]] += 1
            changes.questions += rec.rotation == 0
            out.append(dataclasses.replace(rec, answer=letter))
    return out, changes


def _pools(qs: QuestionSet) -> dict[str, list[str]]:
    pools: dict[str, set[str]] = {}
    for e in qs.entries.values():
        pools.setdefault("/".join(split_key(e.key)), set()).update(e.similar_templates, e.random_templates)
    return {c: sorted(p) for c, p in pools.items()}


def _new_references(entry: ImageEntry, fix: dict, pools: dict[str, list[str]]) -> tuple[list[str], list[str]]:
    """The entry's (similar, random) references after the fix: the fix's own list, else the entry's references
    that belong to the named category's pool kept in place, the others replaced by unused images of that pool;
    never one in ``drop``."""
    given = list(fix.get("references") or [])
    if given:
        return given[:len(entry.similar_templates)], given[:len(entry.random_templates)]
    cat, drop = fix["category"], set(fix.get("drop") or [])
    pool = pools.get(cat) or next((p for c, p in pools.items() if c.split("/", 1)[-1] == cat.split("/")[-1]), [])
    pool = [r for r in pool if r not in drop]

    def refill(old: list[str]) -> list[str]:
        spare = iter([r for r in pool if r not in old])
        return [r for r in (r if r in pool else next(spare, None) for r in old) if r is not None]

    return refill(entry.similar_templates), refill(entry.random_templates)


def apply_to_questions(qs: QuestionSet, errata: Errata) -> tuple[QuestionSet, Changes]:
    """A corrected copy of the question set: excluded questions removed (an image left without questions is
    removed), answers corrected, references replaced (by the entry's list, or the first images of the named
    category's reference pool in this set). Question indices are kept, so ids stay comparable."""
    active = errata.applied()
    pools = _pools(qs)
    changes = Changes()
    entries = {}
    for key, e in qs.entries.items():
        questions, new_e = [], e
        for q in e.questions:
            hits = [x for x in active if matches(x, key, q.index, q.type, q.options[q.answer])]
            fix = next((x for x in hits if x["fix"]["action"] == "exclude"), None)
            if fix is not None:
                changes.excluded[fix["id"]] += 1
                changes.questions += 1
                continue
            changed = False
            for x in hits:
                if x["fix"]["action"] == "correct_answer":
                    letter = _letter_for(q.options, x["fix"]["answer_text"])
                    if letter is None:
                        changes.not_applicable[x["id"]] += 1
                    elif letter != q.answer:
                        q = dataclasses.replace(q, answer=letter)
                        changes.corrected[x["id"]] += 1
                        changed = True
                elif x["fix"]["action"] == "replace_references":
                    if new_e is e:
                        sim, rand = _new_references(e, x["fix"], pools)
                        new_e = dataclasses.replace(e, similar_templates=sim, random_templates=rand)
                    changes.corrected[x["id"]] += 1
                    changed = True
            changes.questions += changed
            questions.append(q)
        if questions:
            entries[key] = dataclasses.replace(new_e, questions=questions)
    return QuestionSet(entries=entries, sha256="", source=qs.source), changes
