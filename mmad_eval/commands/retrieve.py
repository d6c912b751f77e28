"""Rewrite a question set's similar_templates with normal references retrieved by image embedding."""
from __future__ import annotations

HELP = "Retrieve the most similar normal references per query and write them as similar_templates"


def add_arguments(p) -> None:
    p.add_argument("questions", help="question file (MMAD's mmad.json format)")
    p.add_argument("--data-root", required=True, help="folder the image keys are relative to")
    p.add_argument("--k", type=int, default=5, help="references per query (default 5)")
    p.add_argument("--out", required=True, help="question file to write (the input is left unchanged)")
    p.add_argument("--embedder", default="builtin",
                   help="'builtin' (weight-free colour/gradient descriptor) or a local model folder "
                        "(CLIP, DINOv2, ...; needs the hf extra)")


def main(args) -> int:
    import sys
    import time
    import warnings
    from pathlib import Path

    from ..enhance.retrieval import RetrievalIndex, write_similar_templates
    from ..errors import ConfigError
    from ..questions.mmad_io import load_mmad_json, write_mmad_json

    if args.k < 1:
        raise ConfigError("--k must be at least 1", culprit=str(args.k))
    questions = load_mmad_json(Path(args.questions))
    if not Path(args.data_root).is_dir():
        raise ConfigError("data root is not a folder", culprit=str(args.data_root))
    start = time.perf_counter()
    index = RetrievalIndex.from_questions(Path(args.data_root), questions, embedder=args.embedder)
    errors: list[tuple[str, str]] = []
    with warnings.catch_warnings():   # left-out references are listed below instead
        warnings.simplefilter("ignore", UserWarning)
        out = write_similar_templates(questions, index, args.k, errors=errors)
    digest = write_mmad_json(out, Path(args.out))
    took = time.perf_counter() - start
    d = index.describe()
    print(f"{len(out.entries) - len(errors)} of {len(out.entries)} entries got {args.k} retrieved references "
          f"({d['pools']} pools, {d['pool_images']} reference images, embedder {d['embedder']}, {took:.1f} s)")
    for key, reason in index.skipped[:5]:
        print(f"  reference left out: {reason}", file=sys.stderr)
    if len(index.skipped) > 5:
        print(f"  ... and {len(index.skipped) - 5} more references left out", file=sys.stderr)
    for key, reason in errors[:10]:
        print(f"  kept the old templates of {key}: {reason}", file=sys.stderr)
    if len(errors) > 10:
        print(f"  ... and {len(errors) - 10} more entries kept their old templates", file=sys.stderr)
    print(f"wrote {args.out} (sha256 {digest[:12]})")
    return 1 if errors else 0
