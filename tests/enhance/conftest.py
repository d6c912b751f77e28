"""Session fixtures for the expert tests: procedural textures with painted blobs, a tiny MMAD-like root."""
from __future__ import annotations

import numpy as np
import pytest

from expert_helpers import FAST, paint_blob, save_png, texture
from mmad_eval.enhance.expert import Detector
from mmad_eval.questions.model import ImageEntry, QuestionSet


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
