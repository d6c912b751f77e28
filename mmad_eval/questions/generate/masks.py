"""Mask geometry and pixel tone: the measurements the localization and description rules phrase.

Masks are read once, box-reduced to at most ``WORK_SIDE`` pixels per side (a box reduction keeps every
defect pixel: any non-zero in a box stays non-zero), then measured with numpy/scipy.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from ...imageio import load_image

log = logging.getLogger(__name__)
WORK_SIDE = 256
TEMPLATE_CACHE = 256       # decoded normal images kept per process (uint8 at the working size: ~50 MB at 256 px)
ROWS = ("top", "middle", "bottom")
COLS = ("left", "center", "right")
_EIGHT = np.ones((3, 3), dtype=bool)


def cell_name(index: int) -> str:
    """Phrase of a 3x3 grid cell (row-major index 0..8): 'top left', 'top middle', ..., 'center', ...

    Every cell is named by its row and its column ("top middle", not "top"), so no cell's name also
    describes another cell: "top" alone would be true of a defect in the top-left corner as well."""
    r, c = divmod(index, 3)
    if r == 1 and c == 1:
        return "center"
    return f"{ROWS[r]} {('left', 'middle', 'right')[c]}"


def _open(path: Path, what: str) -> Image.Image:
    return load_image(path, what=what)


def _reduce(img: Image.Image, side: int = WORK_SIDE) -> Image.Image:
    factor = max(1, math.ceil(max(img.size) / side))
    return img.reduce(factor) if factor > 1 else img


def read_mask(path: Path) -> np.ndarray:
    """Boolean defect mask (non-zero = defect) at working resolution."""
    img = _open(path, "mask")
    if img.mode not in ("L", "1"):
        img = img.convert("L")
    elif img.mode == "1":
        img = img.convert("L")
    return np.asarray(_reduce(img)) > 0


def read_rgb(path: Path, size: tuple[int, int]) -> np.ndarray:
    """An image as float RGB at ``size`` (w, h): the mask's working resolution."""
    img = _open(path, "image")
    if img.format == "JPEG":
        img.draft("RGB", size)
    img = img.convert("RGB")
    if img.size != size:
        img = _reduce(img, max(size))
        if img.size != size:
            img = img.resize(size, Image.BILINEAR)
    return np.asarray(img, dtype=np.float32)


@dataclass(frozen=True)
class MaskStats:
    """Geometry of one defect mask, in fractions of the image so it is resolution-free."""

    area_frac: float                 # defect pixels / image pixels
    cell_shares: tuple[float, ...]   # share of the defect area in each 3x3 cell (row-major), sums to 1
    blobs: int                       # connected components holding >= 2% of the defect area
    elongation: float                # sqrt(major/minor second moment) of the largest blob
    fill: float                      # largest blob area / area of its moment-equivalent ellipse
    bbox: tuple[float, float, float, float]   # x0, y0, x1, y1 as fractions of width/height
    blob_cells: tuple[tuple[int, ...], ...]   # for each significant blob, the cells it touches
    blob_shares: tuple[float, ...] = ()       # every blob's share of the defect area, largest first (<= 12)
    near: tuple[int, ...] = ()                # cells within ``gap`` of a defect pixel (touched included)

    @property
    def touched(self) -> tuple[int, ...]:
        return tuple(i for i, s in enumerate(self.cell_shares) if s > 0)

    def dominant(self, min_share: float = 0.3) -> tuple[int, ...]:
        """Cells holding at least ``min_share`` of the defect, or nearly as much as the largest cell (3/4 of
        it: four equal spots give four cells); always at least the largest."""
        top = max(self.cell_shares)
        cut = min(min_share, 0.75 * top)
        return tuple(i for i in range(9) if self.cell_shares[i] >= cut)

    def as_dict(self) -> dict:
        return {"area_frac": round(self.area_frac, 5), "blobs": self.blobs,
                "elongation": round(self.elongation, 2), "fill": round(self.fill, 2),
                "bbox": [round(v, 3) for v in self.bbox],
                "cell_shares": [round(v, 3) for v in self.cell_shares],
                "blob_shares": [round(v, 4) for v in self.blob_shares]}


def cells_near(mask: np.ndarray, gap: float) -> tuple[int, ...]:
    """Grid cells holding a defect pixel or lying within ``gap`` (fraction of the longer side) of one (a
    cell's rectangle grown by the gap holds a defect pixel: the same as growing the mask)."""
    h, w = mask.shape
    px = max(0, round(gap * max(h, w)))
    out = []
    for i in range(9):
        r, c = divmod(i, 3)
        y0, y1 = -(-r * h // 3), -(-(r + 1) * h // 3)          # rows with y * 3 // h == r
        x0, x1 = -(-c * w // 3), -(-(c + 1) * w // 3)
        if mask[max(0, y0 - px):y1 + px, max(0, x0 - px):x1 + px].any():
            out.append(i)
    return tuple(out)


def measure(mask: np.ndarray, gap: float = 0.04) -> MaskStats | None:
    """Measure a boolean mask; None when it is empty. ``gap``: see ``MaskStats.near``."""
    h, w = mask.shape
    ys, xs = np.nonzero(mask)
    total = ys.size
    if total == 0:
        return None
    cells = (ys * 3 // h) * 3 + (xs * 3 // w)
    shares = np.bincount(cells, minlength=9) / total
    labels, n = ndimage.label(mask, structure=_EIGHT)
    sizes = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    keep = [i + 1 for i in np.argsort(-sizes, kind="stable") if sizes[i] >= max(2, 0.02 * total)] or \
        [int(np.argmax(sizes)) + 1]
    lab = labels[ys, xs]
    blob_cells = tuple(tuple(sorted(set(cells[lab == k].tolist()))) for k in keep)
    big = lab == keep[0]
    elong, fill = _moments(ys[big], xs[big])
    bbox = (xs.min() / w, ys.min() / h, (xs.max() + 1) / w, (ys.max() + 1) / h)
    shares_all = tuple(float(x) for x in sorted((sizes / total).tolist(), reverse=True)[:12])
    return MaskStats(area_frac=total / (h * w), cell_shares=tuple(float(s) for s in shares), blobs=len(keep),
                     elongation=elong, fill=fill, bbox=tuple(float(v) for v in bbox), blob_cells=blob_cells,
                     blob_shares=shares_all, near=cells_near(mask, gap))


def _moments(ys: np.ndarray, xs: np.ndarray) -> tuple[float, float]:
    """Elongation and ellipse fill of one blob from its second moments (pixels as unit squares)."""
    cov = np.cov(np.stack([xs, ys]).astype(np.float64)) if xs.size > 1 else np.zeros((2, 2))
    cov = cov + np.eye(2) / 12.0
    lo, hi = np.linalg.eigvalsh(cov)
    elong = math.sqrt(hi / max(lo, 1e-9))
    ellipse = 4.0 * math.pi * math.sqrt(max(hi * lo, 1e-12))
    return elong, min(1.0, xs.size / ellipse)


@dataclass(frozen=True)
class Tone:
    """Mean change at the defect pixels versus a normal reference (0-255 scale)."""

    d_lum: float
    d_chroma: float
    reference: str          # "normal_mean" (mean of the category's normal images) or "ring" (around the mask)


def _luma_chroma(px: np.ndarray) -> tuple[float, np.ndarray]:
    mean = px.reshape(-1, 3).mean(axis=0)
    lum = float(mean @ np.array([0.299, 0.587, 0.114]))
    return lum, mean - lum


def tone(image: np.ndarray, mask: np.ndarray, normal_mean: np.ndarray | None) -> Tone | None:
    """Brightness/colour change of the defect pixels versus the normal mean image, else a ring around it."""
    if normal_mean is not None and normal_mean.shape == image.shape:
        ref_px, reference = normal_mean[mask], "normal_mean"
    else:
        radius = max(2, round(0.03 * max(mask.shape)))
        ring = ndimage.binary_dilation(mask, structure=_EIGHT, iterations=radius) & ~mask
        if not ring.any():
            return None
        ref_px, reference = image[ring], "ring"
    lum_q, chroma_q = _luma_chroma(image[mask])
    lum_r, chroma_r = _luma_chroma(ref_px)
    return Tone(d_lum=lum_q - lum_r, d_chroma=float(np.linalg.norm(chroma_q - chroma_r)), reference=reference)


class NormalMeans:
    """Per category and working size, the mean of up to ``limit`` normal images and the object outline
    estimated from them (object_zones.py); computed once, kept small."""

    def __init__(self, root: Path, pools: dict[str, list[str]], limit: int = 8):
        self.root, self.pools, self.limit = Path(root), pools, limit
        self._cache: dict[tuple[str, tuple[int, int]], np.ndarray | None] = {}
        self._objects: dict[tuple[str, tuple[int, int]], tuple] = {}

    def get(self, category: str, size: tuple[int, int]) -> np.ndarray | None:
        key = (category, size)
        if key not in self._cache:
            from ...paths import safe_join
            from .object_zones import estimate_object

            paths = sorted(self.pools.get(category, []))[: self.limit]
            arrays = [read_rgb(safe_join(self.root, p, what="normal image"), size) for p in paths]
            mean = np.mean(arrays, axis=0) if arrays else None
            self._objects[key] = estimate_object(mean, arrays) if mean is not None else (None, "no normal images")
            shape, why = self._objects[key]
            log.info("%s: %s", category, f"object outline {shape.as_dict()}" if shape else f"no object outline ({why})")
            self._cache[key] = mean
        return self._cache[key]

    def template_mean(self, paths: list[str], size: tuple[int, int], mask: np.ndarray | None = None):
        """Mean of the given normal images (the templates shown with one query) at ``size`` (only at the
        ``mask`` pixels, zero elsewhere, when a mask is given); decoded images are kept in a small LRU (the
        same category's templates recur from image to image); unreadable ones are left out."""
        from collections import OrderedDict

        from ...paths import safe_join

        cache = self.__dict__.setdefault("_decoded", OrderedDict())
        arrays = []
        for p in paths:
            key = (p, size)
            if key in cache:
                cache.move_to_end(key)
            else:
                try:
                    cache[key] = read_rgb(safe_join(self.root, p, what="normal image"), size).astype(np.uint8)
                except DataError:
                    cache[key] = None
                while len(cache) > TEMPLATE_CACHE:
                    cache.popitem(last=False)
            if cache[key] is not None:
                arrays.append(cache[key])
        if not arrays:
            return None
        if mask is None:
            return np.mean([a.astype(np.float32) for a in arrays], axis=0)
        out = np.zeros((*mask.shape, 3), np.float32)
        out[mask] = np.mean([a[mask].astype(np.float32) for a in arrays], axis=0)
        return out

    def object_shape(self, category: str, size: tuple[int, int]):
        """(ObjectShape or None, reason it is None) for the category at this working size."""
        self.get(category, size)
        return self._objects[(category, size)]
