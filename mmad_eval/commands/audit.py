"""Audit a question set (ours or MMAD's mmad.json) for answer-letter, length and text-only biases."""
from __future__ import annotations

HELP = "Audit a question set: counts, letter balance, duplicates, length bias, blind text-only baseline"


def add_arguments(p) -> None:
    p.add_argument("questions", help="question file: MMAD mmad.json or our .jsonl")
    p.add_argument("--json", metavar="OUT", help="also write the numbers as JSON")


def main(args) -> int:
    import json
    from pathlib import Path

    from ..questions.audit import audit, format_audit
    from ..questions.jsonl_io import load_questions

    qs = load_questions(Path(args.questions))
    report = audit(qs)
    report["file"] = {"path": str(args.questions), "sha256": qs.sha256}
    print(format_audit(report))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return 0
