"""Write a synthetic MVTec-AD-style dataset tree, its knowledge file and per-image metadata.

Layout under ``OUT_DIR``::

    knowledge.json                                   (mmad-eval-knowledge/1)
    Synth-AD/synth_meta.json                         (settings manifest + per-test-image metadata)
    Synth-AD/<cat>/train/good/NNN.png
    Synth-AD/<cat>/test/<defect|good>/NNN.png
    Synth-AD/<cat>/ground_truth/<defect>/NNN_mask.png

Every image is a function of (seed, category, folder, index) only, so outputs are byte-identical for a
seed whatever categories or worker count are chosen. Work is spread over processes in small chunks.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from ...atomic_write import atomic_dir, write_text
from ...errors import ConfigError
from ...process_pool import process_pool
from .categories import CATEGORIES
from .knowledge_text import DATASET, build_knowledge
from .render import render_sample, image_seed

FORMAT = "mmad-eval-synth/1"
DEFAULT_TRAIN, DEFAULT_TEST_GOOD, DEFAULT_PER_DEFECT, DEFAULT_SIZE = 8, 4, 3, 256
CHUNK = 12
PNG_LEVEL = 3


@dataclass
class GenerationReport:
    root: Path
    images: int
    seconds: float
    per_category: dict[str, tuple[int, float]] = field(default_factory=dict)   # cat -> (images, cpu s)


def generate_synthetic(out_dir: Path, *, seed: int = 0, categories: list[str] | None = None,
                       n_train: int = DEFAULT_TRAIN, n_test_good: int = DEFAULT_TEST_GOOD,
                       n_per_defect: int = DEFAULT_PER_DEFECT, size: int = DEFAULT_SIZE,
                       workers: int | None = None) -> Path:
    """Generate the synthetic dataset into ``out_dir`` and return ``out_dir``."""
    return generate_with_report(out_dir, seed=seed, categories=categories, n_train=n_train,
                                n_test_good=n_test_good, n_per_defect=n_per_defect, size=size,
                                workers=workers).root


def check_settings(seed, categories, n_train, n_test_good, n_per_defect, size, workers) -> list[str]:
    """Validate generation settings; returns the category list. Raises one ConfigError per problem."""
    cats = list(CATEGORIES) if categories is None else [c.strip() for c in categories if c.strip()]
    for c in cats:
        if c not in CATEGORIES:
            raise ConfigError(f"unknown synthetic category (known: {', '.join(CATEGORIES)})", culprit=c)
    if not cats:
        raise ConfigError("no categories given", culprit="categories")
    if len(set(cats)) != len(cats):
        raise ConfigError("a category is listed twice", culprit=",".join(cats))
    for name, val, lo in [("seed", seed, 0), ("train", n_train, 1), ("test-good", n_test_good, 0),
                          ("per-defect", n_per_defect, 0), ("size", size, 64)]:
        if not isinstance(val, (int, np.integer)) or val < lo:
            raise ConfigError(f"must be an integer >= {lo}", culprit=f"{name}={val!r}")
    if size > 4096:
        raise ConfigError("must be at most 4096", culprit=f"size={size}")
    if max(n_train, n_test_good, n_per_defect) > 999:
        raise ConfigError("at most 999 images per folder (file names are NNN.png)", culprit="counts")
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise ConfigError("must be an integer >= 1", culprit=f"workers={workers!r}")
    return cats


def generate_with_report(out_dir: Path, *, seed: int = 0, categories: list[str] | None = None,
                         n_train: int = DEFAULT_TRAIN, n_test_good: int = DEFAULT_TEST_GOOD,
                         n_per_defect: int = DEFAULT_PER_DEFECT, size: int = DEFAULT_SIZE,
                         workers: int | None = None) -> GenerationReport:
    cats = check_settings(seed, categories, n_train, n_test_good, n_per_defect, size, workers)
    out_dir = Path(out_dir)
    _check_replaceable(out_dir / DATASET)
    # built in a temporary folder renamed into place at the end: a killed generation leaves no partial tree
    with atomic_dir(out_dir / DATASET) as root:
        per_cat, seconds = _generate_into(root, out_dir, cats, seed, n_train, n_test_good, n_per_defect, size,
                                          workers)
    return GenerationReport(out_dir, sum(n for n, _ in per_cat.values()), seconds, per_cat)


def _check_replaceable(root: Path) -> None:
    """Replace only an empty folder or a tree this generator wrote before."""
    if root.exists() and not (root / "synth_meta.json").is_file() and (not root.is_dir() or any(root.iterdir())):
        raise ConfigError("exists and was not written by mmad-eval synth; choose another output folder",
                          culprit=str(root))


def _generate_into(root: Path, out_dir: Path, cats, seed, n_train, n_test_good, n_per_defect, size,
                   workers) -> tuple[dict[str, tuple[int, float]], float]:
    """Render every image (and mask) under ``root``, then its metadata and the knowledge file."""
    units = []
    for cat in cats:
        folders = [("train", "good", n_train), ("test", "good", n_test_good)]
        folders += [("test", d.name, n_per_defect) for d in CATEGORIES[cat].defects]
        for split, label, n in folders:
            (root / cat / split / label).mkdir(parents=True, exist_ok=True)
            if split == "test" and label != "good" and n:
                (root / cat / "ground_truth" / label).mkdir(parents=True, exist_ok=True)
            units += [(str(root), seed, cat, split, label, i, min(n, i + CHUNK), size) for i in range(0, n, CHUNK)]
    t0 = time.perf_counter()
    workers = workers or os.cpu_count() or 1
    if workers == 1 or len(units) == 1:
        results = [_run_unit(u) for u in units]
    else:
        start = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        with process_pool(min(workers, len(units)), context=start) as pool:
            results = pool.map(_run_unit, units, chunksize=1)
    seconds = time.perf_counter() - t0
    images: dict[str, dict] = {}
    per_cat: dict[str, tuple[int, float]] = {}
    for cat, entries, count, cpu in results:
        images.update(entries)
        n, s = per_cat.get(cat, (0, 0.0))
        per_cat[cat] = (n + count, s + cpu)
    meta = {"format": FORMAT, "dataset": DATASET,
            "settings": {"seed": seed, "categories": cats, "n_train": n_train, "n_test_good": n_test_good,
                         "n_per_defect": n_per_defect, "size": size, "generator": "mmad_eval.sources.synth"},
            "categories": {c: {"kind": CATEGORIES[c].kind,
                               "defects": {d.name: d.kind for d in CATEGORIES[c].defects}} for c in cats},
            "images": dict(sorted(images.items()))}
    write_text(root / "synth_meta.json", json.dumps(meta, indent=1) + "\n")
    build_knowledge(cats).save(out_dir / "knowledge.json")
    return per_cat, seconds


def _run_unit(unit) -> tuple[str, dict, int, float]:
    root, seed, cat, split, label, start, stop, size = unit
    t0 = time.process_time()
    root = Path(root)
    entries = {}
    defect = None if label == "good" else label
    kind = None if defect is None else CATEGORIES[cat].defect(defect).kind
    for i in range(start, stop):
        folder = f"{split}/{label}"
        s = image_seed(seed, cat, folder, i)
        img = render_sample(cat, s, defect, size)
        rel = f"{cat}/{folder}/{i:03d}.png"
        Image.fromarray(img.image).save(root / rel, compress_level=PNG_LEVEL)
        if split != "test":
            continue
        entry = {"category": cat, "defect_type": defect, "kind": kind, "seed": s,
                 "bbox": img.bbox, "location": img.location, "mask": None}
        if img.mask is not None:
            mrel = f"{cat}/ground_truth/{label}/{i:03d}_mask.png"
            Image.fromarray((img.mask * 255).astype(np.uint8)).save(root / mrel, compress_level=PNG_LEVEL)
            entry["mask"] = f"{DATASET}/{mrel}"
            entry["mask_pixels"] = int(img.mask.sum())
        entries[f"{DATASET}/{rel}"] = entry
    return cat, entries, stop - start, time.process_time() - t0
