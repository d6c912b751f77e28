"""Select part of a question set: filters, a question limit and deterministic shards by image key.

A limit draws a seeded sample stratified by subtask, dataset, category and normal/defective image
(``sample="stratified"``, the default: see :func:`stratified_sample`), or takes the first N in file order
(``sample="first"``). Both are recorded with the run (its ``slice``).
"""
from __future__ import annotations

import hashlib
import random
from collections import defaultdict
from dataclasses import asdict, dataclass, replace

from ..errors import ConfigError
from ..questions.grounding import GROUNDING, GROUNDING_SHORT
from ..questions.model import SUBTASK_SHORT, SUBTASKS, TYPES, ImageEntry, Question, QuestionSet, subtask_of
from .subsets import Subset, check_subset

_SHORT_TO_SUBTASK = {v.lower(): k for k, v in SUBTASK_SHORT.items()}
SAMPLES = ("stratified", "first")


@dataclass(frozen=True)
class Slice:
    limit: int | None = None                 # N selected questions: a stratified sample, or the first N
    subtasks: tuple[str, ...] = ()           # subtask names, short codes (AD, DC, ...) or type strings
    datasets: tuple[str, ...] = ()           # first key component, e.g. DS-MVTec
    categories: tuple[str, ...] = ()         # second key component, e.g. bottle
    shard: tuple[int, int] | None = None     # (i, N), 0 <= i < N: images whose key hash % N == i
    subset: Subset | None = None             # a paper's named subset or a subset file
    sample: str = "stratified"               # how a limit picks: "stratified" (seeded) or "first" (file order)
    sample_seed: int = 0                     # seed of the stratified sample

    def __post_init__(self):
        if self.sample not in SAMPLES:
            raise ConfigError(f"unknown sample; choose one of {', '.join(SAMPLES)}", culprit=self.sample)
        if self.limit is not None and self.limit < 1:
            raise ConfigError("--limit must be at least 1", culprit=str(self.limit))

    def as_dict(self) -> dict:
        d = asdict(replace(self, subset=None))
        del d["subset"]
        if self.subset is not None:
            d["subset"] = self.subset.describe()
        if self.limit is None:               # without a limit nothing is sampled (older records stay the same)
            del d["sample"], d["sample_seed"]
        return d

    def is_full(self) -> bool:
        return self == Slice()


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/N"`` with 0 <= i < N."""
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise ConfigError("shard must look like i/N, e.g. 0/4", culprit=text) from None
    if n < 1 or not 0 <= i < n:
        raise ConfigError("shard i/N needs 0 <= i < N", culprit=text)
    return i, n


def shard_of(key: str, n: int) -> int:
    """Deterministic shard of an image key (all questions of an image land in the same shard)."""
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big") % n


def _type_filter(names: tuple[str, ...], other_types: tuple[str, ...] = ()) -> set[str] | None:
    """The question types ``names`` select; ``other_types``: the set's types outside MMAD's (e.g. RobustMAD's
    robustness categories), selectable by their full name."""
    if not names:
        return None
    types: set[str] = set()
    for name in names:
        low = name.strip().lower()
        subtask = _SHORT_TO_SUBTASK.get(low) or next((s for s in SUBTASKS if s.lower() == low), None)
        if low in (GROUNDING_SHORT.lower(), GROUNDING.lower()):
            types.add(GROUNDING)
        elif subtask == "Object Analysis":
            types.update({"Object Structure", "Object Details"})
        elif subtask:
            types.add(subtask)
        else:
            t = next((t for t in (*TYPES, *other_types) if t.lower() == low), None)
            if t is None:
                raise ConfigError(f"unknown subtask; use one of {', '.join(SUBTASK_SHORT.values())}, DG "
                                  "or a full subtask/type name", culprit=name)
            types.add(t)
    return types


def stratum(entry: ImageEntry, question: Question) -> tuple[str, bool, str, str]:
    """(subtask, normal image?, dataset, category) of a question: what a sample keeps in proportion."""
    return subtask_of(question.type), entry.is_normal, question.dataset, question.category


def _seats(sizes: dict, n: int, rng: random.Random) -> dict:
    """Largest-remainder allocation of ``n`` seats to groups in proportion to their sizes (ties at random)."""
    total = sum(sizes.values())
    shares = {k: n * size / total for k, size in sizes.items()}
    seats = {k: int(share) for k, share in shares.items()}
    order = sorted(sizes, key=lambda k: (-(shares[k] - seats[k]), rng.random()))
    for k in order[:n - sum(seats.values())]:
        seats[k] += 1
    return seats


def _draw(items: list[tuple[tuple, str]], n: int, level: int, rng: random.Random) -> list[str]:
    if level == len(items[0][0]):
        return rng.sample([qid for _, qid in items], n)
    groups: dict = defaultdict(list)
    for item in items:
        groups[item[0][level]].append(item)
    keys = sorted(groups, key=repr)
    seats = _seats({k: len(groups[k]) for k in keys}, n, rng)
    return [qid for k in keys if seats[k] for qid in _draw(groups[k], seats[k], level + 1, rng)]


def stratified_sample(candidates: list[tuple[ImageEntry, Question]], n: int, seed: int) -> set[str]:
    """The qids of a seeded sample of ``n`` candidates, stratified level by level: the seats go to the
    subtasks in proportion to their sizes (largest remainders, ties drawn at random), each subtask's to
    normal and defective images, then to datasets, then to categories; within a category the questions are
    drawn at random. So Anomaly Detection holds normal and defective images as soon as it has a few seats,
    and a small sample spreads over as many categories as it can."""
    if n >= len(candidates):
        return {q.qid for _, q in candidates}
    items = [(stratum(e, q), q.qid) for e, q in candidates]
    return set(_draw(items, n, 0, random.Random(seed)))


def apply_slice(qs: QuestionSet, sl: Slice) -> list[tuple[ImageEntry, list[Question]]]:
    """(entry, selected questions) pairs in file order; entries with nothing selected are left out."""
    others = tuple(sorted({q.type for q in qs.questions()} - set(TYPES) - {GROUNDING})) if sl.subtasks else ()
    types = _type_filter(sl.subtasks, others)
    if sl.subset is not None:
        check_subset(sl.subset, qs)
    datasets, categories = set(sl.datasets), set(sl.categories)
    out: list[tuple[ImageEntry, list[Question]]] = []
    for entry in qs.entries.values():
        q0 = entry.questions[0] if entry.questions else None
        dataset, category = (q0.dataset, q0.category) if q0 else (entry.key.split("/")[0], "")
        if datasets and dataset not in datasets:
            continue
        if categories and category not in categories:
            continue
        if sl.shard and shard_of(entry.key, sl.shard[1]) != sl.shard[0]:
            continue
        selected = [q for q in entry.questions if (types is None or q.type in types)
                    and (sl.subset is None or sl.subset.keeps(q))]
        if selected:
            out.append((entry, selected))
    if sl.limit is None:
        return out
    if sl.sample == "first":
        keep = {q.qid for q in [q for _, sel in out for q in sel][:sl.limit]}
    else:
        keep = stratified_sample([(e, q) for e, sel in out for q in sel], sl.limit, sl.sample_seed)
    return [(e, kept) for e, sel in out if (kept := [q for q in sel if q.qid in keep])]
