"""A hand-made MMAD-format set with known label errors, written as small PNGs (128 px) in a temp folder.

Categories (dataset ``DS``): ``bottle`` (a brown ring seen from above, centred), ``nut`` (a grey square on
white), ``pill`` (a white ellipse on black). Known errors:
- ``DS/pill/test/good/000.png`` shows a nut (references are pills): image_category + reference_category;
- ``DS/bottle/test/good/001.png``: one of its references is a nut: reference_category;
- ``DS/bottle/test/broken/000.png``: break on the bottom of the rim, Defect Localization answer
  "Around the center" (MMAD issue 18's case): localization;
- ``DS/bottle/test/broken/001.png``: Anomaly Detection answer "No." for a defective image: label_mask;
- ``DS/bottle/test/broken/002.png``: defective, but its mask is empty: label_mask;
- ``DS/nut/test/good/001.png``: a normal image with a non-empty mask: label_mask;
- ``DS/nut/test/good/002.png``: the same pixels as ``DS/nut/test/good/000.png`` (re-encoded): duplicate_image;
- ``DS/nut/test/scratch/000.png``: a Defect Classification question naming the answer: giveaway.
Correct items (never flagged): ``DS/bottle/test/broken/003.png`` (answer "At the bottom" right, distractors
free), ``DS/bottle/test/good/000.png``, ``DS/pill/test/good/001.png``, the transistor-like leg answer
``DS/nut/test/bent/000.png`` ("On the middle leg.": unchecked).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

S = 128
YES_NO = {"A": "Yes.", "B": "No."}


def _png(path: Path, arr, compress: int = 6) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(arr, dtype=np.uint8)).save(path, compress_level=compress)


def _grid():
    return np.mgrid[:S, :S]


def bottle(seed: int, break_at=None):
    rng = np.random.default_rng(seed)
    yy, xx = _grid()
    r = np.hypot(yy - S / 2, xx - S / 2)
    img = np.zeros((S, S, 3)) + 20 + rng.normal(0, 3, (S, S, 3))
    ring = (r > 34) & (r < 52)
    img[ring] = [150, 100, 40]
    img[r <= 34] = [60, 45, 30]
    mask = np.zeros((S, S), bool)
    if break_at is not None:
        cy, cx = break_at
        mask = (np.hypot(yy - cy, xx - cx) < 9) & (r > 30)
        img[mask] = [20, 20, 20]
    return img.clip(0, 255), mask


def nut(seed: int):
    rng = np.random.default_rng(seed)
    img = np.zeros((S, S, 3)) + 235 + rng.normal(0, 3, (S, S, 3))
    img[34:94, 34:94] = [110, 110, 120]
    img[54:74, 54:74] = [235, 235, 235]
    return img.clip(0, 255)


def pill(seed: int):
    rng = np.random.default_rng(seed)
    yy, xx = _grid()
    img = np.zeros((S, S, 3)) + 10 + rng.normal(0, 3, (S, S, 3))
    inside = ((yy - S / 2) / 28) ** 2 + ((xx - S / 2) / 50) ** 2 <= 1
    img[inside] = [240, 235, 225]
    spots = inside & (rng.random((S, S)) < 0.03)
    img[spots] = [200, 40, 40]
    return img.clip(0, 255)


def q(qtype: str, text: str, options: dict, answer: str) -> dict:
    return {"Question": text, "Answer": answer, "Options": options, "type": qtype}


def build(root: Path) -> Path:
    """Write the images, masks and ``mmad.json``; returns the question file."""
    root = Path(root)
    refs = {}
    for cat, make in (("bottle", lambda i: bottle(i)[0]), ("nut", nut), ("pill", pill)):
        refs[cat] = [f"DS/{cat}/train/good/{i:03d}.png" for i in range(5)]
        for i, key in enumerate(refs[cat]):
            _png(root / key, make(100 + i))
    data = {}

    def entry(key, img, conv, cat, mask=None):
        _png(root / key, img)
        mask_path = ""
        if mask is not None:
            mask_path = key.replace("/test/", "/ground_truth/").replace(".png", "_mask.png")
            _png(root / mask_path, mask.astype(np.uint8) * 255)
        data[key] = {"image_path": key, "conversation": conv, "similar_templates": refs[cat][:3],
                     "random_templates": refs[cat][2:], "mask_path": mask_path}

    ad_yes = q("Anomaly Detection", "Is there any defect in the object?", YES_NO, "A")
    ad_no = q("Anomaly Detection", "Is there any defect in the object?", YES_NO, "B")
    loc = {"A": "At the bottom", "B": "Around the edges", "C": "Around the center", "D": "Top left corner"}
    where = "There is a defect in the object. Where is the defect?"
    img, m = bottle(1, break_at=(S / 2 + 45, S / 2))
    entry("DS/bottle/test/broken/000.png", img, [ad_yes, q("Defect Localization", where, loc, "C")], "bottle", m)
    img, m = bottle(2, break_at=(S / 2 - 40, S / 2 - 20))
    entry("DS/bottle/test/broken/001.png", img, [ad_no], "bottle", m)
    img, _ = bottle(3)
    entry("DS/bottle/test/broken/002.png", img, [ad_yes], "bottle", np.zeros((S, S), bool))
    img, m = bottle(4, break_at=(S / 2 + 45, S / 2 + 5))
    right = {"A": "At the bottom", "B": "Top left corner", "C": "Top right corner", "D": "On the top edge"}
    entry("DS/bottle/test/broken/003.png", img, [ad_yes, q("Defect Localization", where, right, "A")], "bottle", m)
    entry("DS/bottle/test/good/000.png", bottle(5)[0], [ad_no], "bottle")
    entry("DS/bottle/test/good/001.png", bottle(12)[0], [ad_no], "bottle")
    data["DS/bottle/test/good/001.png"]["random_templates"] = ["DS/nut/train/good/004.png", *refs["bottle"][3:]]
    entry("DS/nut/test/good/000.png", nut(6), [ad_no], "nut")
    nut_mask = np.zeros((S, S), bool)
    nut_mask[40:50, 40:50] = True
    entry("DS/nut/test/good/001.png", nut(7), [ad_no], "nut", nut_mask)
    _png(root / "DS/nut/test/good/002.png", nut(6), compress=1)          # same pixels as 000, other bytes
    data["DS/nut/test/good/002.png"] = {**data["DS/nut/test/good/000.png"], "image_path": "DS/nut/test/good/002.png"}
    types = {"A": "Scratch", "B": "Bent", "C": "Color", "D": "Flip"}
    scratch = nut(8)
    scratch[60:62, 30:90] = 40
    m = np.zeros((S, S), bool)
    m[58:64, 30:90] = True
    entry("DS/nut/test/scratch/000.png", scratch,
          [ad_yes, q("Defect Classification", "There is a scratch on the nut. What is the type of the defect?",
                     types, "A")], "nut", m)
    legs = {"A": "On the left leg.", "B": "On the middle leg.", "C": "On the right leg.", "D": "On the body."}
    bent = nut(9)
    bent[94:110, 60:68] = 60
    m = np.zeros((S, S), bool)
    m[94:110, 60:68] = True
    entry("DS/nut/test/bent/000.png", bent, [ad_yes, q("Defect Localization", where, legs, "B")], "nut", m)
    entry("DS/pill/test/good/000.png", nut(10), [ad_no], "pill")          # a nut filed as a pill
    entry("DS/pill/test/good/001.png", pill(11), [ad_no], "pill")
    path = root / "mmad.json"
    path.write_text(json.dumps(data, indent=1))
    return path


EXPECTED = {
    ("image_category", "DS/pill/test/good/000.png"),
    ("reference_category", "DS/pill/test/good/000.png"),
    ("reference_category", "DS/bottle/test/good/001.png"),
    ("localization", "DS/bottle/test/broken/000.png"),
    ("label_mask", "DS/bottle/test/broken/001.png"),
    ("label_mask", "DS/bottle/test/broken/002.png"),
    ("label_mask", "DS/nut/test/good/001.png"),
    ("duplicate_image", "DS/nut/test/good/002.png"),
    ("giveaway", "DS/nut/test/scratch/000.png"),
}
