"""Export a question set (and its images) as a Hugging Face datasets folder, one row per question."""
from __future__ import annotations

HELP = "Export a question set with its images as a Hugging Face datasets folder (one row per question)"


def add_arguments(p) -> None:
    p.add_argument("questions", help="question file (MMAD's mmad.json format)")
    p.add_argument("--data-root", required=True, help="folder the image keys are relative to")
    p.add_argument("--out", required=True, help="folder to write (Dataset.save_to_disk)")
    p.add_argument("--no-embed", action="store_true", help="store image keys only, not the images")
    p.add_argument("--max-templates", type=int, default=None,
                   help="keep at most N similar and N random templates per row (default: all)")
    p.add_argument("--allow-missing", action="store_true",
                   help="store a missing image's key without the image instead of stopping with an error")


def main(args) -> int:
    from pathlib import Path

    from ..errors import ConfigError
    from ..questions.hf_datasets import export_hf
    from ..questions.mmad_io import load_mmad_json

    questions = load_mmad_json(Path(args.questions))
    if not Path(args.data_root).is_dir():
        raise ConfigError("data root is not a folder", culprit=str(args.data_root))
    s = export_hf(questions, Path(args.data_root), Path(args.out), embed_images=not args.no_embed,
                  max_references=args.max_templates, allow_missing=args.allow_missing)
    print(f"wrote {s.rows} rows ({s.entries} images) to {args.out}")
    if s.missing:
        print(f"{len(s.missing)} image(s) missing, stored without the image: " + ", ".join(s.missing[:5])
              + (" ..." if len(s.missing) > 5 else ""))
    return 0
