"""Read and write MMAD's ``mmad.json`` exactly (key order, field names, option order); RobustMAD's files are
read too (:mod:`.robustmad_io`)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ..atomic_write import write_bytes
from ..errors import DataError, quote
from ..inputfile import parse_json, read_input
from .grounding import GROUNDING, check_grounding
from .identity import git_blob_sha1
from .robustmad_io import is_robustmad, robustmad_set
from .model import LETTERS, TYPES, ImageEntry, Question, QuestionSet

_ENTRY_FIELDS = ("conversation", "similar_templates", "random_templates", "mask_path", "image_path")
_Q_FIELDS = ("Question", "Answer", "Options", "type")


def load_mmad_json(path: Path) -> QuestionSet:
    path = Path(path)
    raw = read_input(path, "question file")
    data = parse_json(raw, str(path))
    if is_robustmad(data):          # RobustMAD's {"images": [...]} files run unchanged
        qs = robustmad_set(data, hashlib.sha256(raw).hexdigest(), str(path))
        qs.git_blob = git_blob_sha1(raw)
        return qs
    if not isinstance(data, dict):
        raise DataError("expected a JSON object keyed by query image path", culprit=str(path))
    entries = {key: _entry(key, value, path) for key, value in data.items()}
    return QuestionSet(entries=entries, sha256=hashlib.sha256(raw).hexdigest(), source=str(path),
                       git_blob=git_blob_sha1(raw))


def _entry(key: str, value: dict, path: Path) -> ImageEntry:
    where = f"{path}[{key!r}]"
    if not isinstance(value, dict) or not isinstance(value.get("conversation"), list):
        raise DataError("entry has no 'conversation' list", culprit=where)
    questions = [_question(key, i, q, where) for i, q in enumerate(value["conversation"])]
    if not isinstance(value.get("mask_path") or "", str):
        raise DataError(f"mask_path must be a path (a string), got {quote(value['mask_path'])}", culprit=where)
    return ImageEntry(key=key, questions=questions,
                      similar_templates=_paths(value, "similar_templates", where),
                      random_templates=_paths(value, "random_templates", where),
                      mask_path=value.get("mask_path") or "",
                      image_path=value.get("image_path"),
                      extra={k: v for k, v in value.items() if k not in _ENTRY_FIELDS})


def _paths(value: dict, name: str, where: str) -> list[str]:
    paths = value.get(name) or []
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        raise DataError(f"{name} must be a list of paths (strings), got {quote(paths)}", culprit=where)
    return list(paths)


def _question(key: str, index: int, q: dict, where: str) -> Question:
    where = f"{where}.conversation[{index}]"
    if not isinstance(q, dict) or any(f not in q for f in _Q_FIELDS):
        raise DataError(f"question needs fields {', '.join(_Q_FIELDS)}", culprit=where)
    options = q["Options"]
    if q["type"] == GROUNDING:      # boxes, not a letter: no options, the truth as JSON (questions/grounding.py)
        check_grounding(options, q["Answer"], where)
    elif not isinstance(options, dict) or not options or any(k not in set(LETTERS) for k in options):
        raise DataError(f"options must be keyed by letters A-E, got {quote(list(options))}", culprit=where)
    if q["type"] != GROUNDING and (not isinstance(q["Answer"], str) or q["Answer"] not in options):
        raise DataError(f"answer {quote(q['Answer'])} is not one of the options {quote(list(options))}",
                        culprit=where)
    if not isinstance(q["type"], str) or q["type"] not in (*TYPES, GROUNDING):
        raise DataError(f"unknown question type {quote(q['type'])}", culprit=where)
    if not isinstance(q["Question"], str) or not q["Question"].strip():
        raise DataError(f"'Question' must be non-empty text, got {quote(q['Question'])}", culprit=where)
    if not all(isinstance(v, str) for v in options.values()):
        raise DataError(f"option texts must be strings, got {quote(options)}", culprit=where)
    extra = {k: v for k, v in q.items() if k not in _Q_FIELDS and k != "provenance"}
    return Question(image=key, index=index, type=q["type"], text=str(q["Question"]),
                    options={k: str(v) for k, v in options.items()}, answer=q["Answer"],
                    provenance=dict(q.get("provenance") or {}), extra=extra)


def to_mmad_dict(qs: QuestionSet, *, with_provenance: bool = False) -> dict:
    out = {}
    for key, e in qs.entries.items():
        conv = []
        for q in e.questions:
            item = {"Question": q.text, "Answer": q.answer, "Options": dict(q.options), "type": q.type, **q.extra}
            if with_provenance and q.provenance:
                item["provenance"] = q.provenance
            conv.append(item)
        rec = {"image_path": e.image_path} if e.image_path is not None else {}
        rec.update({"conversation": conv, "similar_templates": e.similar_templates,
                    "random_templates": e.random_templates, "mask_path": e.mask_path, **e.extra})
        out[key] = rec
    return out


def write_mmad_json(qs: QuestionSet, path: Path, *, with_provenance: bool = False) -> str:
    """Write the set; returns the SHA-256 of the bytes written (deterministic for equal sets)."""
    text = json.dumps(to_mmad_dict(qs, with_provenance=with_provenance), indent=1, ensure_ascii=False) + "\n"
    data = text.encode("utf-8")
    write_bytes(path, data)
    return hashlib.sha256(data).hexdigest()
