"""Generate the built-in synthetic industrial dataset (MVTec-AD layout under Synth-AD + knowledge.json)."""
from __future__ import annotations

HELP = "Generate the built-in synthetic industrial dataset (MVTec-AD layout + knowledge file)"


def add_arguments(p) -> None:
    from ..sources.synth.generate import DEFAULT_PER_DEFECT, DEFAULT_SIZE, DEFAULT_TEST_GOOD, DEFAULT_TRAIN

    p.add_argument("out_dir", metavar="OUT_DIR", help="output root (gets Synth-AD/ and knowledge.json)")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed: byte-identical images)")
    p.add_argument("--categories", default=None,
                   help="comma-separated subset (default: all: carpet,grid,leather,tile,wood,bottle,screw,"
                        "pill,capsule,pcb)")
    p.add_argument("--train", type=int, default=DEFAULT_TRAIN, help="normal training images per category")
    p.add_argument("--test-good", type=int, default=DEFAULT_TEST_GOOD, help="normal test images per category")
    p.add_argument("--per-defect", type=int, default=DEFAULT_PER_DEFECT, help="test images per defect type")
    p.add_argument("--size", type=int, default=DEFAULT_SIZE, help="image side in pixels")
    p.add_argument("--workers", type=int, default=None, help="processes (default: CPU count)")


def main(args) -> int:
    from pathlib import Path

    from ..sources.synth.generate import generate_with_report

    cats = None if args.categories is None else args.categories.split(",")
    rep = generate_with_report(Path(args.out_dir), seed=args.seed, categories=cats, n_train=args.train,
                               n_test_good=args.test_good, n_per_defect=args.per_defect, size=args.size,
                               workers=args.workers)
    print(f"wrote {rep.images} images in {rep.seconds:.1f} s to {rep.root / 'Synth-AD'} "
          f"({len(rep.per_category)} categories); knowledge: {rep.root / 'knowledge.json'}")
    return 0
