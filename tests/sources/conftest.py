"""Tiny dataset trees written with PIL, one helper per layout."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def png(path: Path, size=(16, 12), value=128, mode="RGB") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
    Image.fromarray(np.full(shape, value, np.uint8), mode).save(path)
    return path


def mask(path: Path, size=(16, 12), box=(2, 2, 6, 6)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    a = np.zeros((size[1], size[0]), np.uint8)
    a[box[1]:box[3], box[0]:box[2]] = 255
    Image.fromarray(a, "L").save(path)
    return path


def mvtec_tree(folder: Path, cats=("bottle", "screw"), defects=("broken", "scratch")) -> Path:
    for c in cats:
        for i in range(3):
            png(folder / c / "train" / "good" / f"{i:03d}.png")
        png(folder / c / "test" / "good" / "000.png")
        for d in defects:
            for i in range(2):
                png(folder / c / "test" / d / f"{i:03d}.png")
                mask(folder / c / "ground_truth" / d / f"{i:03d}_mask.png")
    return folder
