"""Question-generation speed on an MMAD-size annotated set (8,000 images, 38 categories).

The set is built cheaply: a few hundred distinct image/mask PNG files (256 px), reused by many samples,
so the bench measures the generator (mask + pixel reads, rules, lettering, writing), not disk size.

    python bench/bench_generate.py [--images 8000] [--files 300] [--side 256] [--similar none]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from mmad_eval.questions.audit import audit
from mmad_eval.questions.generate import GenerateSettings, generate_questions
from mmad_eval.questions.mmad_io import write_mmad_json
from mmad_eval.sources.knowledge import CategoryKnowledge, DefectKnowledge, Knowledge
from mmad_eval.sources.sample import AnnotatedSample, SourceSet

N_CATS, DEFECTS = 38, 5


def build(root: Path, n_images: int, n_files: int, side: int):
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:side, :side]
    files = []
    for i in range(n_files):
        img = (rng.integers(90, 140) + rng.normal(0, 6, (side, side, 3))).clip(0, 255).astype(np.uint8)
        cy, cx = rng.integers(10, side - 10, 2)
        ry, rx = rng.integers(2, side // 6, 2)
        mask = (((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2) <= 1
        img[mask] = rng.integers(0, 255, 3)
        ip, mp = root / f"pool/img{i:03d}.png", root / f"pool/img{i:03d}_mask.png"
        ip.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(ip)
        Image.fromarray(mask.astype(np.uint8) * 255).save(mp)
        files.append((ip.relative_to(root).as_posix(), mp.relative_to(root).as_posix()))
    kn = Knowledge()
    samples, normals = [], {}
    for c in range(N_CATS):
        cat = f"cat{c:02d}"
        normals[cat] = [files[(c * 7 + j) % n_files][0] for j in range(8)]
        kn.categories[cat] = CategoryKnowledge(
            category=cat, name=f"product {c}", parts=[f"part{c}a", f"part{c}b"], materials=["metal"],
            colors=["gray"], shape="round", similar=[f"cat{(c + 1) % N_CATS:02d}"],
            defects={f"d{c}_{k}": DefectKnowledge(name=f"defect {c} {k}", cause=f"cause {c} {k}",
                                                  effect=f"effect {c} {k}") for k in range(DEFECTS)})
    for i in range(n_images):
        c = i % N_CATS
        cat = f"cat{c:02d}"
        img, mask = files[i % n_files]
        defective = i % 5 < 3
        # the key must be unique: a virtual path; the generator reads the pooled file via the mask/image map
        key = f"BENCH/{cat}/test/{'d' if defective else 'good'}/{i:05d}.png"
        samples.append(AnnotatedSample(image=key, dataset="BENCH", category=cat, is_anomalous=defective,
                                       defect_type=f"d{c}_{i % DEFECTS}" if defective else None,
                                       mask=mask if defective else None, meta={"file": img}))
        link = root / key
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists():
            link.symlink_to(root / img)
    return SourceSet(root=root, dataset="BENCH", samples=samples, normals=normals), kn


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=8000)
    ap.add_argument("--files", type=int, default=300)
    ap.add_argument("--side", type=int, default=256)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--similar", default="none", choices=["none", "builtin"])
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        source, kn = build(root, args.images, args.files, args.side)
        t1 = time.perf_counter()
        result = generate_questions(source, kn, GenerateSettings(similar=args.similar), workers=args.workers)
        t2 = time.perf_counter()
        sha = write_mmad_json(result.questions, root / "q.json", with_provenance=True)
        t3 = time.perf_counter()
        report = audit(result.questions)
        t4 = time.perf_counter()
    n_q = len(result.questions)
    gen = t2 - t1
    print(f"built set: {args.images} images from {args.files} files ({args.side} px) in {t1 - t0:.1f} s")
    print(f"generate ({args.workers} worker processes): {n_q} questions in {gen:.1f} s = {args.images / gen:.0f} images/s, {n_q / gen:.0f} "
          f"questions/s; write {t3 - t2:.1f} s (sha256 {sha[:12]}); audit {t4 - t3:.1f} s")
    print(f"projected for MMAD size (8,366 images): {8366 / (args.images / gen):.1f} s "
          f"(target <= 60 s); skipped questions: {len(result.skipped)}; flags: {report['flags'] or 'none'}")


if __name__ == "__main__":
    main()
