"""Benchmark the built-in expert detector on the synthetic set (image/pixel AUROC, speed, localisation).

    python bench/bench_expert.py                        # generates the synthetic set into a temp folder
    python bench/bench_expert.py --data OUT/Synth-AD    # or uses an existing one
    python bench/bench_expert.py --variant knn          # one fixed variant instead of per-category auto

Each category's detector is fitted on ``--refs`` train/good images and scored on every test image.
Prints per category: image AUROC, pixel AUROC (all test pixels), verdict TPR/TNR at the calibrated
threshold, how often the map's peak falls inside the defect, how often the 3x3 location phrase matches the
ground-truth mask's, fit CPU seconds, predict CPU ms per image (one core) and median wall ms, the chosen
variant; then the weakest defect types. Runs numpy/BLAS on one thread (the figures are per core); OMP_NUM_THREADS set outside wins.
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from mmad_eval.enhance.expert import Detector, DetectorSettings  # noqa: E402
from mmad_eval.enhance.expert.calibrate import auroc  # noqa: E402
from mmad_eval.enhance.expert.result import boxes_and_location  # noqa: E402


def load(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def category_tests(cat_dir: Path):
    """(image path, label, mask or None, defect type) for every test image of a category."""
    out = []
    for defect_dir in sorted(p for p in (cat_dir / "test").iterdir() if p.is_dir()):
        for img in sorted(defect_dir.glob("*.png")):
            if defect_dir.name == "good":
                out.append((img, 0, None, "good"))
                continue
            mpath = cat_dir / "ground_truth" / defect_dir.name / f"{img.stem}_mask.png"
            mask = np.asarray(Image.open(mpath).convert("L")) > 0
            out.append((img, 1, mask, defect_dir.name))
    return out


def bench_category(cat_dir: Path, settings: DetectorSettings, n_refs: int) -> dict:
    refs = [load(p) for p in sorted((cat_dir / "train" / "good").glob("*.png"))[:n_refs]]
    t0 = time.process_time()
    det = Detector(settings).fit(refs)
    fit_s = time.process_time() - t0
    labels, scores, pix_labels, pix_scores, kinds = [], [], [], [], []
    peak_hits, loc_hits, n_bad, predict_s, predict_cpu = 0, 0, 0, [], []
    for path, label, mask, kind in category_tests(cat_dir):
        image = load(path)
        t0, c0 = time.perf_counter(), time.process_time()
        amap, score = det.predict(image)
        predict_s.append(time.perf_counter() - t0)
        predict_cpu.append(time.process_time() - c0)
        labels.append(label)
        scores.append(score)
        kinds.append(kind)
        gt = mask if mask is not None else np.zeros(amap.shape, bool)
        pix_labels.append(gt[::2, ::2].ravel())
        pix_scores.append(amap[::2, ::2].ravel())
        if mask is not None and mask.any():
            n_bad += 1
            peak_hits += bool(mask[np.unravel_index(int(amap.argmax()), amap.shape)])
            loc_hits += boxes_and_location(amap)[1] == boxes_and_location(mask.astype(np.float32))[1]
    labels, scores = np.array(labels), np.array(scores)
    per_defect = {k: auroc(np.r_[np.zeros((labels == 0).sum()), np.ones(sum(1 for x in kinds if x == k))],
                           np.r_[scores[labels == 0], scores[[x == k for x in kinds]]])
                  for k in sorted(set(kinds) - {"good"})}
    verdict = scores > det.threshold
    return {"image_auroc": auroc(labels, scores),
            "pixel_auroc": auroc(np.concatenate(pix_labels), np.concatenate(pix_scores)),
            "tpr": float(verdict[labels == 1].mean()), "tnr": float((~verdict[labels == 0]).mean()),
            "peak_in_defect": peak_hits / max(n_bad, 1), "location_match": loc_hits / max(n_bad, 1),
            "fit_s": fit_s, "predict_ms": 1000 * float(np.median(predict_s)),
            "predict_cpu_ms": 1000 * float(np.median(predict_cpu)), "variant": det.calibration.variant,
            "per_defect": per_defect, "n_test": len(labels)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, help="an existing Synth-AD folder (default: generate one)")
    ap.add_argument("--seed", type=int, default=0, help="generator seed when generating")
    ap.add_argument("--refs", type=int, default=10, help="normal references per category")
    ap.add_argument("--test-good", type=int, default=10)
    ap.add_argument("--per-defect", type=int, default=5)
    ap.add_argument("--categories", default="", help="comma-separated subset")
    ap.add_argument("--variant", default="auto")
    ap.add_argument("--side", type=int, default=256)
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    data = args.data
    if data is None:
        from mmad_eval.sources.synth.generate import generate_synthetic

        out = Path(tempfile.mkdtemp(prefix="bench_expert_"))
        print(f"generating the synthetic set (seed {args.seed}) into {out} ...", file=sys.stderr)
        generate_synthetic(out, seed=args.seed, n_train=args.refs, n_test_good=args.test_good,
                           n_per_defect=args.per_defect)
        data = out / "Synth-AD"
    cats = [c for c in args.categories.split(",") if c] or sorted(p.name for p in data.iterdir() if p.is_dir())
    settings = DetectorSettings(side=args.side, variant=args.variant)
    print(f"{'category':10} {'img AUROC':>9} {'pix AUROC':>9} {'TPR':>5} {'TNR':>5} {'peak in':>7} "
          f"{'loc ok':>6} {'fit s':>6} {'ms/img':>6} {'wall ms':>7}  variant")
    results = {}
    for cat in cats:
        r = results[cat] = bench_category(data / cat, settings, args.refs)
        print(f"{cat:10} {r['image_auroc']:9.3f} {r['pixel_auroc']:9.3f} {r['tpr']:5.2f} {r['tnr']:5.2f} "
              f"{r['peak_in_defect']:7.2f} {r['location_match']:6.2f} {r['fit_s']:6.1f} {r['predict_cpu_ms']:6.0f} "
              f"{r['predict_ms']:7.0f}  "
              f"{r['variant']}")
    keys = ("image_auroc", "pixel_auroc", "tpr", "tnr", "peak_in_defect", "location_match", "fit_s",
            "predict_cpu_ms", "predict_ms")
    mean = {k: float(np.mean([r[k] for r in results.values()])) for k in keys}
    print(f"{'MEAN':10} {mean['image_auroc']:9.3f} {mean['pixel_auroc']:9.3f} {mean['tpr']:5.2f} "
          f"{mean['tnr']:5.2f} {mean['peak_in_defect']:7.2f} {mean['location_match']:6.2f} "
          f"{mean['fit_s']:6.1f} {mean['predict_cpu_ms']:6.0f} {mean['predict_ms']:7.0f}")
    weak = sorted(((a, f"{c}/{d}") for c, r in results.items() for d, a in r["per_defect"].items()))[:8]
    print("weakest defect types (image AUROC vs the category's good images): " +
          ", ".join(f"{name} {a:.2f}" for a, name in weak))
    if args.json:
        args.json.write_text(json.dumps({"mean": mean, "categories": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
