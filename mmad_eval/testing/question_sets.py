"""Small MMAD-format question sets for tests and benchmarks: n query images, two questions each."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image


def two_question_set(root: Path, n_images: int, side: int = 16, dataset: str = "Synth") -> Path:
    """``root/mmad.json`` over ``n_images`` random query images of one category (Anomaly Detection and
    Defect Localization each) and one normal template; returns the question file's path."""
    rng = np.random.default_rng(0)
    template = f"{dataset}/widget/train/good/000.png"
    queries = [f"{dataset}/widget/test/bad/{i:04d}.png" for i in range(n_images)]
    for rel in [template, *queries]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (side, side, 3), dtype=np.uint8)).save(root / rel)
    data = {key: {"image_path": key, "mask_path": "", "random_templates": [template],
                  "similar_templates": [template], "conversation": [
                      {"Question": "Is there any defect in the object?", "Answer": "A",
                       "Options": {"A": "Yes.", "B": "No."}, "type": "Anomaly Detection"},
                      {"Question": "Where is the defect?", "Answer": "B", "type": "Defect Localization",
                       "Options": {"A": "Top.", "B": "Left.", "C": "Right.", "D": "Bottom."}}]}
            for key in queries}
    path = root / "mmad.json"
    path.write_text(json.dumps(data))
    return path
