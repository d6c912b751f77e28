"""Defect Localization answers against the mask.

Every option is parsed (spatial.py). The answer is flagged when its region, read broadly and widened by a
small tolerance, holds (almost) none of the defect in every frame it may mean; a distractor is flagged when
its region, read narrowly and without tolerance, holds most of the defect in every frame it may mean.
Options without spatial words are counted as unchecked.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..questions.model import ImageEntry, Question, split_key
from . import spatial
from .masks import MaskCache, Outlines

TOL = 0.03              # widening of an answer's region (fraction of the frame)
UNTOUCHED = 0.02        # answer region holding less than this share of the defect: flagged
OCCUPIED = 0.6          # distractor region holding at least this share of the defect: flagged
MIN_PIXELS = 4          # masks smaller than this (at working size) are too small to judge


@dataclass
class Verdict:
    flags: list[dict]
    unchecked: list[dict]


def check_entry(entry: ImageEntry, masks: MaskCache, outlines: Outlines) -> Verdict:
    out = Verdict([], [])
    dl = [q for q in entry.questions if q.type == "Defect Localization"]
    if not dl:
        return out
    mask = masks.get(entry)
    if mask is None or mask.sum() < MIN_PIXELS:
        why = masks.errors.get(entry.key) or ("no mask" if not entry.mask_path else "empty or tiny mask")
        out.unchecked += [{"qid": q.qid, "answer": q.options[q.answer], "reason": why} for q in dl]
        return out
    category = "/".join(split_key(entry.key))
    frames = spatial.Frames.for_mask(mask.shape, outlines.get(category, mask.shape))
    for q in dl:
        flag, why = _check_question(q, mask, frames, split_key(entry.key)[1])
        if flag:
            out.flags.append(flag)
        elif why:
            out.unchecked.append({"qid": q.qid, "answer": q.options[q.answer], "reason": why})
    return out


def _where(mask: np.ndarray) -> dict:
    h, w = mask.shape
    ys, xs = np.nonzero(mask)
    cells = np.bincount((ys * 3 // h) * 3 + xs * 3 // w, minlength=9) / max(1, ys.size)
    return {"area_frac": round(float(mask.mean()), 4),
            "bbox": [round(xs.min() / w, 3), round(ys.min() / h, 3), round((xs.max() + 1) / w, 3),
                     round((ys.max() + 1) / h, 3)],
            "grid_shares": [round(float(c), 3) for c in cells]}


def _spread(kind: str, stats) -> tuple[float, float]:
    """(holds, occupies) of "in several places" / "across most of the image" from the mask's blobs/cells."""
    if kind == "several":
        return (0.0 if stats.blobs == 1 else 1.0), (1.0 if stats.blobs >= 3 and len(stats.touched) >= 3 else 0.0)
    narrow = len(stats.touched) <= 2 and stats.area_frac < 0.1
    return (0.0 if narrow else 1.0), (1.0 if len(stats.touched) >= 7 and stats.area_frac >= 0.3 else 0.0)


def _option_shares(parsed: spatial.Parsed, mask, frames, stats) -> tuple[dict, dict]:
    """Per frame, the share of the defect in the option's broad (tolerant) and narrow (strict) region."""
    if parsed.spread:
        holds, occupies = _spread(parsed.spread, stats)
        return {"image": holds}, {"image": occupies}
    return (spatial.shares(parsed, mask, frames, TOL, broad=True),
            spatial.shares(parsed, mask, frames, 0.0, broad=False))


def _check_question(q: Question, mask: np.ndarray, frames: spatial.Frames, category: str):
    """(flag or None, reason unchecked or '')."""
    from ..questions.generate.masks import measure

    parsed = {letter: spatial.parse(text, category) for letter, text in q.options.items()}
    answer = parsed[q.answer]
    if answer.unchecked:
        return None, f"answer {answer.unchecked}"
    stats = measure(mask)
    broad, narrow = {}, {}
    for L, p in parsed.items():
        if not p.unchecked:
            broad[L], narrow[L] = _option_shares(p, mask, frames, stats)
    if not broad[q.answer]:
        return None, "object frame only and the category has no stable object outline"
    options = {L: {"text": q.options[L], "frames": list(parsed[L].frames),
                   "share_broad": {f: round(v, 3) for f, v in broad.get(L, {}).items()},
                   "share_narrow": {f: round(v, 3) for f, v in narrow.get(L, {}).items()},
                   **({"unchecked": parsed[L].unchecked} if parsed[L].unchecked else {})} for L in q.options}
    wrong_answer = max(broad[q.answer].values()) < UNTOUCHED
    occupied = [L for L in narrow if L != q.answer and narrow[L] and min(narrow[L].values()) >= OCCUPIED]
    if not wrong_answer and not occupied:
        return None, ""
    best = [L for L in narrow if narrow[L] and min(narrow[L].values()) >= OCCUPIED]
    evidence = {"answer": q.answer, "answer_text": q.options[q.answer], "options": options, "mask": _where(mask),
                "blobs": stats.blobs}
    if wrong_answer:
        message = (f"the answer '{q.options[q.answer]}' names a region holding "
                   f"{max(broad[q.answer].values()):.0%} of the defect")
    else:
        message = (f"distractor(s) {', '.join(repr(q.options[L]) for L in occupied)} hold "
                   f"{max(min(narrow[L].values()) for L in occupied):.0%} of the defect")
    if wrong_answer and len(best) == 1:
        fix = {"action": "correct_answer", "answer_text": q.options[best[0]],
               "why": f"'{q.options[best[0]]}' holds most of the defect"}
    elif wrong_answer and best:
        fix = {"action": "exclude", "candidates": [q.options[L] for L in best],
               "why": f"the answer is wrong and {len(best)} options hold the defect: the question is ambiguous "
                      "(correct the answer to one of the candidates if a reviewer can decide)"}
    else:
        fix = {"action": "exclude", "why": "no option holds the defect" if wrong_answer else
               "the question is ambiguous: a distractor also describes where the defect is"}
    flag = {"check": "localization", "target": {"images": [q.image], "question": q.index, "types": [q.type]},
            "message": message, "evidence": evidence, "fix": fix}
    return flag, ""
