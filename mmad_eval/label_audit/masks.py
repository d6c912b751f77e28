"""Masks and object outlines for the label audit, read once per image and kept small."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..paths import resolve_mask
from ..sources.imagecheck import read_mask
from ..questions.model import ImageEntry, QuestionSet, split_key

WORK_SIDE = 128     # masks are max-pooled to at most this side: every defect pixel survives


def pool(mask: np.ndarray, side: int = WORK_SIDE) -> np.ndarray:
    """Max-pool a boolean mask so that its longer side is at most ``side``."""
    h, w = mask.shape
    f = max(1, math.ceil(max(h, w) / side))
    if f == 1:
        return mask
    hp, wp = math.ceil(h / f) * f, math.ceil(w / f) * f
    padded = np.zeros((hp, wp), dtype=bool)
    padded[:h, :w] = mask
    return padded.reshape(hp // f, f, wp // f, f).any(axis=(1, 3))


class MaskCache:
    """Working-size masks per query key: None for no mask path, or a DataError message when unreadable."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self._masks: dict[str, np.ndarray | None] = {}
        self.errors: dict[str, str] = {}

    def get(self, entry: ImageEntry) -> np.ndarray | None:
        if entry.key not in self._masks:
            try:
                path = resolve_mask(self.root, entry)
                self._masks[entry.key] = None if path is None else pool(read_mask(path))
            except DataError as e:
                self.errors[entry.key] = str(e)
                self._masks[entry.key] = None
        return self._masks[entry.key]


def normal_pools(qs: QuestionSet) -> dict[str, list[str]]:
    """Normal images per ``dataset/category``: the reference images the set names for the category's
    queries, else (a set without references) its own normal query images."""
    pools: dict[str, set[str]] = {}
    goods: dict[str, set[str]] = {}
    for e in qs.entries.values():
        cat = "/".join(split_key(e.key))
        pools.setdefault(cat, set()).update(e.similar_templates, e.random_templates)
        if e.is_normal:
            goods.setdefault(cat, set()).add(e.key)
    return {c: sorted(p or goods.get(c, set())) for c, p in pools.items()}


class Outlines:
    """The object outline of each category (``generate/object_zones.py``) at a mask's working size."""

    def __init__(self, root: Path, pools: dict[str, list[str]]):
        from ..questions.generate.masks import NormalMeans

        self._means = NormalMeans(Path(root), pools)
        self.errors: dict[str, str] = {}

    def get(self, category: str, shape: tuple[int, int]):
        size = (shape[1], shape[0])
        try:
            return self._means.object_shape(category, size)[0]
        except DataError as e:
            self.errors[category] = str(e)
            return None
