"""Calibration helpers: rank AUROC, synthetic defects pasted on held-out references, variant choice.

The detector picks, per category, which of its map variants to use by pasting synthetic defects (stains,
foreign texture, scratches) onto held-out normal references and keeping the variant with the best sum of
image- and pixel-level AUROC on them, the simplest variant winning ties. Thresholds come from
leave-one-out maps of the normal references (see ``detector.py``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage


def auroc(labels, scores) -> float:
    """Area under the ROC curve by the rank (Mann-Whitney) formula, ties averaged; nan if one class."""
    y = np.asarray(labels, dtype=bool).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s), dtype=np.float64)
    sorted_s = s[order]
    # average ranks over ties
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_s)) + 1]
    ends = np.r_[starts[1:], len(s)]
    avg = (starts + ends + 1) / 2.0
    ranks[order] = np.repeat(avg, ends - starts)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def _noise(shape: tuple[int, int], rng: np.random.Generator, cell: int) -> np.ndarray:
    small = rng.random((max(2, shape[0] // cell + 2), max(2, shape[1] // cell + 2))).astype(np.float32)
    big = ndimage.zoom(small, cell, order=1)[: shape[0], : shape[1]]
    return big


def paste_defect(rgb: np.ndarray, rng: np.random.Generator, kind: int) -> tuple[np.ndarray, np.ndarray]:
    """A copy of a normal H x W x 3 image with one synthetic defect, and its boolean mask.

    kind 0: stain (noise-shaped blob, darkened or tinted); 1: foreign texture (a blob filled with a
    displaced, rotated patch of the same image); 2: scratch (a thin line of contrasting tone); 3: a tiny
    poke or cut (a small dark or bright dot or a short slit, a few pixels across); 4: misplaced material
    (a blob showing the same image shifted, unrotated and untinted: a part missing or moved, which looks
    normal patch by patch and only a position or alignment map can find).
    The defect is centred where the image has detail, so objects get it on the part, not the background.
    """
    h, w = rgb.shape[:2]
    lum = rgb.mean(2)
    energy = ndimage.gaussian_filter(np.abs(ndimage.sobel(lum, 0)) + np.abs(ndimage.sobel(lum, 1)), 4)
    margin = max(4, min(h, w) // 10)
    weight = energy[margin:h - margin, margin:w - margin] + energy.mean() * 0.2 + 1e-6
    flat = rng.choice(weight.size, p=(weight / weight.sum()).ravel())
    cy, cx = np.unravel_index(flat, weight.shape)
    cy, cx = cy + margin, cx + margin
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    out = rgb.copy()
    side = min(h, w)
    if kind == 3 and rng.random() < 0.5:
        radius = rng.uniform(0.008, 0.02) * side + 1.0
        alpha = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * (radius / 1.5) ** 2)).astype(np.float32)
        alpha *= rng.uniform(0.6, 0.9)
        tone = 0.05 if lum[cy, cx] > 0.35 else 0.95
        out = out * (1 - alpha[..., None]) + tone * alpha[..., None]
        return out.astype(np.float32), alpha > 0.2
    if kind in (2, 3):
        angle = rng.uniform(0, np.pi)
        length = (rng.uniform(0.12, 0.3) if kind == 2 else rng.uniform(0.03, 0.07)) * side
        t = (xx - cx) * np.cos(angle) + (yy - cy) * np.sin(angle)
        n = -(xx - cx) * np.sin(angle) + (yy - cy) * np.cos(angle)
        mask = (np.abs(t) < length / 2) & (np.abs(n) < max(1.0, side / 170))
        tone = 0.1 if lum[cy, cx] > 0.5 else 0.9
        alpha = ndimage.gaussian_filter(mask.astype(np.float32), 0.7) * rng.uniform(0.4, 0.8)
        out = out * (1 - alpha[..., None]) + tone * alpha[..., None]
        return out.astype(np.float32), alpha > 0.2
    radius = rng.uniform(0.04, 0.09) * side
    disc = np.exp(-(((yy - cy) ** 2 + (xx - cx) ** 2) / (radius ** 2)) ** 2)
    shape = disc * (0.6 + 0.8 * _noise((h, w), rng, max(2, int(radius / 2))))
    alpha = np.clip((shape - 0.55) * 4.0, 0, 1).astype(np.float32)
    if kind == 4:
        dy, dx = (int(rng.integers(side // 7, side // 3)) * int(rng.choice([-1, 1])) for _ in range(2))
        foreign = np.roll(rgb, (dy, dx), axis=(0, 1))
    elif kind == 0:
        # subtle on purpose: easy defects would make every variant look perfect
        tint = rng.uniform(0.55, 0.85, size=3).astype(np.float32) if lum[cy, cx] > 0.35 else \
            rng.uniform(1.3, 1.8, size=3).astype(np.float32)
        foreign = np.clip(rgb * tint, 0, 1)
    else:
        dy, dx = int(rng.integers(h // 4, 3 * h // 4)), int(rng.integers(w // 4, 3 * w // 4))
        foreign = np.rot90(np.roll(rgb, (dy, dx), axis=(0, 1)), k=1, axes=(0, 1))
        if foreign.shape != rgb.shape:
            foreign = np.roll(rgb, (dy, dx), axis=(0, 1))[:, ::-1]
        foreign = np.clip(foreign * rng.uniform(0.8, 1.2, size=3).astype(np.float32), 0, 1)
    out = out * (1 - alpha[..., None]) + foreign * alpha[..., None]
    mask = alpha > 0.35
    if kind == 4:   # where the shifted content happens to match (background on background) nothing is wrong
        mask &= ndimage.binary_closing(np.abs(out - rgb).max(2) > 0.04, iterations=2)
    return out.astype(np.float32), mask


@dataclass(frozen=True)
class Variant:
    """How the detector turns its raw maps into one anomaly map."""

    position: bool      # weak (x, y) term in the patch features
    align: bool         # fuse the alignment-difference map with the patch-memory map
    per_position: bool  # divide each map by the normal variability at each position
    rotation: bool = False  # rotation-invariant patch features (objects in free pose)

    @property
    def name(self) -> str:
        parts = ["knn"] + (["rot"] if self.rotation else []) + (["pos"] if self.position else []) + \
            (["align"] if self.align else [])
        return "+".join(parts) + ("/var" if self.per_position else "")


# simplest first: ties go to the earlier variant; rotation-invariant features only without position/alignment
# (both assume a fixed pose)
VARIANTS = tuple(Variant(p, a, v) for a in (False, True) for v in (False, True) for p in (False, True)) + \
    tuple(Variant(False, False, v, rotation=True) for v in (False, True))


def variant_by_name(name: str) -> Variant:
    for v in VARIANTS:
        if v.name == name:
            return v
    raise ValueError(f"unknown detector variant {name!r}; known: {', '.join(v.name for v in VARIANTS)}")
