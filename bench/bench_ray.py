"""Overhead of `--ray` against a local run on the same machine: the same fake OpenAI server (fixed latency),
the same questions, the same total number of requests in flight.

    python bench/bench_ray.py                       # 0.1 s latency, 200 images x 2 questions, 8 in flight
    python bench/bench_ray.py --images 400 --in-flight 16 --workers 2

Both arms are `mmad-eval run` subprocesses timed end to end (start-up included: Ray's local instance and
its workers start inside the timed command), each into a fresh output folder. Ratio = local wall / Ray
wall (1.0 = no overhead; below 1 is the price of Ray on one machine). Ideal = requests x latency / in-flight.
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

from mmad_eval.testing.openai_server import FakeOpenAIServer
from mmad_eval.testing.question_sets import two_question_set


def timed(cmd: list[str]) -> float:
    env = {**os.environ, "OPENAI_API_KEY": "bench"}
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(done.stderr[-2000:])
    return wall


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--latency", type=float, default=0.1)
    ap.add_argument("--in-flight", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, FakeOpenAIServer(latency_s=a.latency) as srv:
        q = two_question_set(Path(tmp) / "data", a.images, side=64)
        base = [sys.executable, "-m", "mmad_eval", "run", "--questions", str(q), "--model", "openai:bench",
                "--base-url", srv.base_url, "--quiet"]
        n = 2 * a.images
        local = timed(base + ["--out", f"{tmp}/local", "--concurrency", str(a.in_flight)])
        per_worker = max(1, a.in_flight // a.workers)
        ray = timed(base + ["--out", f"{tmp}/ray", "--concurrency", str(per_worker), "--ray",
                            "--workers", str(a.workers)])
        assert srv.count == 2 * n, srv.count
    ideal = n * a.latency / a.in_flight
    print(f"{n} requests, {a.latency:.2f} s latency, {a.in_flight} in flight "
          f"(ray: {a.workers} workers x {per_worker})")
    print(f"ideal {ideal:.1f} s | local {local:.1f} s | --ray {ray:.1f} s | "
          f"local/ray {local / ray:.2f}x | ray overhead {ray - local:+.1f} s")


if __name__ == "__main__":
    main()
