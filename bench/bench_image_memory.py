"""Peak memory (RSS) of a `run --perturb` as its number of images grows: the perturbed images are made in memory;
before the bound every one stayed there for the whole run, now at most DEFAULT_HELD_BYTES (the rest spilled to a
temporary file in the run folder). Each run is a fresh process running `mmad-eval run` (the `random` baseline:
no server, no encoding), which prints its own peak RSS (getrusage's ru_maxrss) at the end; the same runs with an earlier checkout of the code
(`--before DIR`, e.g. `git worktree add --detach /tmp/before main`) are printed beside them.

    python bench/bench_image_memory.py --before /tmp/before            # 250 and 1000 images of 192 px
    python bench/bench_image_memory.py --images 500 2000 --side 256
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def make_set(folder: Path, n: int, side: int) -> Path:
    """``n`` product-like query images (one Anomaly Detection question each, no references) in MMAD's layout."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:side, 0:side] / side
    data = {}
    for i in range(n):
        key = f"Bench/widget/test/good/{i:05d}.png"
        base = 80 + 60 * x + 40 * ((x - 0.5) ** 2 + (y - 0.5) ** 2 < 0.1) + rng.normal(0, 3, (side, side))
        img = np.clip(np.stack([base, base * 0.95, base * 0.9], axis=-1), 0, 255).astype(np.uint8)
        (folder / key).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(folder / key, "PNG")
        data[key] = {"image_path": key, "mask_path": "", "similar_templates": [], "random_templates": [],
                     "conversation": [{"Question": "Is there any defect in the object?", "Answer": "B",
                                       "Options": {"A": "Yes.", "B": "No."}, "type": "Anomaly Detection"}]}
    path = folder / "mmad.json"
    path.write_text(json.dumps(data))
    return path


_MEASURED = """
import resource, sys
from mmad_eval.cli import main
code = main(sys.argv[1:])
print("peak_rss_kib", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
sys.exit(code)
"""


def peak_rss_mib(source: Path, questions: Path, out: Path) -> tuple[float, float]:
    """(peak RSS in MiB, wall seconds) of one run with the code of ``source``."""
    env = {**os.environ, "PYTHONPATH": str(source)}
    cmd = [sys.executable, "-c", _MEASURED, "run", "--questions", str(questions), "--model", "random",
           "--out", str(out), "--shots", "0", "--perturb", "noise=8", "--quiet"]
    t0 = time.perf_counter()
    # (run outside the checkout: a working directory holding mmad_eval/ would be imported before PYTHONPATH's)
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=out.parent)
    if proc.returncode != 0 or "peak_rss_kib" not in proc.stdout:
        raise SystemExit(f"{source}: run failed: {proc.stderr[-500:]}")
    kib = int(proc.stdout.rsplit("peak_rss_kib", 1)[1].split()[0])
    return kib / 1024, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, nargs="+", default=[250, 1000])
    ap.add_argument("--side", type=int, default=192)
    ap.add_argument("--before", type=Path, help="a checkout of the earlier code to measure beside this one")
    args = ap.parse_args()
    sources = ([("before", args.before.resolve())] if args.before else []) + [("now", ROOT)]
    print(f"| images ({args.side} px, noise=8) | perturbed PNG bytes | "
          + " | ".join(f"{name}: peak RSS MiB (s)" for name, _ in sources) + " |")
    print("|---|---|" + "---|" * len(sources))
    for n in args.images:
        with tempfile.TemporaryDirectory() as tmp:
            questions = make_set(Path(tmp) / "data", n, args.side)
            cells, made = [], 0
            for name, source in sources:
                out = Path(tmp) / f"out-{name}"
                rss, wall = peak_rss_mib(source, questions, out)
                cells.append(f"{rss:.0f} ({wall:.0f})")
                made = _stored_image_bytes(out)
            print(f"| {n} | {made / 2**20:.0f} MiB | " + " | ".join(cells) + " |")


def _stored_image_bytes(out: Path) -> int:
    import sqlite3

    with sqlite3.connect(out / "mmad-eval.sqlite") as db:
        return db.execute("SELECT COALESCE(SUM(LENGTH(data)), 0) FROM images").fetchone()[0]


if __name__ == "__main__":
    main()
