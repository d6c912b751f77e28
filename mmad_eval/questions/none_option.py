"""Unanswerable questions: a "None of the listed choices." option, and questions whose true answer is removed
so that it is the right one (RobustMAD's idea: a model that always picks a listed option is caught).

:func:`add_none_option` turns any question set (ours or MMAD's) into one where every multiple-choice question
of 2-4 options gets the none option last, and a seeded ``share`` of them loses its true option. Which
questions lose it is drawn per question id (``seed`` + qid), so the choice does not depend on the file's
order or on the other questions. Anomaly Detection (a yes/no question) is left as it is. Each changed
question records ``extra["none_option"]`` (kept in the file) = ``"answerable"`` or ``"unanswerable"``; scoring does not need
it (it recognises a none option by its text, so RobustMAD's own files are scored the same way); an
unanswerable one keeps its removed option's text (``extra["removed_option"]``) for the answerability audit,
which checks that no listed option is still defensible.
"""
from __future__ import annotations

import dataclasses
import hashlib
import random
import re

from ..errors import ConfigError
from .model import LETTERS, QuestionSet

NONE_TEXT = "None of the listed choices."
NONE_PATTERN = re.compile(r"^\s*(none of the (listed |above |given |following )?(choices|options|answers)"
                          r"|none of (these|them|the above))\b", re.IGNORECASE)
SKIPPED_TYPES = ("Anomaly Detection",)


def is_none_option(text: str) -> bool:
    return bool(NONE_PATTERN.match(text or ""))


def none_letter(options: dict[str, str]) -> str | None:
    """The letter of the none option among ``options``, if there is one."""
    return next((k for k, v in options.items() if is_none_option(v)), None)


def _unanswerable(seed: int, qid: str, share: float) -> bool:
    digest = hashlib.sha256(f"{seed}:none-option:{qid}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big")).random() < share


def add_none_option(qs: QuestionSet, share: float, seed: int = 0) -> tuple[QuestionSet, dict]:
    """A copy of ``qs`` with the none option (see the module docstring) and counts of what changed."""
    if not 0.0 <= share <= 1.0:
        raise ConfigError("the unanswerable share must be between 0 and 1", culprit=str(share))
    counts = {"answerable": 0, "unanswerable": 0, "left_as_is": 0}
    entries = {}
    for key, entry in qs.entries.items():
        questions = []
        for q in entry.questions:
            texts = list(q.options.values())
            if q.type in SKIPPED_TYPES or not 2 <= len(texts) <= 4 or none_letter(q.options) or q.answer not in q.options:
                counts["left_as_is"] += 1
                questions.append(q)
                continue
            gone = _unanswerable(seed, q.qid, share)
            true = q.options[q.answer]      # (gone: every copy of its text, so no listed option stays right)
            kept = [(letter, t) for letter, t in q.options.items() if not (gone and t == true)] + [("", NONE_TEXT)]
            options = dict(zip(LETTERS, (t for _, t in kept)))
            answer = LETTERS[len(kept) - 1] if gone else LETTERS[[letter for letter, _ in kept].index(q.answer)]
            kind = "unanswerable" if gone else "answerable"
            counts[kind] += 1
            extra = {**q.extra, "none_option": kind, **({"removed_option": q.options[q.answer]} if gone else {})}
            questions.append(dataclasses.replace(q, options=options, answer=answer, extra=extra))
        entries[key] = dataclasses.replace(entry, questions=questions)
    return dataclasses.replace(qs, entries=entries), counts


HIDDEN = "?"     # the letter under which the audit puts an unanswerable question's removed option back


def with_removed_option(q):
    """For the audit: an unanswerable question with its removed option back (letter ``?``) as the answer,
    so each check judges the listed options against the true one; other questions as they are."""
    removed = q.extra.get("removed_option")
    if not removed or none_letter(q.options) != q.answer:
        return q
    return dataclasses.replace(q, options={**q.options, HIDDEN: removed}, answer=HIDDEN)
