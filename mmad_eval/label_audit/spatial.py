"""Spatial words of a Defect Localization option, mapped to image regions.

A phrase ("Top left corner of the image", "Around the edges", "On the top edge of the object", "Across the
middle") is split on "and"/"," into parts; each part's words become a region: a row, a column, a cell of the
3x3 grid, the four corners, the outer ring (edge, rim, border, periphery) or the centre. Parts are joined by
union. Two frames are used:

- the image: the words name parts of the image's 3x3 grid (or its halves);
- the object (categories whose normal images give one outline at a fixed place, see
  ``generate/object_zones.py``): centre and edge words name the object's middle (``rho < 0.5``) and its rim
  (``rho >= 0.8``); side and corner words name cells of the object's bounding box.

A phrase that says "image" uses the image frame only, one that names the object (object, product, item or
the category's own name) the object frame only; a bare phrase ("At the bottom") may mean either, so a check
uses both and decides only when both agree. A phrase with a word outside this vocabulary ("On the middle
leg", "On the surface") names a part the mask cannot locate: it is unchecked, never right or wrong.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

VERT = {"top": 0, "upper": 0, "bottom": 2, "lower": 2}
HORIZ = {"left": 0, "right": 2}
CENTRE = {"center", "centre", "central", "centered", "centred", "middle", "inner", "interior"}
EDGE = {"edge", "edges", "border", "borders", "periphery", "peripheral", "perimeter", "rim", "outer",
        "margin", "margins", "boundary", "outline", "circumference"}
CORNER = {"corner", "corners"}
HALF = {"half"}
ACROSS = {"across", "horizontal", "horizontally", "row"}
LINE = {"along", "side", "sides"}
DOWN = {"down", "vertical", "vertically", "column"}
IMAGE = {"image", "picture", "photo", "frame", "view", "photograph"}
OBJECT = {"object", "product", "item", "workpiece", "sample", "piece"}
FILLER = {"the", "a", "an", "of", "in", "on", "at", "near", "around", "along", "close", "to", "toward",
          "towards", "side", "sides", "area", "areas", "region", "regions", "part", "parts", "portion",
          "section", "zone", "location", "spot", "located", "place", "point", "its", "is", "slightly",
          "mostly", "somewhere", "closer", "nearer", "within", "inside", "from", "by", "located", "it",
          "defect", "there", "end", "ends", "quadrant", "position", "positioned", "situated", "direction"}
SEPARATORS = {"and", "or"}
SEVERAL = {"several", "multiple", "many", "various", "scattered", "places", "spots", "locations"}
WIDE = {"most", "whole", "entire", "throughout", "everywhere", "all", "over", "overall"}
_WORD = re.compile(r"[a-z]+|,")
EDGE_RHO, MIDDLE_RHO = 0.8, 0.5


@dataclass(frozen=True)
class Part:
    """One conjunct of a phrase: its row/column words and its centre/edge/corner/half/line words."""

    vert: int | None
    horiz: int | None
    centre: bool
    edge: bool
    corner: bool
    half: bool
    across: bool
    down: bool
    line: bool


@dataclass(frozen=True)
class Parsed:
    """A parsed phrase: parts (empty when unchecked), the frames it may mean, and why it is unchecked."""

    parts: tuple[Part, ...]
    frames: tuple[str, ...]          # subset of ("image", "object")
    unchecked: str = ""               # reason, when the phrase cannot be checked against a mask
    spread: str = ""                  # "several" (separate places) or "wide" (most of the frame)


def object_words(category: str) -> set[str]:
    """Words naming the category's object: 'metal_nut' -> metal, nut, nuts; 'pcb1' -> pcb, pcbs."""
    out = set(OBJECT)
    for w in re.findall(r"[a-z]+", category.lower().replace("_", " ")):
        out |= {w, w + "s", w + "es"}
    return out


def parse(phrase: str, category: str = "") -> Parsed:
    tokens = _WORD.findall(phrase.lower())
    obj_words = object_words(category)
    says_image = any(t in IMAGE for t in tokens)
    says_object = any(t in obj_words for t in tokens)
    if any(t in SEVERAL for t in tokens) or any(t in WIDE for t in tokens):
        spread = "several" if any(t in SEVERAL for t in tokens) else "wide"
        rest = [t for t in tokens if t not in SEVERAL | WIDE | FILLER | IMAGE | obj_words | ACROSS | SEPARATORS
                and t != ","]
        if rest:
            return Parsed((), (), f"names something the mask cannot locate ({rest[0]!r})")
        return Parsed((), ("image",), spread=spread)
    groups: list[list[str]] = [[]]
    for t in tokens:
        if t == "," or t in SEPARATORS:
            groups.append([])
            continue
        known = (t in VERT or t in HORIZ or t in CENTRE or t in EDGE or t in CORNER or t in HALF or t in ACROSS
                 or t in DOWN or t in IMAGE or t in obj_words or t in FILLER)
        if not known:
            return Parsed((), (), f"names something the mask cannot locate ({t!r})")
        groups[-1].append(t)
    parts = tuple(p for p in (_part(g) for g in groups if g) if p is not None)
    if not parts:
        return Parsed((), (), "no spatial word")
    frames = ("image",) if says_image and not says_object else ("object",) if says_object and not says_image \
        else ("image", "object")
    return Parsed(parts, frames)


def _part(words: list[str]) -> Part | None:
    vert = next((VERT[w] for w in words if w in VERT), None)
    horiz = next((HORIZ[w] for w in words if w in HORIZ), None)
    flags = {name: any(w in vocab for w in words) for name, vocab in
             (("centre", CENTRE), ("edge", EDGE), ("corner", CORNER), ("half", HALF), ("across", ACROSS),
              ("down", DOWN), ("line", LINE))}
    if vert is None and horiz is None and not (flags["centre"] or flags["edge"] or flags["corner"]):
        return None
    return Part(vert=vert, horiz=horiz, **flags)


# -- regions -----------------------------------------------------------------------------------------
def _band(coord: np.ndarray, index: int | None, half: bool, tol: float) -> np.ndarray:
    """Pixels whose normalised coordinate lies in third ``index`` (0, 1, 2) or the matching half."""
    if index is None:
        return np.ones_like(coord, dtype=bool)
    if half:
        lo, hi = (0.0, 0.5) if index == 0 else (0.5, 1.0) if index == 2 else (0.25, 0.75)
    else:
        lo, hi = index / 3, (index + 1) / 3
    lo = -np.inf if index == 0 else lo - tol
    hi = np.inf if index == 2 else hi + tol
    return (coord >= lo) & (coord < hi)


def grid_region(part: Part, x: np.ndarray, y: np.ndarray, tol: float, broad: bool = True) -> np.ndarray:
    """The part's region on a 3x3 grid over normalised coordinates ``x``, ``y`` (0..1 across the frame).

    A bare side word ("At the bottom", "top") may mean the whole row or only its middle cell (our
    generator's "top" is the top-centre cell): ``broad`` takes the row, else the cell. Answers are checked
    on the broad reading, distractors on the narrow one, so neither reading alone can raise a flag."""
    v, h = part.vert, part.horiz
    if not broad and not (part.line or part.half or part.edge or part.corner or part.centre) \
            and (v is None) != (h is None):
        v = 1 if v is None else v
        h = 1 if h is None else h
    if part.corner:
        rows = [v] if v is not None else [0, 2]
        cols = [h] if h is not None else [0, 2]
        return np.logical_or.reduce([_band(y, r, False, tol) & _band(x, c, False, tol) for r in rows for c in cols])
    if part.centre and v is None and h is None:
        if part.across:
            return _band(y, 1, False, tol)
        if part.down:
            return _band(x, 1, False, tol)
        return _band(y, 1, False, tol) & _band(x, 1, False, tol)
    if part.edge and v is None and h is None:
        return ~(_band(y, 1, False, -tol) & _band(x, 1, False, -tol))
    if part.centre:                      # "top center", "middle left": the cell next to the centre
        v = 1 if v is None else v
        h = 1 if h is None else h
    return _band(y, v, part.half, tol) & _band(x, h, part.half, tol)


@dataclass
class Frames:
    """Normalised coordinates of the image (and of the object, when its outline is known) at mask size."""

    shape: tuple[int, int]
    object_xy: tuple[np.ndarray, np.ndarray] | None = None
    object_rho: np.ndarray | None = None

    @classmethod
    def for_mask(cls, shape: tuple[int, int], object_shape=None) -> Frames:
        f = cls(shape)
        if object_shape is not None and object_shape.mask.shape == tuple(shape):
            ys, xs = np.nonzero(object_shape.mask)
            yy, xx = np.mgrid[:shape[0], :shape[1]]
            f.object_xy = ((xx - xs.min()) / max(1, xs.max() - xs.min() + 1),
                           (yy - ys.min()) / max(1, ys.max() - ys.min() + 1))
            f.object_rho = object_shape.rho
        return f

    def image_xy(self) -> tuple[np.ndarray, np.ndarray]:
        h, w = self.shape
        yy, xx = np.mgrid[:h, :w]
        return (xx + 0.5) / w, (yy + 0.5) / h


def region(parsed: Parsed, frame: str, frames: Frames, tol: float, broad: bool = True) -> np.ndarray | None:
    """Union of the parts' regions in one frame; None when that frame is unavailable (no outline)."""
    if frame == "object":
        if frames.object_xy is None:
            return None
        x, y = frames.object_xy
    else:
        x, y = frames.image_xy()
    out = np.zeros(frames.shape, dtype=bool)
    for part in parsed.parts:
        if frame == "object" and (part.centre or part.edge) and not part.corner and not part.across \
                and not part.down:
            out |= _object_zone(part, frames, x, y, tol, broad)
        elif frame == "object" and not broad and not (part.corner or part.half or part.across or part.down) \
                and (part.vert is None) != (part.horiz is None):
            # "on the left part of the object", read narrowly: the outer part on that side (object_zones.py)
            out |= (frames.object_rho >= MIDDLE_RHO) & _quadrant(part, x, y)
        else:
            out |= grid_region(part, x, y, tol, broad)
    return out


def _object_zone(part: Part, frames: Frames, x, y, tol: float, broad: bool) -> np.ndarray:
    rho = frames.object_rho
    if part.centre and part.vert is None and part.horiz is None:
        return rho < MIDDLE_RHO + 3 * tol
    if part.edge:
        ring = rho >= EDGE_RHO - 3 * tol
        if part.vert is None and part.horiz is None:
            return ring
        if broad:                                   # the side's half of the rim
            return ring & _band(y, part.vert, True, tol) & _band(x, part.horiz, True, tol)
        return ring & _quadrant(part, x, y)         # the side's quadrant of the rim (object_zones.py)
    return grid_region(part, x, y, tol, broad)


def _quadrant(part: Part, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pixels whose ray from the object's centre points to the part's side (top: |v| >= |u| and v < 0)."""
    u, v = 2 * x - 1, 2 * y - 1
    if part.vert is not None and part.horiz is not None:
        return ((v < 0) if part.vert == 0 else (v > 0)) & ((u < 0) if part.horiz == 0 else (u > 0))
    if part.vert is not None:
        return (np.abs(v) >= np.abs(u)) & ((v < 0) if part.vert == 0 else (v > 0))
    return (np.abs(u) > np.abs(v)) & ((u < 0) if part.horiz == 0 else (u > 0))


def shares(parsed: Parsed, mask: np.ndarray, frames: Frames, tol: float, broad: bool = True) -> dict[str, float]:
    """Share of the mask's pixels inside the phrase's region, per available frame."""
    total = max(1, int(mask.sum()))
    out = {}
    for frame in parsed.frames:
        reg = region(parsed, frame, frames, tol, broad)
        if reg is not None:
            out[frame] = float((mask & reg).sum() / total)
    return out
