"""Option assembly shared by every rule: text normalisation, distinct distractor picking, seeded letters.

Every question gets its own random stream derived from ``(seed, image key, rule)`` so the output does not
depend on the order in which samples are processed, and the answer letter is drawn uniformly over the
option positions (balanced in expectation over many questions; the audit checks it).
"""
from __future__ import annotations

import hashlib
import random
import re
from functools import lru_cache
from dataclasses import dataclass, field
from typing import Iterable

from ..model import LETTERS, Question

_WORD = re.compile(r"[a-z0-9]+")
_STOP = {"a", "an", "the", "of", "in", "on", "at", "is", "and", "or", "to", "with", "from", "its", "it",
         "this", "that", "part", "area", "object", "image"}


def rng_for(seed: int, key: str, rule: str) -> random.Random:
    """A random stream private to one (seed, image, rule): order-independent and reproducible."""
    digest = hashlib.sha256(f"{seed}\x1f{key}\x1f{rule}".encode("utf-8")).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def words(text: str) -> list[str]:
    """Lower-case word tokens with a crude plural strip (``scratches`` ~ ``scratche`` ~ ``scratch``)."""
    return list(_words(text))


@lru_cache(maxsize=65536)
def _words(text: str) -> tuple[str, ...]:
    out = []
    for w in _WORD.findall(text.lower().replace("_", " ")):
        if len(w) > 3 and w.endswith("es") and w[-3] in "sxhz":
            w = w[:-2]
        elif len(w) > 3 and w.endswith("s") and not w.endswith("ss"):
            w = w[:-1]
        out.append(w)
    return tuple(out)


def norm(text: str) -> str:
    """Normal form used to decide whether two option texts say the same thing."""
    return " ".join(w for w in words(text) if w not in _STOP) or " ".join(words(text))


def content_words(text: str) -> list[str]:
    return [w for w in words(text) if w not in _STOP]


def display(text: str, *, period: bool = False) -> str:
    """Capitalise the first letter (MMAD style); add a final period for sentence-like options."""
    text = " ".join(str(text).replace("_", " ").split())
    if not text:
        return text
    text = text[0].upper() + text[1:]
    if period and text[-1] not in ".!?":
        text += "."
    return text


@dataclass
class Draft:
    """A rule's question before lettering: the correct text, distractors, and why."""

    type: str
    text: str
    correct: str
    distractors: list[str]
    rule: str
    fields: list[str]                          # annotation fields the rule used
    keywords: list[list[str]] = field(default_factory=list)  # alternatives: words the correct option needs
    details: dict = field(default_factory=dict)  # rule-specific facts (mask stats, tone, ...)
    fixed_order: list[str] | None = None      # the exact option order to keep (MMAD's "Yes." / "No.")
    margins: dict = field(default_factory=dict)  # the thresholds/margins the rule used (margins.py), recorded
    # what the corpus-level balancing pass (balance.py) may choose from; never written out
    pool: dict | None = field(default=None, repr=False, compare=False)


class DistinctPicker:
    """Collects option texts, refusing any whose normal form equals one already taken or forbidden."""

    def __init__(self, taken: Iterable[str] = (), forbidden: Iterable[str] = ()):
        self.seen = {norm(t) for t in taken} | {norm(t) for t in forbidden}
        self.seen.discard("")
        self.items: list[str] = []

    def offer(self, text: str, also_forbid: Iterable[str] = ()) -> bool:
        n = norm(text)
        if not n or n in self.seen:
            return False
        extra = {norm(t) for t in also_forbid}
        if extra & self.seen:
            return False                     # a synonym of this candidate is already an option
        self.seen.add(n)
        self.seen |= extra
        self.items.append(text)
        return True


def pick(candidate_tiers: list[list[str]], n: int, rng: random.Random, *, correct: str,
         forbidden: Iterable[str] = (), synonyms: dict[str, list[str]] | None = None) -> list[str]:
    """Up to ``n`` distractors, tier by tier (each tier shuffled), never meaning the same as another."""
    synonyms = synonyms or {}
    picker = DistinctPicker(taken=[correct], forbidden=forbidden)
    for tier in candidate_tiers:
        tier = sorted(set(tier))
        rng.shuffle(tier)
        for cand in tier:
            if len(picker.items) >= n:
                return picker.items
            picker.offer(cand, synonyms.get(cand, ()))
    return picker.items


def pick_length_balanced(candidate_tiers: list[list[str]], n: int, rng: random.Random, *, correct: str,
                         forbidden: Iterable[str] = ()) -> list[str]:
    """Like :func:`pick`, but the number of distractors longer than the answer is drawn uniformly from
    0..n (where the candidates allow), so "the longest option" tells nothing about the answer even when
    the answers of a rule are longer than its generic fallback values."""
    ordered = pick(candidate_tiers, 10 ** 6, rng, correct=correct, forbidden=forbidden)
    longer = [t for t in ordered if len(t) > len(correct)]
    shorter = [t for t in ordered if len(t) <= len(correct)]
    n = min(n, len(ordered))
    k = rng.randint(max(0, n - len(shorter)), min(n, len(longer)))
    chosen = longer[:k] + shorter[: n - k]
    rest = [t for t in ordered if t not in chosen]
    chosen += rest[: n - len(chosen)]
    return [t for t in ordered if t in chosen]


def balanced_positions(items: list[tuple[str, Draft]], seed: int, n_options: int = 4) -> dict[int, int]:
    """Answer positions for the drafts of one question type (``id(draft) -> position``): the drafts are
    visited in a seeded order and dealt positions from seeded shuffled blocks, one block per set of
    questions with the same number of options, so every letter is the answer equally often (to within one
    per option count) instead of only in expectation."""
    out: dict[int, int] = {}
    groups: dict[int, list[tuple[str, Draft]]] = {}
    for key, d in items:
        if not d.fixed_order:
            groups.setdefault(1 + len(d.distractors[: n_options - 1]), []).append((key, d))
    for size, group in sorted(groups.items()):
        group.sort(key=lambda kd: rng_for(seed, kd[0], kd[1].rule + "#letter-order").random())
        rng = rng_for(seed, f"{group[0][1].type}/{size}", "letters#blocks")
        block: list[int] = []
        for _, d in group:
            if not block:
                block = list(range(size))
                rng.shuffle(block)
            out[id(d)] = block.pop()
    return out


def assemble(draft: Draft, key: str, index: int, seed: int, n_options: int = 4, answer_pos: int | None = None) -> Question:
    """Letter the options: the correct one at ``answer_pos`` (balanced_positions), else at a seeded uniform
    position among ``1 + len(distractors)``."""
    distractors = draft.distractors[: n_options - 1]
    if draft.fixed_order:
        texts = list(draft.fixed_order)
        answer_pos = texts.index(draft.correct)
    else:
        rng = rng_for(seed, key, draft.rule + "#letters")
        texts = list(distractors)
        rng.shuffle(texts)
        pos = rng.randrange(len(texts) + 1)
        answer_pos = pos if answer_pos is None else answer_pos
        texts.insert(answer_pos, draft.correct)
    options = {LETTERS[i]: t for i, t in enumerate(texts)}
    provenance = {"rule": draft.rule, "fields": list(draft.fields), "seed": seed}
    if draft.keywords:
        provenance["keywords"] = draft.keywords
    if draft.details:
        provenance["details"] = dict(draft.details)
    if draft.margins:
        provenance["margins"] = dict(draft.margins)
    return Question(image=key, index=index, type=draft.type, text=draft.text, options=options,
                    answer=LETTERS[answer_pos], provenance=provenance)
