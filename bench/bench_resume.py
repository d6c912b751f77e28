"""Resume cost: time and requests to rerun a finished run (target <= 5 s, 0 requests) and a half-finished one.

    python bench/bench_resume.py                 # ~40k questions over ~8k images
    python bench/bench_resume.py --images 1000
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench_engine import InstantBackend, make_benchmark_set

from mmad_eval.run.engine import run_evaluation
from mmad_eval.run.settings import RunSettings


class Counting(InstantBackend):
    asked = 0

    async def generate(self, items, emit):
        type(self).asked += len(items)
        await super().generate(items, emit)


class HalfThenCrash(InstantBackend):
    """Answers the first half of what it is given, then stops as a killed process would."""

    async def generate(self, items, emit):
        await super().generate(items[: len(items) // 2], emit)


def timed(qfile, out, factory):
    Counting.asked = 0
    t = time.perf_counter()
    s = run_evaluation(RunSettings(model="random"), qfile, out, backend_factory=factory)
    return time.perf_counter() - t, s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=8000)
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "mmad-eval-bench-images")
    args = ap.parse_args()
    qfile = make_benchmark_set(args.cache, args.images)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        full, half = Path(tmp) / "full", Path(tmp) / "half"
        t, s = timed(qfile, full, InstantBackend)
        rows.append(("first run (instant backend)", t, s.asked, s.questions))
        t, s = timed(qfile, full, Counting)
        rows.append(("resume a finished run", t, Counting.asked, s.questions))
        timed(qfile, half, HalfThenCrash)
        t, s = timed(qfile, half, Counting)
        rows.append(("resume a half-finished run", t, Counting.asked, s.questions))
    print("| case | seconds | requests sent | questions | target |")
    print("|---|---|---|---|---|")
    targets = ["", "<= 5 s, 0 requests", "exactly the missing half"]
    for (case, t, asked, n), target in zip(rows, targets):
        print(f"| {case} | {t:.1f} | {asked} | {n} | {target} |")


if __name__ == "__main__":
    main()
