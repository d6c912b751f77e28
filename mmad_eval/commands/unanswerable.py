"""Add a "None of the listed choices." option to a question set and make a share of its questions
unanswerable (their true option removed): RobustMAD's check of models that always pick something."""
from __future__ import annotations

HELP = "Add a none-of-the-listed option to every multiple-choice question; remove the true one from a share"


def add_arguments(p) -> None:
    p.add_argument("questions", help="question file (MMAD's mmad.json or our JSONL)")
    p.add_argument("--out", required=True, help="the new question file (.json or .jsonl, as the input)")
    p.add_argument("--share", type=float, default=0.2,
                   help="share of the changed questions whose true option is removed (default 0.2)")
    p.add_argument("--seed", type=int, default=0, help="seed of the draw (with each question id; default 0)")


def main(args) -> int:
    from pathlib import Path

    from ..errors import ConfigError
    from ..questions.jsonl_io import write_jsonl
    from ..questions.mmad_io import write_mmad_json
    from ..questions.none_option import add_none_option
    from ..run.plan import load_questions, recorded_data_root
    from .generate import data_root_note, record_data_root

    src, out = Path(args.questions), Path(args.out)
    if out.resolve() == src.resolve():
        raise ConfigError("write the new question file next to the original, not over it", culprit=str(out))
    qs = load_questions(src)
    new, counts = add_none_option(qs, args.share, args.seed)
    root = recorded_data_root(qs, src)
    record_data_root(new, root, out)
    if out.suffix.lower() == ".jsonl":
        write_jsonl(new, out)
    else:
        write_mmad_json(new, out, with_provenance=True)
    print(f"wrote {out}: {counts['unanswerable']} unanswerable and {counts['answerable']} answerable questions "
          f"with the option \"None of the listed choices.\"; {counts['left_as_is']} left as they were (Anomaly "
          "Detection, or not 2-4 options)")
    note = data_root_note(root, out)
    if note:
        print(note)
    return 0
