"""Helpers for the run engine tests: a tiny MMAD-layout data root and a counting backend."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mmad_eval.backends.base import Backend, Response
from mmad_eval.run.settings import ProtocolSettings, RunSettings


def _png(path: Path, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (24, 24, 3), dtype=np.uint8)).save(path)


def make_dataset(root: Path) -> Path:
    """6 query images over 2 datasets; 2-4 questions each; random/similar templates. Returns mmad.json."""
    data = {}
    seed = 0
    for dataset, cat in (("DS-MVTec", "bottle"), ("VisA", "candle")):
        goods = [f"{dataset}/{cat}/train/good/{i:03d}.png" for i in range(3)]
        for g in goods:
            seed += 1
            _png(root / g, seed)
        for kind in ("good", "broken"):
            for i in range(2 if kind == "broken" else 1):
                key = f"{dataset}/{cat}/test/{kind}/{i:03d}.png"
                seed += 1
                _png(root / key, seed)
                conv = [{"Question": "Is there any defect in the object?", "Answer": "A" if kind != "good" else "B",
                         "Options": {"A": "Yes.", "B": "No."}, "type": "Anomaly Detection"}]
                if kind == "good":
                    conv.append({"Question": "What kind of product is in the image?", "Answer": "C",
                                 "Options": {"A": "Pill", "B": "Screw", "C": cat.title(), "D": "Cable"},
                                 "type": "Object Classification"})
                else:
                    conv.append({"Question": "There is a defect in the object. What is the type of the defect?",
                                 "Answer": "B", "Options": {"A": "Scratch", "B": "Broken", "C": "Stain", "D": "Hole"},
                                 "type": "Defect Classification"})
                    conv.append({"Question": "There is a defect in the object. Where is the defect?",
                                 "Answer": "D", "Options": {"A": "Top", "B": "Left", "C": "Right", "D": "Center"},
                                 "type": "Defect Localization"})
                data[key] = {"image_path": key, "conversation": conv, "similar_templates": goods[::-1],
                             "random_templates": goods, "mask_path": ""}
    path = root / "mmad.json"
    path.write_text(json.dumps(data, indent=1))
    return path


@pytest.fixture(scope="session")
def dataset(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("data"))


class CountingBackend(Backend):
    """Answers from the key (deterministic); counts every request it is asked; can fail chosen qids."""

    kind = "counting"
    calls: list[str] = []
    generate_calls = 0

    def __init__(self, model, generation, images, fail_qids=(), per_image=False, **options):
        super().__init__(model, generation, images, **options)
        self.fail_qids = set(fail_qids)

    async def generate(self, items, emit):
        type(self).generate_calls += 1
        for key, req in items:
            type(self).calls.append(key)
            if self.fail_qids & set(req.qids):
                emit(Response(key=key, error_type="server_error", error_message="boom", attempts=3))
                continue
            lines = []
            for n, letters in enumerate(req.options, 1):
                letter = letters[int(hashlib.sha256(f"{key}{n}".encode()).hexdigest(), 16) % len(letters)]
                lines.append(f"{n}: {letter}" if len(req.options) > 1 else f"Answer: {letter}")
            emit(Response(key=key, text="\n".join(lines), prompt_tokens=10, completion_tokens=2, latency_s=0.0))


@pytest.fixture
def counting():
    CountingBackend.calls = []
    CountingBackend.generate_calls = 0
    return CountingBackend


def settings(**protocol) -> RunSettings:
    return RunSettings(model="random", protocol=ProtocolSettings(**protocol))
