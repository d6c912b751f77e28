"""The parse stage, between stored replies and scoring: every answer's letter by the strict cascade (and the
rule that fired) and by MMAD's reference parser.

Runs read from a store hold raw replies (:mod:`mmad_eval.run.load`); scoring and reports take parsed runs,
usually through :func:`load_parsed_runs`.
"""
from __future__ import annotations

from typing import Iterable

from ..answers import AnswerRecord
from ..run.load import load_run, load_runs
from ..run.loaded import LoadedRun
from . import PARSER_VERSION
from .cascade import parse_reply
from .reference import reference_parse

NO_NUMBERED_LINE = "no-numbered-line"    # the rule of a numbered reply without this question's line


def parse_answers(answers: Iterable[AnswerRecord]) -> None:
    """Fill ``parsed``, ``rule`` and ``reference_parsed`` of every answered record, in place."""
    for rec in answers:
        if rec.error is not None or rec.reply is None:
            continue
        segment = rec.meta["segment"] if "segment" in rec.meta else rec.reply
        if segment is None:
            rec.rule = NO_NUMBERED_LINE
            continue
        rec.parsed, rec.rule = parse_reply(segment, rec.options)
        rec.reference_parsed = reference_parse(segment)


def parse_run(run: LoadedRun) -> LoadedRun:
    """Parse a loaded run's answers; the record notes which parser version read them."""
    parse_answers(run.answers)
    run.record = {**run.record, "parser_version": PARSER_VERSION}
    return run


def load_parsed_runs(out_dir) -> list[LoadedRun]:
    return [parse_run(r) for r in load_runs(out_dir)]


def load_parsed_run(out_dir, name: str | None = None) -> LoadedRun:
    return parse_run(load_run(out_dir, name))
