"""The errata file: corrections to a question set, each with its evidence and a review status.

``{"format": "mmad-eval-errata/1", "questions": {...}, "errata": [entry, ...], ...}``; an entry:

- ``id``: stable (``check:image#question``), so a later audit finds the same flag and keeps its decision;
- ``check``: which check raised it (``image_category``, ``reference_category``, ``localization``,
  ``label_mask``, ``duplicate_image``, ``giveaway``) or ``reported`` (a publicly reported error);
- ``status``: ``suspect`` (raised by the audit, not reviewed), ``confirmed`` / ``rejected`` (a person
  decided), ``reported`` (publicly reported, with ``source``: a link);
- ``target``: ``images`` (keys) or ``image_glob`` (fnmatch pattern), optional ``question`` (index),
  ``types`` (question types) and ``answer_pattern`` (regex the correct option's text must match);
- ``fix``: ``{"action": "exclude" | "correct_answer" | "replace_references" | "note", ...}`` (``answer_text``
  for a correction; ``category`` (and ``drop``: references never to use) or ``references`` for a replacement; a ``note`` changes no question and is
  shown as a caveat beside the score), ``why``;
- ``message``, ``evidence`` (numbers), ``decision`` (``{"decision", "note"}`` once reviewed).

Only ``reported`` and ``confirmed`` entries change scores; ``suspect`` ones wait for review.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from ..atomic_write import write_bytes
from ..errors import DataError, quote
from ..inputfile import parse_json, read_input
from .pattern import PatternError, compile_pattern

FORMAT = "mmad-eval-errata/1"
STATUSES = ("suspect", "confirmed", "rejected", "reported")
APPLIED = ("reported", "confirmed")
ACTIONS = ("exclude", "correct_answer", "replace_references", "note")
DECISIONS = ("confirmed", "rejected")


@dataclass
class Errata:
    entries: list[dict]
    meta: dict = field(default_factory=dict)     # every other top-level field, kept on save
    path: str = ""
    sha256: str = ""

    def applied(self) -> list[dict]:
        """Entries that change questions: reported or confirmed, and not a note."""
        return [e for e in self.entries if e["status"] in APPLIED and e["fix"]["action"] != "note"]

    def notes(self) -> list[dict]:
        return [e for e in self.entries if e["status"] in APPLIED and e["fix"]["action"] == "note"]

    def by_id(self) -> dict[str, dict]:
        return {e["id"]: e for e in self.entries}

    def to_dict(self) -> dict:
        return {"format": FORMAT, **{k: v for k, v in self.meta.items() if k != "format"}, "errata": self.entries}


def write_atomic(path: Path, text: str) -> str:
    """Replace ``path`` by ``text`` atomically (:mod:`mmad_eval.atomic_write`); returns its SHA-256."""
    data = text.encode("utf-8")
    write_bytes(path, data)
    return hashlib.sha256(data).hexdigest()


def save_errata(errata: Errata, path: Path) -> str:
    sha = write_atomic(path, json.dumps(errata.to_dict(), indent=1, ensure_ascii=False) + "\n")
    errata.path, errata.sha256 = str(path), sha
    return sha


def load_errata(path: Path) -> Errata:
    path = Path(path)
    raw = read_input(path, "errata file")
    data = parse_json(raw, str(path))
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("errata"), list):
        raise DataError(f"not an errata file (expected an object with \"format\": \"{FORMAT}\" and an "
                        "\"errata\" list)", culprit=str(path))
    seen = set()
    for i, entry in enumerate(data["errata"]):
        validate_entry(entry, f"{path}: errata[{i}]")
        if entry["id"] in seen:
            raise DataError(f"duplicate id {entry['id']!r}", culprit=f"{path}: errata[{i}]")
        seen.add(entry["id"])
    meta = {k: v for k, v in data.items() if k != "errata"}
    return Errata(entries=data["errata"], meta=meta, path=str(path), sha256=hashlib.sha256(raw).hexdigest())


def validate_entry(entry, where: str) -> None:
    if not isinstance(entry, dict) or not isinstance(entry.get("id"), str) or not entry["id"]:
        raise DataError("each erratum needs a non-empty string 'id'", culprit=where)
    where = f"{where} ({entry['id']})"
    if entry.get("status") not in STATUSES:
        raise DataError(f"status must be one of {', '.join(STATUSES)}, got {entry.get('status')!r}", culprit=where)
    target = entry.get("target")
    if not isinstance(target, dict) or not (isinstance(target.get("images"), list) and target["images"]
                                            or isinstance(target.get("image_glob"), str)):
        raise DataError("target needs 'images' (a list of keys) or 'image_glob'", culprit=where)
    if "question" in target and target["question"] is not None and not isinstance(target["question"], int):
        raise DataError("target.question must be a question index (an integer)", culprit=where)
    _validate_filters(target, where)
    fix = entry.get("fix")
    if not isinstance(fix, dict) or fix.get("action") not in ACTIONS:
        raise DataError(f"fix.action must be one of {', '.join(ACTIONS)}", culprit=where)
    if fix["action"] == "correct_answer" and not isinstance(fix.get("answer_text"), str):
        raise DataError("a correct_answer fix needs 'answer_text' (the right option's text)", culprit=where)
    if fix["action"] == "replace_references" and not (fix.get("category") or fix.get("references")):
        raise DataError("a replace_references fix needs 'category' or 'references'", culprit=where)
    if entry["status"] == "reported" and not entry.get("source"):
        raise DataError("a reported erratum needs its 'source' (a link to the report)", culprit=where)


def _validate_filters(target: dict, where: str) -> None:
    """Keys and types lists of text, a non-empty glob, and an answer pattern the safe matcher accepts (it
    runs in linear time: see pattern.py), each refused here, when the file is read, naming the entry."""
    for name in ("images", "types"):
        value = target.get(name)
        if value is not None and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise DataError(f"target.{name} must be a list of text, got {quote(value)}", culprit=where)
    if "image_glob" in target and not (isinstance(target["image_glob"], str) and target["image_glob"]):
        raise DataError(f"target.image_glob must be a non-empty pattern, got {quote(target['image_glob'])}",
                        culprit=where)
    pattern = target.get("answer_pattern")
    if pattern is not None:
        try:
            if not isinstance(pattern, str):
                raise PatternError("must be text")
            compile_pattern(pattern)
        except PatternError as e:
            raise DataError(f"target.answer_pattern {quote(pattern)} {e}", culprit=where) from None


def entry_id(check: str, target: dict) -> str:
    q = target.get("question")
    return f"{check}:{target['images'][0]}" + (f"#{q}" if q is not None else "")


def carry_decisions(new: list[dict], previous: Errata | None) -> list[dict]:
    """New audit flags keep the review of the same id from the previous file; reviewed entries the audit no
    longer raises are kept too (marked ``"raised_by_last_audit": false``), so no decision is ever lost."""
    if previous is None:
        return new
    old = previous.by_id()
    out = []
    for e in new:
        prev = old.get(e["id"])
        if prev is not None and prev["status"] in DECISIONS:
            e = {**e, "status": prev["status"], **({"decision": prev["decision"]} if "decision" in prev else {})}
        out.append(e)
    ids = {e["id"] for e in out}
    for prev in previous.entries:
        if prev["id"] not in ids and prev["status"] != "suspect":
            out.append({**prev, "raised_by_last_audit": False})
    return out


def apply_decisions(errata: Errata, decisions_path: Path) -> dict[str, int]:
    """Write reviewers' decisions (the page's download, or ``{"id": "confirmed"|"rejected"}``) into the
    entries; returns counts. Unknown ids or values are a DataError naming them."""
    data = parse_json(read_input(decisions_path, "decisions file"), str(decisions_path))
    items = data.get("decisions", data) if isinstance(data, dict) else None
    if not isinstance(items, dict):
        raise DataError("expected {\"decisions\": {id: \"confirmed\" | \"rejected\" | {\"decision\", \"note\"}}}",
                        culprit=str(decisions_path))
    by_id = errata.by_id()
    unknown = [i for i in items if i not in by_id]
    if unknown:
        raise DataError(f"{len(unknown)} decision(s) name no erratum in {errata.path or 'the errata file'}, e.g. "
                        f"{unknown[0]!r} (was the page made from another audit?)", culprit=str(decisions_path))
    counts = {"confirmed": 0, "rejected": 0}
    for i, d in items.items():
        d = {"decision": d} if isinstance(d, str) else d
        if not isinstance(d, dict) or d.get("decision") not in DECISIONS:
            raise DataError(f"decision for {i!r} must be 'confirmed' or 'rejected'", culprit=str(decisions_path))
        entry = by_id[i]
        if entry["status"] == "reported":
            entry["decision"] = {k: d[k] for k in ("decision", "note") if d.get(k)}
            continue
        entry["status"] = d["decision"]
        entry["decision"] = {k: d[k] for k in ("decision", "note") if d.get(k)}
        counts[d["decision"]] += 1
    return counts
