"""Audit a question set (ours or MMAD's mmad.json): biases, answerability, human rating sheets and scores."""
from __future__ import annotations

HELP = "Audit a question set: biases, blind baseline, answerability; write a human rating sheet or score raters"


def add_arguments(p) -> None:
    p.add_argument("questions", help="question file: MMAD mmad.json or our .jsonl")
    p.add_argument("--json", metavar="OUT", help="also write the numbers as JSON")
    p.add_argument("--data", metavar="ROOT", help="data root the image keys are relative to (default: the "
                   "question file's folder, when the images are there); needed for the answerability checks "
                   "of Defect Description/Localization and for --sheet")
    p.add_argument("--knowledge", help="knowledge file for the knowledge-based answerability checks (default: "
                   "knowledge.json in the data root, if any)")
    p.add_argument("--sheet", type=int, metavar="N", help="write a rating sheet of N questions drawn at random, "
                   "stratified by subtask (needs --out)")
    p.add_argument("--out", help="the rating sheet's HTML file")
    p.add_argument("--seed", type=int, default=0, help="seed of the sheet's draw (default 0)")
    p.add_argument("--strata", choices=["proportional", "equal"], default="proportional",
                   help="questions per subtask on the sheet: proportional to the set (default) or equal")
    p.add_argument("--max-side", type=int, default=512,
                   help="sheet images shrunk to fit this box, as a model with max_side=N sees them (0: as is)")
    p.add_argument("--human", nargs="+", metavar="ANSWERS", help="score one or several raters' answer files "
                   "(downloaded from a rating sheet)")


def _data_root(args, qs):
    from pathlib import Path

    if args.data:
        return Path(args.data)
    here = Path(args.questions).resolve().parent
    first = next(iter(qs.entries), None)
    return here if first and (here / first).is_file() else None


def main(args) -> int:
    from pathlib import Path

    from ..errors import ConfigError
    from ..questions.jsonl_io import load_questions

    qs = load_questions(Path(args.questions))
    root = _data_root(args, qs)
    if args.sheet is not None:
        from ..questions.rating_sheet import write_sheet

        if not args.out:
            raise ConfigError("--sheet needs --out sheet.html", culprit="--sheet")
        if args.sheet < 1 or args.max_side < 0:
            raise ConfigError("--sheet needs at least 1 question and --max-side 0 or more",
                              culprit=f"--sheet {args.sheet} --max-side {args.max_side}")
        if root is None:
            raise ConfigError("the images are not next to the question file: give --data ROOT", culprit="--sheet")
        info = write_sheet(qs, root, Path(args.out), args.sheet, seed=args.seed, max_side=args.max_side or None,
                           strata=args.strata)
        print(f"rating sheet: {info['questions']} questions ({info['per_subtask']}) -> {args.out}")
        return 0
    if args.human:
        from ..questions.human_scores import format_human, score_raters

        rep = score_raters(qs, [Path(p) for p in args.human])
        print(format_human(rep))
        if args.json:
            _write_json(Path(args.json), rep)
        return 0
    from ..questions.answerability import answerability, format_answerability
    from ..questions.audit import audit, format_audit

    report = audit(qs)
    report["file"] = {"path": str(args.questions), "sha256": qs.sha256}
    kn = _knowledge(args, root)
    report["answerability"] = answerability(qs, root, kn)
    print(format_audit(report))
    print(format_answerability(report["answerability"]))
    if args.json:
        _write_json(Path(args.json), report)
    return 0


def _knowledge(args, root):
    from pathlib import Path

    from ..sources.knowledge import load_knowledge

    if args.knowledge:
        return load_knowledge(Path(args.knowledge))
    if root is not None and (root / "knowledge.json").is_file():
        return load_knowledge(root / "knowledge.json")
    return None


def _write_json(path, data) -> None:
    import json

    from ..questions.rating_sheet import write_text_atomic

    write_text_atomic(path, json.dumps(data, indent=1) + "\n")
