"""A small MMAD-layout data root (two datasets, Anomaly Detection and Defect Localization questions) and a
maps folder for it written in every supported format (a uniquely named module: other folders have
conftests)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

W, H = 40, 32
DATASETS = (("DS-MVTec", "bottle"), ("VisA", "candle"))
DEFECT_SCORES = (0.9, 0.8, 0.55)     # per dataset; normal images score 0.1 and 0.6
NORMAL_SCORES = (0.1, 0.6)
# overall AUROC: each defective score against the four normal ones: (4 + 4 + 2) * 2 / (6 * 4)
EXPECTED_AUROC = 20 / 24
FORMATS = ("png8", "png16", "npy", "tiff")


def _png(path: Path, seed: int, marker: int = 0) -> None:
    """Noise; the top-left pixel is white on defective images (a fake server can tell them apart)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 255, (H, W, 3), dtype=np.uint8)
    a[0, 0] = marker
    Image.fromarray(a).save(path)


def is_marked_defective(data_url: str) -> bool:
    """Reads the marker back from an image sent as a data URL."""
    import base64
    import io

    im = Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))).convert("RGB")
    return im.getpixel((0, 0)) == (255, 255, 255)


def make_root(root: Path) -> tuple[Path, list[tuple[str, bool, float]]]:
    """Writes images and mmad.json; returns (question file, [(key, defective, score)])."""
    data, items, seed = {}, [], 0
    for dataset, cat in DATASETS:
        goods = [f"{dataset}/{cat}/train/good/{i:03d}.png" for i in range(3)]
        for g in goods:
            seed += 1
            _png(root / g, seed)
        for kind, scores in (("good", NORMAL_SCORES), ("broken", DEFECT_SCORES)):
            for i, score in enumerate(scores):
                key = f"{dataset}/{cat}/test/{kind}/{i:03d}.png"
                seed += 1
                defective = kind != "good"
                _png(root / key, seed, 255 if defective else 0)
                conv = [{"Question": "Is there any defect in the object?", "Answer": "A" if defective else "B",
                         "Options": {"A": "Yes.", "B": "No."}, "type": "Anomaly Detection"}]
                if defective:
                    conv.append({"Question": "There is a defect in the object. Where is the defect?",
                                 "Answer": "C", "Options": {"A": "Bottom right.", "B": "Center.", "C": "Top left.",
                                                           "D": "Top right."}, "type": "Defect Localization"})
                data[key] = {"image_path": key, "conversation": conv, "similar_templates": goods,
                             "random_templates": goods, "mask_path": ""}
                items.append((key, defective, score))
    path = root / "mmad.json"
    path.write_text(json.dumps(data, indent=1))
    return path, items


def hot_map(h: int, w: int, peak: float, hot: bool) -> np.ndarray:
    """A map with a bright top-left square on a low background (flat low when not hot)."""
    m = np.full((h, w), 0.05, np.float32)
    if hot:
        m[: h // 4, : w // 4] = peak
    return m


def write_maps_folder(out: Path, items, abs_prefix: str = "/mnt/detector/data/") -> Path:
    """One map per image, cycling through the formats at odd sizes; scores.csv with a threshold column and
    some absolute paths."""
    rows = ["image,score,threshold"]
    for n, (key, defective, score) in enumerate(items):
        fmt = FORMATS[n % len(FORMATS)]
        h, w = ((16, 16), (64, 48), (8, 10), (33, 41))[n % 4]
        m = hot_map(h, w, 0.9, defective)
        stem = out / "maps" / Path(key).with_suffix("")
        stem.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "png8":
            Image.fromarray((m * 255).astype(np.uint8)).save(stem.with_suffix(".png"))
        elif fmt == "png16":
            Image.fromarray((m * 65535).astype(np.uint16)).save(stem.with_suffix(".png"))
        elif fmt == "npy":
            np.save(stem.with_suffix(".npy"), m[None])           # a leading channel axis is squeezed
        else:
            Image.fromarray(m, mode="F").save(stem.with_suffix(".tiff"))
        path = (abs_prefix + key) if n % 3 == 0 else key
        rows.append(f"{path},{score},0.5")
    (out / "scores.csv").write_text("\n".join(rows) + "\n")
    return out
