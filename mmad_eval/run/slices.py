"""Select part of a question set: filters, a question limit and deterministic shards by image key."""
from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, replace

from ..errors import ConfigError
from ..questions.grounding import GROUNDING, GROUNDING_SHORT
from ..questions.model import SUBTASK_SHORT, SUBTASKS, TYPES, ImageEntry, Question, QuestionSet
from .subsets import Subset, check_subset

_SHORT_TO_SUBTASK = {v.lower(): k for k, v in SUBTASK_SHORT.items()}


@dataclass(frozen=True)
class Slice:
    limit: int | None = None                 # first N selected questions (file order)
    subtasks: tuple[str, ...] = ()           # subtask names, short codes (AD, DC, ...) or type strings
    datasets: tuple[str, ...] = ()           # first key component, e.g. DS-MVTec
    categories: tuple[str, ...] = ()         # second key component, e.g. bottle
    shard: tuple[int, int] | None = None     # (i, N), 0 <= i < N: images whose key hash % N == i
    subset: Subset | None = None             # a paper's named subset or a subset file

    def as_dict(self) -> dict:
        d = asdict(replace(self, subset=None))
        del d["subset"]
        if self.subset is not None:
            d["subset"] = self.subset.describe()
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


def apply_slice(qs: QuestionSet, sl: Slice) -> list[tuple[ImageEntry, list[Question]]]:
    """(entry, selected questions) pairs in file order; entries with nothing selected are left out."""
    others = tuple(sorted({q.type for q in qs.questions()} - set(TYPES) - {GROUNDING})) if sl.subtasks else ()
    types = _type_filter(sl.subtasks, others)
    if sl.subset is not None:
        check_subset(sl.subset, qs)
    datasets, categories = set(sl.datasets), set(sl.categories)
    out: list[tuple[ImageEntry, list[Question]]] = []
    remaining = sl.limit
    for entry in qs.entries.values():
        if remaining is not None and remaining <= 0:
            break
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
        if remaining is not None:
            selected = selected[:remaining]
            remaining -= len(selected)
        if selected:
            out.append((entry, selected))
    return out
