"""Inject known label errors into a generated question set (for measuring the label audit).

Three kinds, on distinct images chosen with a seeded RNG:
- ``moved``: the image file is copied under another category's folder and the entry takes that key and a
  reference list of that category (MMAD's pill/metal-nut case: the key and references say B, the image is A);
- ``localization``: a Defect Localization answer is set to one of its distractors (regions the mask does not
  touch, by construction of the generator);
- ``flipped``: the label is flipped, in turn: the Anomaly Detection answer only; a normal image filed
  under a defect folder (no mask); a defective image filed under ``good`` (its mask kept).
Returns the new set and the ground truth: ``{"moved": [keys], "localization": [qids], "flipped": [keys],
"moved_from": [the moved images' original keys]}``.
"""
from __future__ import annotations

import dataclasses
import random
import shutil
from pathlib import Path

from ..questions.model import ImageEntry, QuestionSet, split_key


def _rekey(entry: ImageEntry, key: str, **changes) -> ImageEntry:
    qs = [dataclasses.replace(q, image=key) for q in entry.questions]
    return dataclasses.replace(entry, key=key, questions=qs, **changes)


def _flip_ad(entry: ImageEntry) -> ImageEntry:
    qs = []
    for q in entry.questions:
        if q.type == "Anomaly Detection":
            want = "No." if q.options[q.answer].lower().startswith("yes") else "Yes."
            letter = next(L for L, t in q.options.items() if t == want)
            q = dataclasses.replace(q, answer=letter)
        qs.append(q)
    return dataclasses.replace(entry, questions=qs)


def inject(qs: QuestionSet, root: Path, k: int, seed: int = 0) -> tuple[QuestionSet, dict[str, list[str]]]:
    rng = random.Random(seed)
    root = Path(root)
    keys = list(qs.entries)
    rng.shuffle(keys)
    by_cat: dict[str, list[str]] = {}
    for key in qs.entries:
        by_cat.setdefault("/".join(split_key(key)), []).append(key)
    with_dl = [key for key in keys if any(q.type == "Defect Localization" for q in qs.entries[key].questions)]
    dl_keys = with_dl[:k]
    rest = [key for key in keys if key not in set(dl_keys)]
    moved_keys, flip_keys = rest[:k], rest[k:2 * k]
    entries = dict(qs.entries)
    truth: dict[str, list[str]] = {"moved": [], "localization": [], "flipped": []}
    for key in dl_keys:
        e = entries[key]
        qlist = []
        for q in e.questions:
            if q.type == "Defect Localization" and not any(t.startswith(q.image) for t in truth["localization"]):
                q = dataclasses.replace(q, answer=rng.choice([L for L in q.options if L != q.answer]))
                truth["localization"].append(q.qid)
            qlist.append(q)
        entries[key] = dataclasses.replace(e, questions=qlist)
    for n, key in enumerate(moved_keys):
        e = entries.pop(key)
        own = "/".join(split_key(key))
        other = rng.choice(sorted(c for c in by_cat if c != own))
        donor = qs.entries[rng.choice(by_cat[other])]
        new_key = f"{other}/test/{'good' if e.is_normal else 'moved'}/moved_{n:03d}.png"
        _copy(root, key, new_key)
        entries[new_key] = _rekey(e, new_key, similar_templates=list(donor.similar_templates),
                                  random_templates=list(donor.random_templates))
        truth["moved"].append(new_key)
        truth.setdefault("moved_from", []).append(key)
    for n, key in enumerate(flip_keys):
        e = entries.pop(key)
        cat = "/".join(split_key(key))
        kind = n % 3
        if kind == 0:
            new_key, new_e = key, _flip_ad(e)
        elif e.is_normal:
            new_key = f"{cat}/test/flipped/flip_{n:03d}.png"
            new_e = _rekey(_flip_ad(e), new_key, mask_path="")
        else:
            new_key = f"{cat}/test/good/flip_{n:03d}.png"
            new_e = _rekey(_flip_ad(e), new_key)
        if new_key != key:
            _copy(root, key, new_key)
        entries[new_key] = new_e
        truth["flipped"].append(new_key)
    order = [k for k in entries]
    return QuestionSet(entries={k: entries[k] for k in order}, sha256="", source="injected"), truth


def _copy(root: Path, src: str, dst: str) -> None:
    target = root / dst
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(root / src, target)
