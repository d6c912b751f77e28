"""Optional LLM rephrasing of rule-based questions, through the same backends as evaluation.

Each question (Anomaly Detection's fixed Yes/No excepted) is sent with ``prompts/generate/rephrase.j2``;
the reply is accepted only if every check passes, otherwise the rule-based question is kept and the
reason logged:
- the reply parses as JSON (a fenced block is fine) with ``question``, ``options`` and ``answer``;
- same option letters in the same order, the answer letter unchanged;
- options distinct after normalisation; the question non-empty (and still stating the defect if it did);
- the correct option keeps the rule's meaning: it contains one alternative of the rule's key words (the
  defect name or a synonym, the region, the size/shape/tone words, the product name), and no distractor
  contains them all (exactly one option reads as correct);
- every rewritten option is closest in wording to the original option at its letter;
- the question text does not newly contain the correct option's key words (it must not give the answer away,
  which matters most when an image caption is given as context).
"""
from __future__ import annotations

import asyncio
import json
import re
from dataclasses import replace
from pathlib import Path

import jinja2

from ..atomic_write import write_text
from ..prompt.render import PROMPT_DIR, split_messages
from ..prompt.message import Request
from .generate.context import DEFECT_PREFIX
from .generate.options import content_words, norm, words
from .model import Question, QuestionSet

TEMPLATE = "generate/rephrase.j2"
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.S)


def _env(prompt_dir: Path | None = None) -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(prompt_dir or PROMPT_DIR)),
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def build_request(q: Question, template: jinja2.Template, caption: str | None = None) -> Request:
    """The rephrase request; ``caption`` (an accepted image caption, llm_caption.py) is given as context."""
    keywords = " / ".join(" ".join(k) for k in q.provenance.get("keywords", [])) or "(none)"
    text = template.render(type=q.type, product=q.category.replace("_", " "), question=q.text,
                           options=q.options, answer=q.answer, keywords=keywords, caption=caption)
    return Request(messages=split_messages(text, []), qids=(q.qid,), options=(tuple(q.options),),
                   meta={"purpose": "rephrase", "type": q.type})


def parse_reply(text: str) -> dict:
    m = _FENCE.search(text or "")
    body = m.group(1) if m else (text or "")
    start, end = body.find("{"), body.rfind("}")
    if start < 0 or end <= start:
        raise ValueError("no JSON object in the reply")
    data = json.loads(body[start:end + 1])
    if not isinstance(data, dict):
        raise ValueError("reply JSON is not an object")
    return data


def _has(text: str, keys: list[str]) -> bool:
    have = set(words(text))
    return all(k in have for k in words(" ".join(keys)))


def _similarity(a: str, b: str) -> float:
    x, y = set(content_words(a)), set(content_words(b))
    return len(x & y) / max(1, len(x | y))


def validate(original: Question, reply_text: str) -> tuple[Question | None, str]:
    """(rephrased question, "ok") or (None, reason)."""
    try:
        data = parse_reply(reply_text)
    except (ValueError, json.JSONDecodeError) as e:
        return None, f"unparseable reply: {e}"
    question, options, answer = data.get("question"), data.get("options"), data.get("answer")
    if not isinstance(question, str) or not question.strip():
        return None, "no question text"
    if not isinstance(options, dict) or not all(isinstance(v, str) and v.strip() for v in options.values()):
        return None, "options missing or not all text"
    if list(options) != list(original.options):
        return None, f"option letters changed: {list(options)} != {list(original.options)}"
    if answer != original.answer:
        return None, f"answer letter moved from {original.answer} to {answer!r}"
    normed = [norm(v) for v in options.values()]
    if len(set(normed)) != len(normed):
        return None, "options not distinct"
    if original.text.startswith(DEFECT_PREFIX) and "defect" not in question.lower():
        return None, "question no longer says there is a defect"
    keys = original.provenance.get("keywords") or []
    leaked = [k for k in keys if _has(question, k) and not _has(original.text, k)]
    if leaked:
        return None, f"question text gives away the answer ({' '.join(leaked[0])})"
    if keys:
        if not any(_has(options[answer], k) for k in keys):
            return None, f"correct option lost the key words {keys}"
        def reads_correct(opts: dict) -> list[str]:
            return [L for L, t in opts.items() if L != answer and any(_has(t, k) for k in keys)]

        wrong = reads_correct(options)
        if wrong and not reads_correct(original.options):   # (e.g. "top" is in "top left": judged as before)
            return None, f"distractor {wrong[0]} also reads as correct"
    for letter, text in options.items():
        best = max(original.options, key=lambda L: (_similarity(text, original.options[L]), L == letter))
        if best != letter:
            return None, f"option {letter} now reads like original option {best}"
    prov = {**original.provenance, "rephrased": True, "rule_text": {"question": original.text,
                                                                     "options": dict(original.options)}}
    return replace(original, text=question.strip(), options={k: v.strip() for k, v in options.items()},
                   provenance=prov), "ok"


async def rephrase(qs: QuestionSet, backend, *, log: list | None = None, prompt_dir: Path | None = None) -> dict:
    """Rephrase in place every question except Anomaly Detection; returns accepted/rejected counts."""
    template = _env(prompt_dir).get_template(TEMPLATE)
    index = {q.qid: q for q in qs.questions() if q.type != "Anomaly Detection"}
    captions = {k: e.extra.get("caption") for k, e in qs.entries.items()}
    items = [(qid, build_request(q, template, captions.get(q.image))) for qid, q in index.items()]
    results: dict[str, Question] = {}
    stats = {"accepted": 0, "rejected": 0, "reasons": {}}

    def emit(resp) -> None:
        q = index[resp.key]
        if not resp.ok:
            new, reason = None, f"backend error: {resp.error_type}: {resp.error_message}"
        else:
            new, reason = validate(q, resp.text)
        if new is not None:
            results[resp.key] = new
        record_decision(stats, log, {"qid": resp.key}, resp, new is not None, reason)

    await backend.generate(items, emit)
    for entry in qs.entries.values():
        entry.questions = [results.get(q.qid, q) for q in entry.questions]
    return stats


def write_log(path: Path | None, log: list) -> None:
    """One JSON line per decision (accepted or rejected, with the reason and the raw reply)."""
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in log))


def rephrase_with_model(qs: QuestionSet, backend, *, log_path: Path | None = None) -> dict:
    """Rephrase with ``backend`` (built by the caller through ``backends.registry.build_backend``, as
    ``mmad-eval run`` builds its own), close it, and write the decision log."""
    log: list = []
    try:
        stats = asyncio.run(rephrase(qs, backend, log=log))
    finally:
        backend.close()
    write_log(log_path, log)
    return stats


def record_decision(stats: dict, log: list | None, ident: dict, resp, accepted: bool, reason: str) -> None:
    """Count an accepted/refused model-written item (refusals by the reason's first clause) and log it."""
    if accepted:
        stats["accepted"] += 1
    else:
        stats["rejected"] += 1
        short = reason.split(":")[0]
        stats["reasons"][short] = stats["reasons"].get(short, 0) + 1
    if log is not None:
        log.append({**ident, "accepted": accepted, "reason": reason, "reply": resp.text if resp.ok else None})
