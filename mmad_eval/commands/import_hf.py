"""Import a Hugging Face datasets folder written by export-hf back into a question file and image tree."""
from __future__ import annotations

HELP = "Import a datasets folder written by export-hf into a question file (and its images)"


def add_arguments(p) -> None:
    p.add_argument("folder", help="datasets folder (save_to_disk output) or a folder of its parquet files")
    p.add_argument("--out", required=True, help="question file to write (MMAD's mmad.json format)")
    p.add_argument("--images-out", default=None,
                   help="write the embedded images here, each at its key (use as --data-root later)")


def main(args) -> int:
    from pathlib import Path

    from ..questions.hf_datasets import import_hf
    from ..questions.mmad_io import write_mmad_json

    images_out = Path(args.images_out) if args.images_out else None
    qs = import_hf(Path(args.folder), images_out=images_out)
    digest = write_mmad_json(qs, Path(args.out), with_provenance=True)
    print(f"wrote {len(qs)} questions on {len(qs.entries)} images to {args.out} (sha256 {digest[:12]})"
          + (f"; images under {images_out}" if images_out else ""))
    return 0
