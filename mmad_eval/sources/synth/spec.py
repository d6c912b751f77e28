"""Typed descriptions of a synthetic category: how to sample a normal item, render it, and make defects."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np


@dataclass
class Render:
    """A clean rendering in linear [0, 1] RGB (H, W, 3), its foreground coverage and named part regions."""

    rgb: np.ndarray
    fg: np.ndarray
    parts: dict[str, np.ndarray] = field(default_factory=dict)

    def region(self, name: str | None) -> np.ndarray:
        return self.fg if name is None else self.parts[name]


# painter(img, region, rng) -> (img, coverage); edit(params, rng) -> params
Painter = Callable[[np.ndarray, np.ndarray, np.random.Generator], tuple[np.ndarray, np.ndarray]]
Edit = Callable[[dict, np.random.Generator], dict]


@dataclass(frozen=True)
class DefectSpec:
    """One defect type: either painted on the clean render or a parameter edit that is re-rendered."""

    name: str
    kind: str = "structural"            # "structural" or "logical"
    paint: Painter | None = None
    edit: Edit | None = None
    region: str | None = None           # part of the item a painted defect lies in (None: foreground)

    def __post_init__(self):
        if (self.paint is None) == (self.edit is None):
            raise ValueError(f"defect {self.name}: give exactly one of paint/edit")


@dataclass(frozen=True)
class CategorySpec:
    name: str
    kind: str                                   # "object" or "texture"
    sample: Callable[[np.random.Generator], dict]
    render: Callable[[dict, int], Render]
    defects: tuple[DefectSpec, ...]

    def defect(self, name: str) -> DefectSpec:
        for d in self.defects:
            if d.name == name:
                return d
        raise KeyError(name)
