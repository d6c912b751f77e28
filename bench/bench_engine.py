"""Engine overhead with an instant backend: questions/s, image encodes per distinct image, peak memory.

    python bench/bench_engine.py                      # ~40k questions over ~8k images (MMAD size)
    python bench/bench_engine.py --images 1000        # smaller

Images (512-1024 px PNGs, solid colour plus a noise patch; every file distinct through a text chunk, so each
has its own hash and is read, hashed and encoded on its own) are written once to a cache folder and reused. The engine run includes loading the question file, reading and hashing every image,
rendering and keying every request, storing every answer (one transaction each) and the run record.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import io
import os
import resource
import struct
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from mmad_eval.backends.base import Backend, Response
from mmad_eval.run.engine import run_evaluation
from mmad_eval.run.settings import RunSettings

CATEGORIES = [f"cat{i:02d}" for i in range(38)]
DATASETS = ["DS-MVTec", "MVTec-LOCO", "VisA", "GoodsAD"]


def _base_png(seed: int) -> bytes:
    """A 512-1024 px PNG: solid colour plus a 64-px noise patch."""
    rng = np.random.default_rng(seed)
    w, h = (int(x) for x in rng.integers(512, 1025, 2))
    img = np.empty((h, w, 3), np.uint8)
    img[:] = rng.integers(0, 255, 3, dtype=np.uint8)
    y, x = int(rng.integers(0, h - 64)), int(rng.integers(0, w - 64))
    img[y:y + 64, x:x + 64] = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "PNG", compress_level=1)
    return buf.getvalue()


def _distinct(png: bytes, tag: int) -> bytes:
    """The same pixels with a tEXt chunk after IHDR: a distinct file (and hash) at no encoding cost."""
    data = b"id\x00" + str(tag).encode()
    chunk = struct.pack(">I", len(data)) + b"tEXt" + data + struct.pack(">I", zlib.crc32(b"tEXt" + data))
    return png[:33] + chunk + png[33:]


def _write_all(jobs) -> None:
    bases = [_base_png(s) for s in range(64)]
    for path, seed in jobs:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(_distinct(bases[seed % len(bases)], seed))


def make_benchmark_set(root: Path, n_images: int, per_image: int = 5) -> Path:
    """MMAD-shaped question file: n_images queries (+ 10 templates per category), per_image questions each."""
    jobs, data = [], {}
    goods = {}
    for ci, cat in enumerate(CATEGORIES):
        ds = DATASETS[ci % len(DATASETS)]
        goods[cat] = [f"{ds}/{cat}/train/good/{i:03d}.png" for i in range(10)]
        jobs += [(root / g, 10_000_000 + ci * 100 + i) for i, g in enumerate(goods[cat])]
    for i in range(n_images):
        cat = CATEGORIES[i % len(CATEGORIES)]
        ds = DATASETS[CATEGORIES.index(cat) % len(DATASETS)]
        kind = "good" if i % 3 == 0 else "broken"
        key = f"{ds}/{cat}/test/{kind}/{i:05d}.png"
        jobs.append((root / key, i))
        conv = [{"Question": "Is there any defect in the object?", "Answer": "B" if kind == "good" else "A",
                 "Options": {"A": "Yes.", "B": "No."}, "type": "Anomaly Detection"}]
        for j in range(per_image - 1):
            conv.append({"Question": f"Question {j} about the {cat}?", "Answer": "ABCD"[(i + j) % 4],
                         "Options": {L: f"Option {L} {j}" for L in "ABCD"},
                         "type": "Defect Classification" if kind != "good" else "Object Details"})
        g = goods[cat]
        data[key] = {"conversation": conv, "random_templates": [g[i % 10]], "similar_templates": [g[(i + 1) % 10]],
                     "mask_path": ""}
    missing = [j for j in jobs if not j[0].exists()]
    if missing:
        t = time.perf_counter()
        _write_all(missing)
        print(f"wrote {len(missing)} images in {time.perf_counter() - t:.0f} s (cached in {root})", file=sys.stderr)
    qfile = root / f"questions-{n_images}-{per_image}.json"
    qfile.write_text(json.dumps(data))
    return qfile


class InstantBackend(Backend):
    """Answers immediately; with ``encode=True`` it also encodes each request's images like an API client."""

    kind = "instant"

    def __init__(self, model, generation, images, encode=False, **options):
        super().__init__(model, generation, images, **options)
        self.encode = encode

    async def generate(self, items, emit):
        for i, (key, req) in enumerate(items):
            if self.encode:
                for p in req.images():
                    self.images.data_url(p.sha256)
            emit(Response(key=key, text="Answer: A", prompt_tokens=300, completion_tokens=3, latency_s=0.0))
            if i % 256 == 0:
                await asyncio.sleep(0)


def bench(n_images: int, cache: Path, encode_images: int) -> dict:
    qfile = make_benchmark_set(cache, n_images)
    settings = RunSettings(model="random")
    with tempfile.TemporaryDirectory() as out:
        t, c = time.perf_counter(), time.process_time()
        s = run_evaluation(settings, qfile, out, backend_factory=InstantBackend)
        elapsed, cpu = time.perf_counter() - t, time.process_time() - c
    rss_engine = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    res = {"rss_engine_mib": rss_engine, "questions": s.questions, "images": s.record["last_invocation"]["distinct_images"],
           "requests": s.requests, "seconds": elapsed, "questions_per_s": s.questions / elapsed,
           "cpu_s": cpu, "questions_per_cpu_s": s.questions / cpu, "load": os.getloadavg()[0]}
    # encodes: an API-like backend encodes every image of every request; the registry must encode each once
    sub = make_benchmark_set(cache, encode_images)
    with tempfile.TemporaryDirectory() as out:
        t = time.perf_counter()
        s2 = run_evaluation(RunSettings(model="random", images=settings.images), sub, out,
                            backend_factory=lambda *a, **k: InstantBackend(*a, encode=True, **k))
        inv = s2.record["last_invocation"]
        res.update(enc_questions=s2.questions, encodes=inv["image_encodes"], enc_images=inv["distinct_images"],
                   enc_seconds=time.perf_counter() - t)
    res["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=8000, help="query images (5 questions each)")
    ap.add_argument("--encode-images", type=int, default=400, help="query images for the encode-count phase")
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "mmad-eval-bench-images")
    args = ap.parse_args()
    r = bench(args.images, args.cache, args.encode_images)
    print("| figure | value | target |")
    print("|---|---|---|")
    print(f"| questions / images / distinct requests | {r['questions']} / {r['images']} / {r['requests']} | |")
    print(f"| engine wall time (load, hash, render, key, store) | {r['seconds']:.1f} s | |")
    print(f"| questions per second (wall) | {r['questions_per_s']:.0f} | >= 2000 |")
    print(f"| questions per CPU second (engine process) | {r['questions_per_cpu_s']:.0f} ({r['cpu_s']:.1f} CPU s) | |")
    print(f"| machine load average during the run | {r['load']:.1f} | |")
    print(f"| image encodes per distinct image (API-like backend, {r['enc_questions']} questions) | "
          f"{r['encodes'] / max(r['enc_images'], 1):.2f} ({r['encodes']}/{r['enc_images']}) | 1.00 |")
    print(f"| peak memory after the engine run (RSS) | {r['rss_engine_mib']:.0f} MiB | |")
    print(f"| peak memory after the encode phase (decoded images cached) | {r['peak_rss_mib']:.0f} MiB | |")


if __name__ == "__main__":
    main()
