"""The parse stage, between stored replies and scoring: every answer's letter by the strict cascade (and the
rule that fired) and by MMAD's reference parser.

Runs read from a store hold raw replies (:mod:`mmad_eval.run.load`); scoring and reports take parsed runs,
usually through :func:`load_parsed_runs`.
"""
from __future__ import annotations

import json
from typing import Iterable

from ..answers import AnswerRecord
from ..questions.grounding import GROUNDING
from ..questions.model import TYPES
from ..run.load import load_run, load_runs
from ..run.loaded import LoadedRun
from . import PARSER_VERSION
from .boxes import parse_boxes
from .cascade import parse_reply
from .likelihood import choose_letter
from .reasoning import parse_reasoned
from .reference import reference_letters, reference_parse

NO_NUMBERED_LINE = "no-numbered-line"    # the rule of a numbered reply without this question's line
ABSTAINED = "abstained"                  # the rule of an answer the backend declined by design
SCRIPT_DROPS = "mmad_absent"             # meta key: the official script would not write this answer to its file


class ReferenceRule:
    """How MMAD's reference letter is read for a run: its protocol's ``reference_*`` settings (see
    :class:`mmad_eval.settings.ProtocolSettings`)."""

    def __init__(self, letter_rule: str = "last", scope: str = "segment", closest: bool = False,
                 strip: bool = False):
        self.letter_rule, self.scope, self.closest, self.strip = letter_rule, scope, closest, strip

    @classmethod
    def of(cls, protocol: dict | None) -> "ReferenceRule":
        protocol = protocol or {}
        return cls(protocol.get("reference_letter", "last"), protocol.get("reference_scope", "segment"),
                   bool(protocol.get("closest_option", False)), bool(protocol.get("reference_strip", False)))

    def letter(self, reply: str | None, segment: str | None, position: int, n_prompt: int,
               options: dict[str, str], first_question: bool = False) -> str | None:
        """The reference letter; with ``list``, the image's first question (asked alone) keeps the reply's
        last letter and the others the letter at their position, None when the count differs."""
        if self.letter_rule == "list":
            letters = reference_letters(reply)
            if first_question:
                return letters[-1] if letters else None
            return letters[position] if len(letters) == n_prompt else None
        text = reply if self.scope == "reply" else segment
        if text is None:
            return None
        if self.strip:      # the script strips the decoded reply (difflib's closest option can change)
            text = text.strip()
        return reference_parse(text, take=self.letter_rule, options=options if self.closest else None)


def parse_answers(answers: Iterable[AnswerRecord], protocol: dict | None = None,
                  answer_mode: str = "generate") -> None:
    """Fill ``parsed``, ``rule`` and ``reference_parsed`` of every answered record, in place; ``protocol``
    (the run's recorded protocol settings) says how the reference letter is read. In likelihood mode the
    letter is the most probable shown option (:mod:`.likelihood`); replies of reasoning models are read
    through :func:`.reasoning.answer_text`."""
    answers = list(answers)
    rule = ReferenceRule.of(protocol)
    for rec in answers:
        if rec.error is not None or rec.reply is None:
            continue
        if answer_mode == "likelihood":
            rec.parsed, rec.rule = choose_letter(rec.meta.get("letter_logprobs"), rec.options)
            rec.reference_parsed = rec.parsed          # the answer is a letter: MMAD's scorer gets it too
            _mark_abstention(rec)
            continue
        segment = rec.meta["segment"] if "segment" in rec.meta else rec.reply
        position, n_prompt = rec.meta.get("prompt_position", (0, 1))
        rec.reference_parsed = rule.letter(rec.reply, segment, position, n_prompt, rec.options, rec.index == 0)
        if segment is None:
            rec.rule = NO_NUMBERED_LINE
            continue
        rec.parsed, rec.rule = parse_reasoned(segment, rec.options, rec.meta.get("finish_reason"), parse_reply)
        _mark_abstention(rec)
    if rule.letter_rule == "list":
        drop_images_as_the_script_does(answers)


def parse_grounding(answers: Iterable[AnswerRecord]) -> None:
    """Fill ``parsed`` (the reply's boxes in the asked format, as JSON; None when unreadable) and ``rule`` of
    grounding answers."""
    for rec in answers:
        if rec.error is not None or rec.reply is None:
            continue
        boxes, rec.rule = parse_boxes(rec.reply)
        rec.parsed = None if boxes is None else json.dumps([list(b) for b in boxes])


def _mark_abstention(rec: AnswerRecord) -> None:
    """An answer the backend declined (``meta["abstain"]``) and no rule read is an abstention, not a parse
    failure: its rule says so."""
    if rec.abstained:
        rec.rule = ABSTAINED


def drop_images_as_the_script_does(answers: list[AnswerRecord]) -> None:
    """Gemini's script writes no answer of an image when one of its requests failed or a reply's letter
    count differs from its number of questions: mark every answer of such an image absent from the file."""
    bad: dict[str, str] = {}
    for rec in answers:
        if rec.error is not None:
            bad.setdefault(rec.image, "a request of this image failed")
        elif rec.reference_parsed is None and rec.index > 0:     # a letterless first answer is only dropped
            n = rec.meta.get("prompt_position", (0, 1))[1]
            bad.setdefault(rec.image, f"a reply had {len(reference_letters(rec.reply))} letters for {n} questions")
    for rec in answers:
        if rec.image in bad:
            rec.meta[SCRIPT_DROPS] = bad[rec.image]


def parse_run(run: LoadedRun) -> LoadedRun:
    """Parse a loaded run's answers; the record notes which parser version read them. Defect Grounding
    answers move to ``run.grounding`` (their boxes read by :mod:`.boxes`) and letter answers of types outside
    MMAD's (RobustMAD's categories) to ``run.other_types``: the MMAD letter scores never see either."""
    run.grounding += [a for a in run.answers if a.type == GROUNDING]
    run.other_types += [a for a in run.answers if a.type not in TYPES and a.type != GROUNDING]
    run.answers = [a for a in run.answers if a.type in TYPES]
    parse_grounding(run.grounding)
    settings = run.record.get("settings") or {}
    for answers in (run.answers, run.other_types):
        parse_answers(answers, settings.get("protocol"),
                      (settings.get("generation") or {}).get("answer_mode", "generate"))
    run.record = {**run.record, "parser_version": PARSER_VERSION}
    return run


def load_parsed_runs(out_dir) -> list[LoadedRun]:
    return [parse_run(r) for r in load_runs(out_dir)]


def load_parsed_run(out_dir, name: str | None = None) -> LoadedRun:
    return parse_run(load_run(out_dir, name))
