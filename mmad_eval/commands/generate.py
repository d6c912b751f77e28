"""Generate an MMAD-style multiple-choice question set from an annotated dataset folder."""
from __future__ import annotations

HELP = "Generate MMAD-style questions (7 subtasks) from an annotated dataset folder"


def add_arguments(p) -> None:
    p.add_argument("source", help="dataset folder (MVTec AD, VisA, MVTec LOCO, DS-MVTec or annotated folder)")
    p.add_argument("--out", required=True, help="output file: .json (MMAD mmad.json) or .jsonl (ours)")
    p.add_argument("--layout", default="auto", choices=["auto", "mvtec", "ds-mvtec", "visa", "loco", "folder"])
    p.add_argument("--knowledge", help="knowledge file (ours or MMAD's domain_knowledge.json); default: the "
                   "one shipped with the source, if any")
    p.add_argument("--seed", type=int, default=0, help="seed of every random choice (default 0)")
    p.add_argument("--similar", default="builtin", choices=["builtin", "none"],
                   help="similar_templates by image retrieval (builtin) or left empty (none)")
    p.add_argument("--format", choices=["mmad", "jsonl"], help="default: by the --out extension")
    p.add_argument("--yes-no", default="fixed", choices=["fixed", "shuffled"],
                   help="Anomaly Detection option order: MMAD's fixed 'A. Yes. / B. No.' or seeded per image")
    p.add_argument("--options", type=int, default=4, help="options per multiple-choice question (2-5)")
    p.add_argument("--random-templates", type=int, default=5)
    p.add_argument("--similar-templates", type=int, default=5)
    p.add_argument("--workers", type=int, default=2, help="processes reading masks/images (output is the same)")
    p.add_argument("--object-regions", type=float, default=0.5,
                   help="share of object categories' Defect Localization questions phrased relative to the object "
                        "(0 = image grid only; default 0.5)")
    p.add_argument("--margin", action="append", default=[], metavar="NAME=VALUE",
                   help="change one threshold or margin of questions/generate/margins.py (repeatable), e.g. "
                        "size_margin=2 or grid_gap=0.06; recorded in every question's provenance")
    p.add_argument("--no-balance", action="store_true",
                   help="skip the set-level pass that keeps text alone from revealing answers (not advised)")
    p.add_argument("--tasks", nargs="+", default=["mmad"], choices=["mmad", "grounding"],
                   help="mmad: the 7 multiple-choice subtasks (default); grounding: a Defect Grounding question "
                        "(boxes as JSON) per defective image, after its other questions (docs/grounding.md)")
    p.add_argument("--box-format", default="pixels", choices=["pixels", "norm1000"],
                   help="coordinates grounding questions ask for: pixels of the query image, or 0-1000 normalised")
    p.add_argument("--speck-share", type=float, default=0.05,
                   help="grounding: a mask blob under this share of the largest blob's area is ignored (0.05)")
    p.add_argument("--max-boxes", type=int, default=8, help="grounding: at most this many true boxes per image")
    p.add_argument("--plain", action="store_true", help="MMAD json without our per-question provenance")
    p.add_argument("--rephrase", metavar="MODEL", help="let MODEL rephrase each question (validated; rejected "
                   "rewrites keep the rule-based text)")
    p.add_argument("--rephrase-log", help="JSONL file for the rephrase decisions (default: next to --out)")
    p.add_argument("--caption", metavar="MODEL", help="let MODEL write a short caption of each defective image "
                   "from the image and its annotation (validated; kept as the per-image key \"caption\" and given "
                   "to --rephrase as context)")
    p.add_argument("--caption-log", help="JSONL file for the caption decisions (default: next to --out)")
    p.add_argument("--caption-no-template", action="store_true",
                   help="show the captioning model only the query image, not the first normal template too")


def main(args) -> int:
    from pathlib import Path

    from ..questions.generate import GenerateSettings, generate_questions
    from ..questions.generate.margins import Margins
    from ..questions.jsonl_io import write_jsonl
    from ..questions.mmad_io import write_mmad_json
    from ..sources.detect import load_source

    out = Path(args.out)
    fmt = args.format or ("jsonl" if out.suffix == ".jsonl" else "mmad")
    settings = GenerateSettings(seed=args.seed, n_options=args.options, yes_no=args.yes_no,
                                random_templates=args.random_templates, similar=args.similar,
                                similar_templates=args.similar_templates, balance=not args.no_balance,
                                object_regions=args.object_regions,
                                margins=Margins().with_overrides(args.margin))
    source = load_source(dataset_folder(Path(args.source), args.layout), None if args.layout == "auto" else args.layout)
    for path, reason in source.skipped[:5]:
        print(f"source: skipped {path}: {reason}")
    if len(source.skipped) > 5:
        print(f"source: ... {len(source.skipped) - 5} more skipped files")
    result = generate_questions(source, args.knowledge, settings, workers=args.workers)
    qs = result.questions
    if args.caption:
        from ..questions.generate.build import resolve_knowledge
        from ..questions.llm_caption import caption_with_model

        log_path = Path(args.caption_log) if args.caption_log else out.with_suffix(".caption.jsonl")
        stats = caption_with_model(qs, source, resolve_knowledge(source, args.knowledge),
                                   assistant_backend(args.caption, max_tokens=256),
                                   log_path=log_path, with_reference=not args.caption_no_template)
        print(f"caption: {stats['accepted']} accepted, {stats['rejected']} rejected (log: {log_path})")
    if args.rephrase:
        from ..questions.llm_assist import rephrase_with_model

        log_path = Path(args.rephrase_log) if args.rephrase_log else out.with_suffix(".rephrase.jsonl")
        stats = rephrase_with_model(qs, assistant_backend(args.rephrase, max_tokens=512), log_path=log_path)
        print(f"rephrase: {stats['accepted']} accepted, {stats['rejected']} rejected (log: {log_path})")
    add_grounding_questions(qs, source.root, args)
    record_data_root(qs, source.root, out)
    sha = write_jsonl(qs, out) if fmt == "jsonl" else write_mmad_json(qs, out, with_provenance=not args.plain)
    counts = result.type_counts()
    print(f"{len(qs.entries)} images, {len(qs)} questions -> {out} ({fmt}, sha256 {sha[:16]})")
    note = data_root_note(source.root, out)
    if note:
        print(note)
    for qtype, n in sorted(counts.items()):
        print(f"  {qtype:<22} {n}")
    for (qtype, reason), n in sorted(result.skip_summary().items()):
        print(f"  skipped {n} {qtype}: {reason}")
    return 0


def add_grounding_questions(qs, root, args) -> int | None:
    """With ``--tasks grounding``: append the grounding questions (dropping the letters unless ``mmad`` is a
    task too); the number added, or None when grounding was not asked for."""
    if "grounding" not in args.tasks:
        return None
    from ..questions.generate.grounding import add_grounding
    from ..questions.grounding import GroundingSettings

    settings = GroundingSettings(box_format=args.box_format, speck_share=args.speck_share, max_boxes=args.max_boxes)
    return add_grounding(qs, root, settings, keep_letters="mmad" in args.tasks)


def assistant_backend(model: str, max_tokens: int):
    """The backend that writes captions or rephrasings: the run's factory and preset rules (the preset's
    generation settings over ``max_tokens``)."""
    from ..backends.registry import build_backend

    return build_backend(model, generation_defaults={"max_tokens": max_tokens})[1]


def dataset_folder(path, layout: str):
    """The dataset folder to load: ``path``, or its only dataset subfolder (``mmad-eval synth data/synth``
    writes ``data/synth/Synth-AD`` next to the knowledge file: ``generate data/synth`` means that one)."""
    from ..errors import LayoutError
    from ..sources.detect import detect_layout

    if layout != "auto" or not path.is_dir():
        return path
    try:
        detect_layout(path)
        return path
    except LayoutError as e:
        found = []
        for sub in sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")):
            try:
                detect_layout(sub)
                found.append(sub)
            except LayoutError:
                pass
        if len(found) != 1:
            raise e from None
        print(f"source: using the dataset folder {found[0]}")
        return found[0]


def data_root_note(root, out) -> str | None:
    """The note for a question file written outside its images' folder tree: `run` confines a recorded data
    root to the file's own folder, so such a file needs --data-root."""
    from pathlib import Path

    root, folder = Path(root).resolve(), Path(out).resolve().parent
    if root != folder and folder not in root.parents:
        return f"note: the images are outside the question file's folder: run it with --data-root {root}"
    return None


def record_data_root(qs, root, out) -> None:
    """Write into each entry where its images are, relative to the question file (``data_root``), so
    `mmad-eval run --questions OUT` finds them wherever the two are moved together."""
    import os
    from pathlib import Path

    rel = Path(os.path.relpath(Path(root).resolve(), Path(out).resolve().parent)).as_posix()
    for entry in qs.entries.values():
        entry.extra["data_root"] = rel
