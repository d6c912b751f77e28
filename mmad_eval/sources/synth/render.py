"""Render one synthetic image (normal or with a named defect) from an integer seed.

Three independent random streams come from the seed: the item (texture seed, pose), the defect, and the
finishing (lighting gain and gradient, sensor noise). A defective image therefore equals its normal twin
(same seed, no defect) everywhere except where the defect was painted or the edit changed the render.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ...errors import ConfigError
from .categories import CATEGORIES

PAINT_THRESHOLD = 0.25      # painted coverage above this is defect
EDIT_THRESHOLD = 0.03       # re-render difference (0..1 scale) above this is defect
MIN_DEFECT_PIXELS = 12


@dataclass
class SynthImage:
    image: np.ndarray               # (H, W, 3) uint8
    mask: np.ndarray | None         # (H, W) bool, None for normal images
    bbox: list[int] | None          # [x0, y0, x1, y1], x1/y1 exclusive
    location: str | None            # 3x3 phrase such as "top left" or "center"


def image_seed(seed: int, category: str, folder: str, index: int) -> int:
    """The per-image seed: a function of the run seed, the category, the folder and the index only."""
    ss = np.random.SeedSequence(entropy=int(seed), spawn_key=(zlib.crc32(category.encode()),
                                                              zlib.crc32(folder.encode()), int(index)))
    a, b = ss.generate_state(2, np.uint32)
    return int(a) << 31 | int(b) >> 1


def render_sample(category: str, seed: int, defect: str | None = None, size: int = 256) -> SynthImage:
    spec = CATEGORIES.get(category)
    if spec is None:
        raise ConfigError(f"unknown synthetic category (known: {', '.join(CATEGORIES)})", culprit=category)
    r_item, r_defect, r_finish = (np.random.default_rng(s) for s in np.random.SeedSequence(int(seed)).spawn(3))
    params = spec.sample(r_item)
    base = spec.render(params, size)
    rgb, mask = base.rgb, None
    if defect is not None:
        try:
            ds = spec.defect(defect)
        except KeyError:
            known = ", ".join(d.name for d in spec.defects)
            raise ConfigError(f"unknown defect for {category} (known: {known})", culprit=defect) from None
        for _ in range(8):      # redraw the rare defect that lands almost nowhere
            if ds.paint is not None:
                rgb, cov = ds.paint(base.rgb, base.region(ds.region), r_defect)
                mask = ndimage.binary_fill_holes(cov > PAINT_THRESHOLD)
            else:
                rgb = spec.render(ds.edit(params, r_defect), size).rgb
                mask = edit_mask(base.rgb, rgb)
            if mask.sum() >= MIN_DEFECT_PIXELS * (size / 256) ** 2:
                break
    image = finish(rgb, r_finish)
    bbox = mask_bbox(mask) if mask is not None else None
    return SynthImage(image, mask, bbox, location_phrase(bbox, size) if bbox else None)


def edit_mask(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Pixel-exact mask of a re-rendered edit: thresholded difference, closed, filled, dilated 1 px."""
    diff = np.abs(after - before).max(axis=-1) > EDIT_THRESHOLD
    m = ndimage.binary_closing(diff, structure=np.ones((3, 3)), iterations=2) | diff
    m = ndimage.binary_fill_holes(m)
    return ndimage.binary_dilation(m, structure=np.ones((3, 3)))


def finish(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Lighting gain, a gentle illumination gradient and sensor noise, then 8-bit quantisation."""
    size = rgb.shape[0]
    gain = rng.normal(1.0, 0.03) * rng.normal(1.0, 0.01, 3)
    a = rng.uniform(0, 2 * np.pi)
    ramp = (np.arange(size, dtype=np.float32) - size / 2) / size
    tilt = 1 + rng.uniform(0, 0.06) * (ramp[None, :] * np.cos(a) + ramp[:, None] * np.sin(a))
    noise = rng.standard_normal(rgb.shape, dtype=np.float32) * rng.uniform(0.006, 0.014)
    out = rgb * tilt[..., None] * gain.astype(np.float32) + noise
    return np.clip(out * 255 + 0.5, 0, 255).astype(np.uint8)


def mask_bbox(mask: np.ndarray) -> list[int] | None:
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return None
    return [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]


def location_phrase(bbox: list[int], size: int) -> str:
    """3x3 grid phrase of the box centre: "top left", "top", ..., "center", ..., "bottom right"."""
    cx, cy = (bbox[0] + bbox[2]) / 2 / size, (bbox[1] + bbox[3]) / 2 / size
    row = ["top", "", "bottom"][min(2, int(cy * 3))]
    col = ["left", "", "right"][min(2, int(cx * 3))]
    return " ".join(w for w in (row, col) if w) or "center"
