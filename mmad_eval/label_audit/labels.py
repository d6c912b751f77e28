"""Label vs mask, and questions whose text gives the answer away.

An image's label is MMAD's rule (a key containing "good" is normal) and its Anomaly Detection answer
(Yes = defective). Flags: a defective image whose mask is empty; a defective image without a mask where
nearly all defective images of its dataset have one; a normal image with a non-empty mask; an Anomaly
Detection answer that contradicts the key and the mask.
"""
from __future__ import annotations

from collections import Counter

from ..questions.generate.options import content_words
from ..questions.model import ImageEntry, QuestionSet, split_key
from .masks import MaskCache

MASKED_SHARE = 0.9      # a dataset "has masks" when this share of its defective images name one
GENERIC = {"defect", "defects", "defective", "anomaly", "object", "image", "product", "type", "kind", "there",
           "what", "which", "where", "yes", "no", "normal", "good"}


def _ad_says(entry: ImageEntry) -> list[tuple[int, bool]]:
    """(question index, answer says defective) for each yes/no Anomaly Detection question."""
    out = []
    for q in entry.questions:
        if q.type != "Anomaly Detection":
            continue
        text = q.options[q.answer].strip().lower().rstrip(".")
        if text in ("yes", "no"):
            out.append((q.index, text == "yes"))
    return out


def label_flags(qs: QuestionSet, masks: MaskCache) -> list[dict]:
    masked = Counter()
    defective = Counter()
    for e in qs.entries.values():
        if not e.is_normal:
            defective[split_key(e.key)[0]] += 1
            masked[split_key(e.key)[0]] += bool(e.mask_path)
    flags = []
    for e in qs.entries.values():
        ds = split_key(e.key)[0]
        mask = masks.get(e)
        pixels = int(mask.sum()) if mask is not None else 0
        state = "unreadable" if e.key in masks.errors else "none" if not e.mask_path else \
            "empty" if pixels == 0 else "defect"
        evidence = {"key_says": "normal" if e.is_normal else "defective", "mask_path": e.mask_path,
                    "mask": state, "mask_pixels_at_working_size": pixels}
        if e.key in masks.errors:
            evidence["mask_error"] = masks.errors[e.key]
        problem = None
        if not e.is_normal and state == "empty":
            problem = "a defective image whose mask is empty"
        elif not e.is_normal and state == "none" and masked[ds] >= MASKED_SHARE * defective[ds]:
            problem = (f"a defective image without a mask ({masked[ds]} of {defective[ds]} defective images of "
                       f"{ds} have one)")
        elif e.is_normal and state == "defect":
            problem = "a normal image with a non-empty mask"
        if problem:
            flags.append({"check": "label_mask", "target": {"images": [e.key]}, "message": problem,
                          "evidence": evidence, "fix": {"action": "exclude", "why": "the label and the mask "
                                                        "disagree: check which one is right"}})
            continue
        for index, says_defect in _ad_says(e):
            if says_defect == (not e.is_normal):
                continue
            right = "Yes." if not e.is_normal else "No."
            flags.append({"check": "label_mask", "target": {"images": [e.key], "question": index,
                                                            "types": ["Anomaly Detection"]},
                          "message": f"the Anomaly Detection answer says {'defective' if says_defect else 'normal'}"
                                     f" but the image is filed as {evidence['key_says']} (mask: {state})",
                          "evidence": {**evidence, "answer_says": "defective" if says_defect else "normal"},
                          "fix": {"action": "correct_answer", "answer_text": right,
                                  "why": "the key and the mask agree on the label"}})
    return flags


def giveaway_flags(qs: QuestionSet) -> list[dict]:
    """Questions whose text contains every distinctive word of the correct option and of no distractor."""
    flags = []
    for q in qs.questions():
        if len(q.options) < 3 or q.type == "Anomaly Detection":
            continue
        qwords = set(content_words(q.text))
        bags = {L: set(content_words(t)) - GENERIC for L, t in q.options.items()}
        answer = bags[q.answer]
        if not answer or not answer <= qwords:
            continue
        if any(b and b <= qwords for L, b in bags.items() if L != q.answer):
            continue
        flags.append({"check": "giveaway", "target": {"images": [q.image], "question": q.index, "types": [q.type]},
                      "message": f"the question text contains the answer's words ({', '.join(sorted(answer))}) "
                                 "and no distractor's",
                      "evidence": {"question": q.text, "answer_text": q.options[q.answer],
                                   "shared_words": sorted(answer)},
                      "fix": {"action": "exclude", "why": "text alone gives the answer; rephrase the question"}})
    return flags
