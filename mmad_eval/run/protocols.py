"""MMAD question protocols: which questions go into one request, and how their options are shown.

- ``independent`` (MMAD's open-model scripts, default): one request per question.
- ``cumulative`` (MMAD's GPT-4o script): the request for question *i* lists questions 1..i of the image in
  ONE user message (as the reference script sends them) and asks for a numbered answer list; only the
  answer to the last question (*i*) is kept.
- ``per-image``: all selected questions of an image in one request, answered as lines ``1: A``.
- ``ad-then-rest`` (MMAD's Gemini script): the image's first question (Anomaly Detection) alone, then all
  its other questions together in one request.

Options are shown in their original order or in a seeded shuffle that is stable per question
(``option_seed`` + question id). Circular evaluation asks every rotation of the (ordered) option texts;
each answer carries its rotation, and a question counts only when all rotations are right (the scorer's job).
"""
from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass, field

from ..questions.grounding import GROUNDING
from ..questions.model import LETTERS, ImageEntry, Question
from .settings import ProtocolSettings


@dataclass(frozen=True)
class ShownQuestion:
    """A question as it appears in a prompt (after shuffle and rotation)."""

    question: Question
    options: dict[str, str]       # shown letter -> text
    answer: str                   # correct letter as shown
    rotation: int


@dataclass
class Unit:
    """One request to build: the questions in its prompt and the ones it answers (with their positions)."""

    prompt: list[ShownQuestion]
    answers: list[tuple[int, ShownQuestion]] = field(default_factory=list)   # (position in prompt, question)


def base_order(q: Question, protocol: ProtocolSettings) -> list[str]:
    """Original letters in display order: as in the file, or a shuffle seeded by option_seed + qid."""
    letters = list(q.options)
    if protocol.option_order == "shuffle":
        digest = hashlib.sha256(f"{protocol.option_seed}:{q.qid}".encode()).digest()
        random.Random(int.from_bytes(digest[:8], "big")).shuffle(letters)
    return letters


def show(q: Question, protocol: ProtocolSettings, rotation: int = 0) -> ShownQuestion:
    """The question with options re-lettered A.. in display order, rotated by ``rotation`` positions (a
    question without options, Defect Grounding, is shown as it is)."""
    if not q.options:
        return ShownQuestion(question=q, options={}, answer=q.answer, rotation=0)
    order = base_order(q, protocol)
    n = len(order)
    r = rotation % n
    rotated = order[r:] + order[:r]
    options = {LETTERS[i]: q.options[orig] for i, orig in enumerate(rotated)}
    answer = LETTERS[rotated.index(q.answer)]
    return ShownQuestion(question=q, options=options, answer=answer, rotation=r)


def rotations(q: Question, protocol: ProtocolSettings) -> range:
    return range(len(q.options)) if protocol.circular and q.options else range(1)


def plan_entry(entry: ImageEntry, selected: list[Question], protocol: ProtocolSettings) -> list[Unit]:
    """The requests to build for one image: ``selected`` are the questions to answer (file order).

    Defect Grounding questions are always asked alone (one request each, whatever the mode) and never
    appear in another question's prompt."""
    boxes = [q for q in selected if q.type == GROUNDING]
    if boxes:
        letters = [q for q in entry.questions if q.type != GROUNDING]
        entry = ImageEntry(key=entry.key, questions=letters, similar_templates=entry.similar_templates,
                           random_templates=entry.random_templates, mask_path=entry.mask_path)
        selected = [q for q in selected if q.type != GROUNDING]
        alone = [Unit(prompt=[s], answers=[(0, s)]) for s in (show(q, protocol) for q in boxes)]
        return _letter_units(entry, selected, protocol) + alone
    return _letter_units(entry, selected, protocol)


def _letter_units(entry: ImageEntry, selected: list[Question], protocol: ProtocolSettings) -> list[Unit]:
    mode = protocol.question_mode
    units: list[Unit] = []
    if mode == "independent":
        for q in selected:
            for r in rotations(q, protocol):
                s = show(q, protocol, r)
                units.append(Unit(prompt=[s], answers=[(0, s)]))
    elif mode == "cumulative":
        for q in selected:
            context = [c for c in entry.questions if c.index <= q.index]
            for r in rotations(q, protocol):
                prompt = [show(c, protocol, r) for c in context]
                units.append(Unit(prompt=prompt, answers=[(len(prompt) - 1, prompt[-1])]))
    elif mode == "per-image":
        if selected:
            n_rot = max(len(rotations(q, protocol)) for q in selected)
            for r in range(n_rot):
                prompt = [show(q, protocol, r) for q in selected]
                answers = [(i, s) for i, s in enumerate(prompt) if r < len(rotations(s.question, protocol))]
                units.append(Unit(prompt=prompt, answers=answers))
    elif mode == "ad-then-rest":
        wanted = {q.qid for q in selected}
        for group in (entry.questions[:1], entry.questions[1:]):
            chosen = [q for q in group if q.qid in wanted]
            if not chosen:
                continue
            for r in range(max(len(rotations(q, protocol)) for q in chosen)):
                prompt = [show(q, protocol, r) for q in group]
                answers = [(i, s) for i, s in enumerate(prompt)
                           if s.question.qid in wanted and r < len(rotations(s.question, protocol))]
                units.append(Unit(prompt=prompt, answers=answers))
    else:
        from ..errors import ConfigError

        raise ConfigError("unknown question mode", culprit=mode)
    return units


def prompt_questions(unit: Unit) -> list[dict]:
    """The template's ``questions`` variable: ``number`` in this prompt, ``position`` in the image's
    conversation (1-based; MMAD's scripts label "Question {position}:"), type, text and shown options."""
    return [{"number": i + 1, "position": s.question.index + 1, "type": s.question.type, "text": s.question.text,
             "options": s.options}
            for i, s in enumerate(unit.prompt)]


_LINE = re.compile(r"^[\s>#*_-]*(?:question\s*|q\s*)?(\d{1,3})[*_]*\s*[.:)\-][*_]*\s*(.*\S)?\s*$", re.IGNORECASE)


def split_numbered_reply(text: str) -> dict[int, str]:
    """Per-question segments of a numbered reply (``1: A`` / ``1. Answer: B.``), keyed by number (1-based).

    Only splits; the letter in each segment is found by the parser. A number seen twice keeps the last.
    """
    out: dict[int, str] = {}
    current = None
    for line in (text or "").splitlines():
        m = _LINE.match(line)
        if m:
            current = int(m.group(1))
            out[current] = m.group(2) or ""
        elif current is not None and line.strip():
            out[current] = (out[current] + "\n" + line).strip()
    return out


def answer_segment(text: str | None, mode: str, position: int, n_prompt: int) -> str | None:
    """The part of a reply that answers the question at ``position`` (0-based) of the prompt.

    independent: the whole reply. cumulative: the numbered line of the last question, else the whole reply
    (the reference keeps the last letter of the reply). per-image and ad-then-rest: the numbered line, else
    None.
    """
    if text is None or mode == "independent" or n_prompt <= 1:
        return text
    segment = split_numbered_reply(text).get(position + 1)
    if segment is not None:
        return segment
    return text if mode == "cumulative" else None
