"""Judging open-ended answers (``mmad-eval judge``): a judge model grades each answer of an open-answer run
against the reference answer on a rubric's dimensions, through the store like any request.

The rubric (a JSON file: ``dimensions`` [{name, description}], ``scale`` [low, high]; default
``prompts/rubrics/robustmad.json``, RobustMAD's four dimensions) and the judge template
(``prompts/judge_open.j2``) are rendered into each judge request, so both are part of its key: another
rubric, another judge model or another wording is asked again, the same one is served from the store (a
killed judging resumes with nothing asked twice). A reply is read as a JSON object of integer grades within
the scale; any other reply is an invalid grading, counted and left out of the means (never guessed).
"""
from __future__ import annotations

import functools
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import jinja2

from ..answers import AnswerRecord
from ..errors import ConfigError
from ..inputfile import parse_json, read_input
from ..prompt.message import Message, Request, TextPart
from ..prompt.render import PROMPT_DIR
from .executor import StoreCachedBackend
from .store import Store

DEFAULT_RUBRIC = PROMPT_DIR / "rubrics" / "robustmad.json"
TEMPLATE = "judge_open.j2"
_ROLE = re.compile(r"<<role:(system|user)>>")
_OBJECT = re.compile(r"\{[^{}]*\}", re.S)


MAX_SCALE_STEPS = 100        # grades a rubric's scale may span (kappa's table is steps x steps)


@dataclass(frozen=True)
class Rubric:
    name: str
    dimensions: tuple[tuple[str, str], ...]     # (name, description)
    scale: tuple[int, int]
    sha256: str

    @classmethod
    def load(cls, path: Path | None = None) -> "Rubric":
        path = Path(path) if path else DEFAULT_RUBRIC
        raw = read_input(path, what="rubric file")
        data = parse_json(raw, str(path))
        try:
            dims = tuple((str(d["name"]), str(d["description"])) for d in data["dimensions"])
            lo, hi = (int(x) for x in data.get("scale", (1, 5)))
        except (KeyError, TypeError, ValueError):
            raise ConfigError('a rubric is {"dimensions": [{"name", "description"}, ...], "scale": [1, 5]}',
                              culprit=str(path)) from None
        if not dims or not lo < hi <= lo + MAX_SCALE_STEPS or len({d for d, _ in dims}) != len(dims):
            raise ConfigError("a rubric needs distinct dimensions and a scale [low, high] with low < high "
                              f"and at most {MAX_SCALE_STEPS} steps",
                              culprit=str(path))
        return cls(str(data.get("name") or path.stem), dims, (lo, hi), hashlib.sha256(raw).hexdigest())


@functools.lru_cache(maxsize=1)
def _template() -> jinja2.Template:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(PROMPT_DIR)), undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True, autoescape=False)
    return env.get_template(TEMPLATE)


def _inert(text: str) -> str:
    """Text with its role markers broken (``<< role:...>>``): a judged model's answer is data inside the user
    message, never a message of its own (a system message telling the judge how to grade)."""
    return _ROLE.sub(lambda m: "<< " + m.group(0)[2:], text)


def judge_request(rubric: Rubric, record: AnswerRecord) -> Request:
    """The judge's request for one open answer (text only: the judge does not see the image)."""
    text = _template().render(
        question=_inert(record.question), reference=_inert(record.reference_text),
        answer=_inert(record.reply or ""),
        dimensions=[{"name": n, "description": d} for n, d in rubric.dimensions], scale_min=rubric.scale[0],
        scale_max=rubric.scale[1])
    pieces = _ROLE.split(text)
    messages = tuple(Message(role, (TextPart(body.strip()),)) for role, body in zip(pieces[1::2], pieces[2::2]))
    return Request(messages=messages, qids=(record.qid,), meta={"judge": "open-1", "rubric": rubric.name})


def read_grades(text: str | None, rubric: Rubric) -> dict[str, int] | None:
    """The grades of a judge reply: the last JSON object holding every dimension as a whole number within the
    scale; None when there is none (an invalid grading)."""
    lo, hi = rubric.scale
    for found in reversed(_OBJECT.findall(text or "")):
        try:
            obj = json.loads(found)
        except json.JSONDecodeError:
            continue
        grades = {n: obj.get(n) for n, _ in rubric.dimensions} if isinstance(obj, dict) else {}
        if grades and all(isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi for v in grades.values()):
            return grades
    return None


@dataclass
class Judged:
    """One run's judged answers: qid -> grades (None: invalid grading or failed judge call)."""

    run: str
    judge: str
    rubric: Rubric
    grades: dict[str, dict[str, int] | None] = field(default_factory=dict)
    records: dict[str, AnswerRecord] = field(default_factory=dict)
    unanswered: int = 0          # answers without a reply (their request failed): not judged
    asked: int = 0               # judge requests sent in this invocation
    failed: int = 0              # answers whose judge call failed (asked again by the next `judge`)


def judge_run(store: Store, backend, run_name: str, answers: list[AnswerRecord], rubric: Rubric,
              progress: bool = False) -> Judged:
    """Grade every answered question of one open-answer run (rotation 0); judge calls through the store."""
    out = Judged(run_name, backend.model, rubric)
    identity = backend.identity()
    keyed = {}
    for r in answers:
        if r.rotation != 0:
            continue
        if r.error is not None or not r.reply:
            out.unanswered += 1
            continue
        req = judge_request(rubric, r)
        keyed[r.qid] = (req.key(identity), req)
        out.records[r.qid] = r
    outcome = StoreCachedBackend(backend, store).answer({k: req for k, req in keyed.values()}, progress=progress,
                                                        retry_failed=True)   # a failed judge call is asked again
    out.asked = outcome.asked
    rows = store.requests_for(k for k, _ in keyed.values())
    for qid, (key, _) in keyed.items():
        row = rows.get(key)
        ok = bool(row) and row["status"] == "ok"
        out.grades[qid] = read_grades(row["text"], rubric) if ok else None
        out.failed += not ok
    return out


def judged_path(out_dir: Path, run: str) -> Path:
    """Where ``mmad-eval judge`` writes a run's graded results (read back by the report)."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in run)
    return Path(out_dir) / f"judged_{safe}.json"
