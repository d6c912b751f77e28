"""Helpers for the expert tests (a uniquely named module: several test folders have a conftest)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from mmad_eval.enhance.expert import DetectorSettings

SIDE = 96
FAST = DetectorSettings(side=SIDE, max_bank=3000)


def texture(rng: np.random.Generator, side: int = SIDE) -> np.ndarray:
    """A warm, grainy surface (value noise at two scales), uint8 RGB."""
    def vnoise(cell):
        g = rng.random((side // cell + 3, side // cell + 3)).astype(np.float32)
        return ndimage.zoom(g, cell, order=1)[:side, :side]
    base = 0.5 + 0.25 * vnoise(8) + 0.15 * vnoise(3)
    rgb = np.clip(base[..., None] * np.array([0.8, 0.6, 0.4], np.float32), 0, 1)
    return (rgb * 255).astype(np.uint8)


def paint_blob(image: np.ndarray, cy: int, cx: int, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """A dark bluish blob painted at (cy, cx); returns (image, mask)."""
    yy, xx = np.mgrid[0:image.shape[0], 0:image.shape[1]]
    mask = np.hypot(yy - cy, xx - cx) < radius
    out = image.copy()
    out[mask] = (out[mask] * 0.3 + np.array([10, 20, 60])).astype(np.uint8)
    return out, mask


def save_png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
