"""Speed of the built-in synthetic dataset generator: about 1,000 images at 256 px over all categories.

    python bench/bench_synth.py [--workers N] [--size 256]

Prints images/s, total seconds and the per-category split (images and CPU seconds).
"""
from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from mmad_eval.sources.synth import CATEGORIES, generate_with_report


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    n_defects = sum(len(c.defects) for c in CATEGORIES.values())
    n_cats = len(CATEGORIES)
    # 50 train + 20 good test per category, the rest spread over defect types: ~1,000 images in all
    per_defect = max(1, round((1000 - 70 * n_cats) / n_defects))
    with tempfile.TemporaryDirectory() as tmp:
        rep = generate_with_report(Path(tmp), seed=a.seed, n_train=50, n_test_good=20, n_per_defect=per_defect,
                                   size=a.size, workers=a.workers)
        disk = sum(p.stat().st_size for p in Path(tmp).rglob("*") if p.is_file())
    workers = a.workers or os.cpu_count()
    print(f"synth: {rep.images} images at {a.size}px, {workers} workers: {rep.seconds:.1f} s, "
          f"{rep.images / rep.seconds:.1f} images/s, {disk / 2**20:.0f} MiB")
    cpu = sum(c for _, c in rep.per_category.values())
    print(f"CPU time in workers: {cpu:.1f} s ({1000 * cpu / rep.images:.1f} ms/image incl. PNG writing); "
          f"wall on {workers} idle cores would be about {cpu / workers:.1f} s plus start-up "
          f"(wall above is higher when other processes share the cores)")
    print(f"{'category':<10} {'images':>6} {'cpu s':>7} {'ms/image':>9}")
    for cat, (n, cpu) in rep.per_category.items():
        print(f"{cat:<10} {n:>6} {cpu:>7.2f} {1000 * cpu / n:>9.1f}")


if __name__ == "__main__":
    main()
