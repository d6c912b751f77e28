"""Our JSONL question format: one question per line, with its image-level fields repeated.

Each line: ``qid, image, index, dataset, category, type, question, options, answer, provenance, seed,
similar_templates, random_templates, mask_path`` (+ ``image_path`` and ``extra`` when present). Lines of one
image are consecutive and in conversation order; loading groups them back into MMAD-style entries, so
``mmad.json -> jsonl -> mmad.json`` gives the same file.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ..atomic_write import write_bytes
from ..errors import DataError, quote
from ..inputfile import parse_json, read_input
from .grounding import GROUNDING, check_grounding
from .identity import git_blob_sha1
from .model import LETTERS, TYPES, ImageEntry, Question, QuestionSet


def question_record(entry: ImageEntry, q: Question) -> dict:
    rec = {"qid": q.qid, "image": entry.key, "index": q.index, "dataset": q.dataset, "category": q.category,
           "type": q.type, "question": q.text, "options": dict(q.options), "answer": q.answer,
           "provenance": q.provenance, "seed": q.provenance.get("seed"),
           "similar_templates": entry.similar_templates, "random_templates": entry.random_templates,
           "mask_path": entry.mask_path}
    if entry.image_path is not None:
        rec["image_path"] = entry.image_path
    if q.extra:
        rec["extra"] = q.extra
    if entry.extra:
        rec["entry_extra"] = entry.extra
    return rec


def write_jsonl(qs: QuestionSet, path: Path) -> str:
    """Write the set as JSONL; returns the SHA-256 of the bytes written."""
    lines = [json.dumps(question_record(e, q), ensure_ascii=False, sort_keys=False)
             for e in qs.entries.values() for q in e.questions]
    data = ("\n".join(lines) + ("\n" if lines else "")).encode("utf-8")
    write_bytes(path, data)
    return hashlib.sha256(data).hexdigest()


def load_jsonl(path: Path) -> QuestionSet:
    path = Path(path)
    raw = read_input(path, "question file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"not UTF-8 (byte {e.start})", culprit=str(path)) from None
    entries: dict[str, ImageEntry] = {}
    seen: dict[str, tuple[str, dict]] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        rec = parse_json(line, where)
        _check(rec, where)
        if _duplicate(rec, where, seen):
            continue
        entry = entries.get(rec["image"])
        if entry is None:
            entry = entries[rec["image"]] = ImageEntry(
                key=rec["image"], questions=[], similar_templates=list(rec.get("similar_templates") or []),
                random_templates=list(rec.get("random_templates") or []), mask_path=rec.get("mask_path") or "",
                image_path=rec.get("image_path"), extra=dict(rec.get("entry_extra") or {}))
        entry.questions.append(Question(image=rec["image"], index=len(entry.questions), type=rec["type"],
                                        text=rec["question"], options=dict(rec["options"]), answer=rec["answer"],
                                        provenance=dict(rec.get("provenance") or {}),
                                        extra=dict(rec.get("extra") or {})))
    return QuestionSet(entries=entries, sha256=hashlib.sha256(raw).hexdigest(), source=str(path),
                       git_blob=git_blob_sha1(raw))


def _duplicate(rec: dict, where: str, seen: dict) -> bool:
    """True for an exact repeat of an earlier line's question (dropped); DataError when a ``qid`` comes back
    with other content (it would be renumbered and scored as another question)."""
    qid = rec.get("qid")
    if not isinstance(qid, str):
        return False
    content = {k: v for k, v in rec.items() if k not in ("provenance", "seed")}
    if qid in seen:
        first, old = seen[qid]
        if old != content:
            raise DataError(f"qid {quote(qid)} was already used at {first} for another question", culprit=where)
        return True
    seen[qid] = (where, content)
    return False


def _check(rec, where: str) -> None:
    if not isinstance(rec, dict):
        raise DataError("each line must be a JSON object", culprit=where)
    missing = [f for f in ("image", "type", "question", "options", "answer") if f not in rec]
    if missing:
        raise DataError(f"missing field(s) {', '.join(missing)}", culprit=where)
    if not isinstance(rec["image"], str) or not rec["image"]:
        raise DataError(f"'image' must be a path (a string), got {rec['image']!r}", culprit=where)
    if not isinstance(rec["type"], str) or rec["type"] not in (*TYPES, GROUNDING):
        raise DataError(f"unknown question type {quote(rec['type'])}", culprit=where)
    if rec["type"] == GROUNDING:    # boxes, not a letter: no options, the truth as JSON (questions/grounding.py)
        check_grounding(rec["options"], rec["answer"], where)
    if not isinstance(rec["question"], str) or not rec["question"].strip():
        raise DataError(f"'question' must be non-empty text, got {quote(rec['question'])}", culprit=where)
    opts = rec["options"]
    letters_ok = isinstance(opts, dict) and opts and all(k in set(LETTERS) for k in opts)
    if rec["type"] != GROUNDING and not letters_ok:
        raise DataError("options must be an object keyed by letters A-E", culprit=where)
    if not all(isinstance(v, str) for v in opts.values()):
        raise DataError(f"option texts must be strings, got {quote(opts)}", culprit=where)
    if rec["type"] != GROUNDING and (not isinstance(rec["answer"], str) or rec["answer"] not in opts):
        raise DataError(f"answer {quote(rec['answer'])} is not one of the options {quote(list(opts))}",
                        culprit=where)


def load_questions(path: Path) -> QuestionSet:
    """Load either format: ``.jsonl`` as ours, anything else as MMAD's mmad.json."""
    if str(path).endswith(".jsonl"):
        return load_jsonl(path)
    from .mmad_io import load_mmad_json

    return load_mmad_json(path)
