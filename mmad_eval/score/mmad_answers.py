"""MMAD's answer-file format and accuracy CSV, for exchanging runs with the reference scripts.

Answer file: a JSON list, one entry per question, as the reference scripts write it::

    {"image": "<query key>",
     "question": {"type": "text", "text": "Question 1: <question> \\nA. ...\\nB. ...\\n", "options": {...}},
     "question_type": "<MMAD type>", "correct_answer": "B", "gpt_answer": "B"}

``gpt_answer`` holds the reference-parsed letter (what the reference scorer compares); when no letter was
found we store the raw reply (the reference scorer drops it either way) and "" for a failed request.

Importing: ``reply`` = ``gpt_answer``. ``reference_parsed`` = ``gpt_answer`` when it is exactly one of A-E,
else None: the reference scorer does not parse again, so this reproduces the published numbers. The strict
parser runs on ``gpt_answer`` with the options from ``question["options"]`` when the file has them;
without options it accepts only bare or explicit letters A-E. Question indexes come from
"Question N:" in the question text, else from the order of the image's entries.
"""
from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from pathlib import Path
from typing import Sequence

from ..atomic_write import write_text
from ..inputfile import parse_json, read_input
from ..errors import DataError
from ..parse import parse_reply
from ..questions.model import LETTERS, SUBTASKS, TYPES
from ..answers import AnswerRecord
from .mmad import in_answers_file
from .table import ScoreTable

_QNUM = re.compile(r"^\s*Question\s+(\d+)\s*:\s*")


def to_mmad_answers(records: Sequence[AnswerRecord], letters: str = "reference") -> list[dict]:
    """Records as MMAD answer entries (those :func:`in_answers_file`); ``letters`` = "reference" or "strict"
    for gpt_answer."""
    if letters not in ("reference", "strict"):
        raise ValueError(f"letters must be 'reference' or 'strict', got {letters!r}")
    out = []
    for r in records:
        if not in_answers_file(r):
            continue
        letter = r.reference_parsed if letters == "reference" else r.parsed
        gpt = letter if letter is not None else ("" if r.error is not None else (r.reply or ""))
        qtext = r.question or str(r.meta.get("question", ""))
        opts = "".join(f"{k}. {v}\n" for k, v in r.options.items())
        out.append({"image": r.image,
                    "question": {"type": "text", "text": f"Question {r.index + 1}: {qtext} \n{opts}",
                                 "options": dict(r.options)},
                    "question_type": r.type, "correct_answer": r.answer, "gpt_answer": gpt})
    return out


def write_mmad_answers(records: Sequence[AnswerRecord], path: Path, letters: str = "reference") -> int:
    entries = to_mmad_answers(records, letters)
    write_text(path, json.dumps(entries, indent=4, ensure_ascii=False) + "\n")
    return len(entries)


def load_mmad_answers(path: Path) -> list[AnswerRecord]:
    """Read an MMAD answer file (e.g. a published run) as AnswerRecords, parsed by both parsers."""
    path = Path(path)
    data = parse_json(read_input(path, "answer file"), str(path))
    if not isinstance(data, list):
        raise DataError("expected a JSON list of answer entries", culprit=str(path))
    seen: Counter = Counter()
    out = []
    for i, e in enumerate(data):
        where = f"{path}[{i}]"
        if not isinstance(e, dict) or any(k not in e for k in ("image", "question_type", "correct_answer")):
            raise DataError("entry needs 'image', 'question_type', 'correct_answer'", culprit=where)
        if e["question_type"] not in TYPES:
            raise DataError(f"unknown question_type {e['question_type']!r}", culprit=where)
        q = e.get("question")
        options = q.get("options") if isinstance(q, dict) and isinstance(q.get("options"), dict) else {}
        options = {str(k): str(v) for k, v in options.items()}
        text = q.get("text", "") if isinstance(q, dict) else str(q or "")
        m = _QNUM.match(text)
        index = int(m.group(1)) - 1 if m else seen[e["image"]]
        seen[e["image"]] += 1
        gpt = e.get("gpt_answer")
        reply = gpt if isinstance(gpt, str) else ("" if gpt is None else str(gpt))
        parsed, rule = parse_reply(reply, options)
        meta = {"source": "mmad_answers"}
        out.append(AnswerRecord(image=str(e["image"]), index=index, type=e["question_type"], options=options,
                                question=_QNUM.sub("", text.split(" \n")[0]),
                                answer=str(e["correct_answer"]), reply=reply, parsed=parsed, rule=rule,
                                reference_parsed=reply if reply in tuple(LETTERS) else None, meta=meta))
    return out


def write_accuracy_csv(table: ScoreTable, path: Path, overkill_miss: dict[str, dict] | None = None) -> None:
    """MMAD's ``*_accuracy.csv`` layout: an unnamed index column of datasets then "Average", the subtask
    columns then "Average" (then "Overkill", "Miss" when given, as the reference's show_overkill_miss)."""
    cols = [c for c in SUBTASKS if table.overall.get(c) is not None or
            any(row.get(c) is not None for row in table.rows.values())] + ["Average"]
    extra = ["Overkill", "Miss"] if overkill_miss is not None else []
    f = io.StringIO(newline="")
    w = csv.writer(f)
    w.writerow(["", *cols, *extra])
    for name, row in table.rows.items():
        om = (overkill_miss or {}).get(name, {})
        w.writerow([name, *(_cell(row.get(c)) for c in cols), *(_cell(om.get(k.lower())) for k in extra)])
    w.writerow(["Average", *(_cell(table.overall.get(c)) for c in cols), *([""] * len(extra))])
    write_text(path, f.getvalue())


def _cell(v) -> str:
    return "" if v is None else repr(float(v))
