"""Small procedural images for the expert tests: a texture and painted blobs at known places."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from mmad_eval.enhance.expert import Detector, DetectorSettings
from mmad_eval.questions.model import ImageEntry, QuestionSet

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


@pytest.fixture(scope="session")
def texture_set():
    rng = np.random.default_rng(7)
    refs = [texture(rng) for _ in range(8)]
    normals = [texture(rng) for _ in range(8)]
    blob, mask = paint_blob(texture(rng), cy=20, cx=75, radius=8)   # top right cell
    return refs, normals, blob, mask


@pytest.fixture(scope="session")
def fitted(texture_set):
    refs = texture_set[0]
    return Detector(FAST).fit(refs)


def save_png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


@pytest.fixture(scope="session")
def data_root(tmp_path_factory, texture_set):
    """A tiny MMAD-like root: two categories, templates, one defective query with a mask, one normal."""
    root = tmp_path_factory.mktemp("mmad")
    refs, normals, blob, mask = texture_set
    entries = {}
    for cat in ("wood", "tile"):
        base = f"DS-MVTec/{cat}"
        templates = []
        for i, ref in enumerate(refs[:5]):
            rel = f"MVTec-AD/{cat}/train/good/{i:03d}.png"
            save_png(root / rel, ref)
            templates.append(rel)
        bad_key = f"{base}/image/stain/000.png"
        good_key = f"{base}/image/good/000.png"
        save_png(root / bad_key, blob)
        save_png(root / good_key, normals[0])
        save_png(root / f"{base}/mask/stain/000_mask.png", (mask * 255).astype(np.uint8))
        # wood gives the mask relative to the root, tile relative to <dataset>/<category>/
        mask_path = f"{base}/mask/stain/000_mask.png" if cat == "wood" else "mask/stain/000_mask.png"
        entries[bad_key] = ImageEntry(bad_key, [], similar_templates=templates[:3],
                                      random_templates=templates[2:], mask_path=mask_path)
        entries[good_key] = ImageEntry(good_key, [], similar_templates=templates[:2],
                                       random_templates=[templates[4]])
    return root, QuestionSet(entries)
