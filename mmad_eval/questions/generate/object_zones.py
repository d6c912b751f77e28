"""Where a defect sits on the object: the object's outline from the category's normal images, then the
defect's position relative to that outline (middle, edge, side).

Outline: the mean normal image is compared with its border colour (median of a thin frame), thresholded
(Otsu), the largest component kept and its holes filled. It is trusted only when the category really has
one object at a fixed place: that component holds most of the foreground (not a board of parts or a
texture), covers a sensible share of the image, and each normal image, outlined the same way, agrees
with it (mean IoU). Rotating or moving objects (screws), textures and full-frame boards get no outline,
and their questions keep the image-grid phrases.

Position: every pixel gets ``rho``, its distance from the object's centroid divided by the outline's
distance along the same ray (0 at the centre, 1 on the outline), in coordinates scaled by the object's
bounding box, and a side (top/right/bottom/left: the quadrant of that ray). Zones: the middle
(rho < 0.5), the edge ring (0.8 <= rho <= 1.15, a little outside the outline counts as on the edge),
and each side's outer part (0.5 <= rho <= 1.15). Part names from the knowledge file are not used: they
come without geometry, and guessing where "the neck" is would put wrong answers in the set.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

MIDDLE_RHO = 0.5          # rho below this: the middle of the object
EDGE_RHO = 0.8            # rho from this up to OUTSIDE_RHO: on the edge
OUTSIDE_RHO = 1.15        # beyond this: off the object
DOMINANT = 2 / 3          # share of the defect a zone must hold to be the answer
AROUND_SIDES = 0.15       # "around the edge": at least three sides' edge zones hold this share each
MIN_AGREEMENT = 0.75      # mean IoU of the normal images' outlines with the mean image's outline
MIN_LARGEST = 0.8         # the largest foreground component holds this share of the foreground
AREA_RANGE = (0.03, 0.95)
SIDES = ("top", "right", "bottom", "left")
_BINS = 72
_EIGHT = np.ones((3, 3), dtype=bool)


@dataclass(frozen=True)
class ObjectShape:
    """One category's object outline at one working size, with the per-pixel position maps."""

    mask: np.ndarray          # bool, the filled outline
    rho: np.ndarray           # float32, normalised radius (see module docstring)
    side: np.ndarray          # int8, index into SIDES
    area_frac: float
    agreement: float
    alt: np.ndarray | None = None    # int8, the side across the nearer diagonal
    diag: np.ndarray | None = None   # float32, (|v| - |u|) / (|v| + |u|): 0 on a diagonal

    def as_dict(self) -> dict:
        return {"area_frac": round(self.area_frac, 3), "agreement": round(self.agreement, 3)}


def _otsu(values: np.ndarray) -> float:
    hist, edges = np.histogram(values, bins=256)
    centres = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(hist).astype(np.float64)
    w1 = w0[-1] - w0
    m0 = np.cumsum(hist * centres)
    with np.errstate(divide="ignore", invalid="ignore"):
        between = w0 * w1 * (m0 / w0 - (m0[-1] - m0) / w1) ** 2
    return float(centres[int(np.argmax(np.nan_to_num(between)))])


def foreground(image: np.ndarray) -> tuple[np.ndarray | None, float]:
    """(filled largest component differing from the border colour, its share of all foreground pixels)."""
    h, w, _ = image.shape
    b = max(1, round(0.02 * max(h, w)))
    frame = np.ones((h, w), dtype=bool)
    frame[b:-b, b:-b] = False
    dist = np.linalg.norm(image - np.median(image[frame], axis=0), axis=2)
    fg = dist > _otsu(dist)
    labels, n = ndimage.label(fg, structure=_EIGHT)
    if n == 0:
        return None, 0.0
    sizes = np.bincount(labels.ravel())[1:]
    largest = labels == int(np.argmax(sizes)) + 1
    return ndimage.binary_fill_holes(largest), float(sizes.max() / sizes.sum())


def _iou(a: np.ndarray, b: np.ndarray | None) -> float:
    return 0.0 if b is None else float((a & b).sum() / max(1, (a | b).sum()))


def estimate_object(mean: np.ndarray, normals: list[np.ndarray]) -> tuple[ObjectShape | None, str]:
    """The category's object outline from its mean normal image (and the normals it averages), or None
    with the reason it is not trusted."""
    mask, largest = foreground(mean)
    if mask is None:
        return None, "no foreground differs from the border colour"
    if largest < MIN_LARGEST:
        return None, f"foreground is in many pieces (largest {largest:.0%}): a board of parts or a texture"
    area = float(mask.mean())
    if not AREA_RANGE[0] <= area <= AREA_RANGE[1]:
        return None, f"object covers {area:.0%} of the image"
    agreement = float(np.mean([_iou(mask, foreground(img)[0]) for img in normals])) if normals else 0.0
    if agreement < MIN_AGREEMENT:
        return None, f"normal images disagree on the outline (mean IoU {agreement:.2f}): the object moves"
    rho, side, alt, diag = _position_maps(mask)
    return ObjectShape(mask=mask, rho=rho, side=side, area_frac=area, agreement=agreement, alt=alt, diag=diag), ""


def image_outline_area(image: np.ndarray) -> float | None:
    """The share of one image inside its own object outline, when one object clearly stands out from the
    border colour (the same test as the category outline, without the agreement of several images)."""
    step = max(1, max(image.shape[:2]) // 64)        # a share of the image: a coarse grid is enough
    mask, largest = foreground(image[::step, ::step])
    if mask is None or largest < MIN_LARGEST:
        return None
    area = float(mask.mean())
    return area if AREA_RANGE[0] <= area <= AREA_RANGE[1] else None


def _position_maps(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    h, w = mask.shape
    ys, xs = np.nonzero(mask)
    cy, cx = ys.mean() + 0.5, xs.mean() + 0.5
    hx, hy = (xs.max() - xs.min() + 1) / 2, (ys.max() - ys.min() + 1) / 2
    yy, xx = np.mgrid[:h, :w]
    u, v = (xx + 0.5 - cx) / hx, (yy + 0.5 - cy) / hy
    r = np.hypot(u, v)
    bins = ((np.arctan2(v, u) + math.pi) / (2 * math.pi) * _BINS).astype(int) % _BINS
    reach = np.zeros(_BINS)
    np.maximum.at(reach, bins[mask], r[mask])
    have = np.nonzero(reach > 0)[0]
    if have.size < _BINS:                               # empty angle bins: interpolate around the circle
        reach = np.interp(np.arange(_BINS), have, reach[have], period=_BINS)
    rho = (r / np.maximum(reach[bins], 1e-6)).astype(np.float32)
    side = np.where(np.abs(v) >= np.abs(u), np.where(v < 0, 0, 2), np.where(u > 0, 1, 3)).astype(np.int8)
    alt = np.where(np.abs(v) >= np.abs(u), np.where(u > 0, 1, 3), np.where(v < 0, 0, 2)).astype(np.int8)
    diag = ((np.abs(v) - np.abs(u)) / np.maximum(np.abs(v) + np.abs(u), 1e-6)).astype(np.float32)
    return rho, side, alt, diag


@dataclass(frozen=True)
class Placement:
    """Shares of the defect's pixels in each zone of the object; ``touched`` names every zone with any."""

    middle: float
    edge: float
    outside: float
    parts: tuple[float, ...]       # per side: MIDDLE_RHO <= rho <= OUTSIDE_RHO
    edges: tuple[float, ...]       # per side: EDGE_RHO <= rho <= OUTSIDE_RHO
    rho_range: tuple[float, float]
    touched: tuple[str, ...]
    object: dict
    near: tuple[str, ...] = ()     # zones touched or within the gap margin of a defect pixel

    def as_dict(self) -> dict:
        r = lambda x: round(float(x), 3)  # noqa: E731
        return {"middle": r(self.middle), "edge": r(self.edge), "outside": r(self.outside),
                "parts": dict(zip(SIDES, map(r, self.parts))), "edges": dict(zip(SIDES, map(r, self.edges))),
                "rho_range": [r(x) for x in self.rho_range], "touched": list(self.touched), "near": list(self.near),
                "object": self.object}


def near_zones(shape: ObjectShape, defect: np.ndarray, gap: float) -> tuple[str, ...]:
    """Zones holding a defect pixel or within ``gap`` of one (in rho, and in the diagonal split of sides)."""
    rho, side = shape.rho[defect], shape.side[defect]
    if shape.alt is not None and shape.diag is not None:
        alt, close = shape.alt[defect], np.abs(shape.diag[defect]) < gap
    else:
        alt, close = side, np.zeros(side.shape, bool)
    ring = (rho >= EDGE_RHO - gap) & (rho <= OUTSIDE_RHO + gap)
    outer = (rho >= MIDDLE_RHO - gap) & (rho <= OUTSIDE_RHO + gap)
    out = (["middle"] if (rho < MIDDLE_RHO + gap).any() else []) + (["edge"] if ring.any() else [])
    on_side = [(side == i) | ((alt == i) & close) for i in range(4)]
    out += [f"part:{s}" for s, sel in zip(SIDES, on_side) if (outer & sel).any()]
    out += [f"edge:{s}" for s, sel in zip(SIDES, on_side) if (ring & sel).any()]
    return tuple(out)


def place(shape: ObjectShape, defect: np.ndarray, gap: float = 0.0) -> Placement | None:
    """Measure a defect mask (same working size as the outline) against the object; None if empty.
    ``gap``: margin of the zones the distractors may name (``Placement.near``)."""
    if defect.shape != shape.mask.shape or not defect.any():
        return None
    rho, side = shape.rho[defect], shape.side[defect]
    n = rho.size
    on = rho <= OUTSIDE_RHO
    outer, ring = on & (rho >= MIDDLE_RHO), on & (rho >= EDGE_RHO)
    parts = tuple(float((outer & (side == i)).sum() / n) for i in range(4))
    edges = tuple(float((ring & (side == i)).sum() / n) for i in range(4))
    touched = (["middle"] if (rho < MIDDLE_RHO).any() else []) + (["edge"] if ring.any() else [])
    touched += [f"part:{s}" for s, p in zip(SIDES, parts) if p > 0] + [f"edge:{s}" for s, e in zip(SIDES, edges) if e > 0]
    return Placement(middle=float((rho < MIDDLE_RHO).mean()), edge=float(ring.mean()), outside=float((~on).mean()),
                     parts=parts, edges=edges, rho_range=(float(rho.min()), float(rho.max())),
                     touched=tuple(touched), object=shape.as_dict(),
                     near=tuple(dict.fromkeys([*touched, *near_zones(shape, defect, gap)])))


ZONE_PHRASES = {"middle": "in the middle of the object", "edge": "around the edge of the object",
                **{f"edge:{s}": f"on the {s} edge of the object" for s in SIDES},
                **{f"part:{s}": f"on the {s} part of the object" for s in SIDES}}


def answer_zone(p: Placement) -> tuple[str, str] | None:
    """(zone, form) holding the defect, form being middle | edge | part | around; None when the defect is
    mostly off the object or spread over several zones (the question then uses the image grid)."""
    if p.outside >= 1 - DOMINANT:
        return None
    if p.middle >= DOMINANT:
        return "middle", "middle"
    for s, share in zip(SIDES, p.edges):
        if share >= DOMINANT:
            return f"edge:{s}", "edge"
    for s, share in zip(SIDES, p.parts):
        if share >= DOMINANT:
            return f"part:{s}", "part"
    if p.edge >= DOMINANT and sum(e >= AROUND_SIDES for e in p.edges) >= 3:
        return "edge", "around"
    return None


def free_zones(p: Placement) -> list[str]:
    """Zones the defect does not touch, nor come within the gap margin of: the only ones its distractors
    may name."""
    near = set(p.near or p.touched)
    return [z for z in ZONE_PHRASES if z not in near]
