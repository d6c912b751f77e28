"""Precision and recall of the label audit's checks on the synthetic set with injected errors.

For each seed: the built-in synthetic dataset is generated, questions are generated from it, the clean set
is audited (share of images flagged, per check), then ``k`` errors of each kind are injected
(mmad_eval/testing/label_errors.py: images moved to another category, Defect Localization answers set to a
region the mask does not touch, labels flipped) on distinct images and the set is audited again.

Per check: recall = injected items it flags / injected items of its kind; precision = its flags on injected
items of its kind / (those + its flags on images with no injected error). Flags on images carrying another
kind of injected error (a moved image is also a duplicate of its original) are counted apart, in "other".

    python bench/bench_label_audit.py [--seeds 0 1 2] [--k 20] [--per-defect 5] [--test-good 10]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from mmad_eval.label_audit import CHECKS, audit_labels
from mmad_eval.label_audit.images import MARGIN
from mmad_eval.questions.generate import GenerateSettings, generate_questions
from mmad_eval.sources.detect import load_source
from mmad_eval.sources.synth.generate import generate_with_report
from mmad_eval.testing.label_errors import inject

KIND_OF = {"image_category": "moved", "reference_category": "moved", "localization": "localization",
           "label_mask": "flipped"}


def one_seed(seed: int, k: int, per_defect: int, test_good: int, workdir: Path) -> dict:
    out = workdir / f"s{seed}"
    generate_with_report(out, seed=seed, n_train=10, n_test_good=test_good, n_per_defect=per_defect, workers=2)
    source = load_source(out / "Synth-AD")
    qs = generate_questions(source, out / "knowledge.json", GenerateSettings(seed=seed), workers=2).questions
    # keys of the generated set are relative to the source folder's parent (Synth-AD/...)
    t0 = time.perf_counter()
    clean = audit_labels(qs, out)
    t_clean = time.perf_counter() - t0
    bad, truth = inject(qs, out, k, seed)
    dirty = audit_labels(bad, out)
    moved_from = dict(zip(truth["moved"], truth.pop("moved_from", [])))
    injected_images = {kind: {u.split("#")[0] for u in units} for kind, units in truth.items()}
    any_injected = set().union(*injected_images.values())
    res = {"images": len(qs.entries), "clean_seconds": t_clean, "clean": defaultdict(set), "tp": defaultdict(set),
           "fp": defaultdict(int), "other": defaultdict(int), "margins": defaultdict(list),
           "truth": {kk: len(v) for kk, v in truth.items()}}
    for f in clean.flags:
        res["clean"][f["check"]].update(f["target"]["images"])
    for f in clean.flags + dirty.flags:
        if "margin" in f["evidence"]:
            res["margins"][f["check"]].append(round(f["evidence"]["margin"], 3))
    for f in dirty.flags:
        check, image = f["check"], f["target"]["images"][0]
        kind = KIND_OF.get(check)
        unit = image if kind != "localization" else f"{image}#{f['target'].get('question')}"
        if kind and unit in truth[kind]:
            res["tp"][check].add(unit)
        elif image in any_injected:
            res["other"][check] += 1
        else:
            res["fp"][check] += 1
    res["missed_moves"] = [f"{moved_from[k]} -> {k}" for k in truth["moved"] if k not in res["tp"]["image_category"]]
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--k", type=int, default=20, help="errors of each kind injected per seed")
    ap.add_argument("--per-defect", type=int, default=5)
    ap.add_argument("--test-good", type=int, default=10)
    args = ap.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            results.append(one_seed(seed, args.k, args.per_defect, args.test_good, Path(tmp)))
    images = sum(r["images"] for r in results)
    print(f"{len(args.seeds)} seed(s), {images} images in all, k={args.k} injected errors of each kind per seed; "
          f"audit of a clean set: {sum(r['clean_seconds'] for r in results) / len(results):.1f} s per seed")
    print(f"\n{'check':<20} {'injected':>8} {'found':>6} {'recall':>7} {'false+':>7} {'precision':>9} "
          f"{'other':>6} {'clean: images flagged':>22}")
    for check in CHECKS:
        kind = KIND_OF.get(check)
        tp = sum(len(r["tp"][check]) for r in results)
        fp = sum(r["fp"][check] for r in results)
        other = sum(r["other"][check] for r in results)
        n = sum(r["truth"][kind] for r in results) if kind else 0
        clean = sum(len(r["clean"][check]) for r in results)
        rec = f"{tp / n:.3f}" if n else "-"
        prec = f"{tp / (tp + fp):.3f}" if kind and tp + fp else "-"
        print(f"{check:<20} {n if kind else '-':>8} {tp if kind else '-':>6} {rec:>7} {fp:>7} {prec:>9} {other:>6} "
              f"{clean:>9} ({clean / images:.1%})")
    for check in ("image_category", "reference_category"):
        margins = sorted(m for r in results for m in r["margins"][check])
        if margins:
            print(f"{check}: margins of the flags raised (threshold {MARGIN}): smallest {margins[:3]}, "
                  f"largest {margins[-1]}")
    missed = [m for r in results for m in r["missed_moves"]]
    if missed:
        print("moved images the image_category check missed (original key -> key it was filed under):")
        print("".join(f"  {m}\n" for m in missed), end="")
    all_clean = sum(len(set().union(*r["clean"].values())) if r["clean"] else 0 for r in results)
    label_checks = ("image_category", "reference_category", "localization", "label_mask", "duplicate_image")
    label_clean = sum(len(set().union(*(r["clean"][c] for c in label_checks))) for r in results)
    print(f"\nclean sets: {all_clean} of {images} images flagged by any check ({all_clean / images:.1%}); "
          f"by the image/mask checks (all but giveaway): {label_clean} ({label_clean / images:.1%})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
