"""Audit a question set (ours or MMAD's mmad.json): biases, answerability, human rating sheets and scores, and
(--labels) its labels against its images and masks, with errata and a review page."""
from __future__ import annotations

HELP = "Audit a question set: biases, answerability, rating sheets; --labels: its labels vs images and masks"


def add_arguments(p) -> None:
    p.add_argument("questions", help="question file: MMAD mmad.json (or any MMAD-format file) or our .jsonl")
    p.add_argument("--json", metavar="OUT", help="also write the numbers as JSON")
    p.add_argument("--data", "--data-root", dest="data", metavar="ROOT",
                   help="data root the image keys are relative to (default: the "
                   "question file's folder, when the images are there); needed for the answerability checks "
                   "of Defect Description/Localization, for --sheet and for --labels")
    p.add_argument("--knowledge", help="knowledge file for the knowledge-based answerability checks (default: "
                   "knowledge.json in the data root, if any)")
    p.add_argument("--sheet", type=int, metavar="N", help="write a rating sheet of N questions drawn at random, "
                   "stratified by subtask (needs --out)")
    p.add_argument("--out", help="the rating sheet's HTML file (--sheet), or the errata file (--labels; default: "
                   "QUESTIONS' name + .errata.json; decisions already in it are kept)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sheet's draw (default 0)")
    p.add_argument("--strata", choices=["proportional", "equal"], default="proportional",
                   help="questions per subtask on the sheet: proportional to the set (default) or equal")
    p.add_argument("--max-side", type=int, default=512,
                   help="sheet images shrunk to fit this box, as a model with max_side=N sees them (0: as is)")
    p.add_argument("--rate-run", metavar="OUT_DIR", help="--sheet in free-text mode: a grading sheet of N answered "
                   "questions of this open-answer run (run --answer-format open), one 1..5 choice per rubric "
                   "dimension; compare the downloaded grades with a judge's by `judge OUT_DIR --human FILES`")
    p.add_argument("--run", metavar="NAME", help="--rate-run: which run of OUT_DIR (needed when it holds several)")
    p.add_argument("--rubric", metavar="FILE", help="--rate-run: the rubric (default: the judge's default, "
                   "prompts/rubrics/robustmad.json)")
    p.add_argument("--human", nargs="+", metavar="ANSWERS", help="score one or several raters' answer files "
                   "(downloaded from a rating sheet)")
    g = p.add_argument_group("label audit")
    g.add_argument("--labels", action="store_true",
                   help="check labels against images and masks: image vs category, references vs query, Defect "
                        "Localization vs mask, label vs mask, duplicate images, give-away questions")
    g.add_argument("--embedder", default="builtin",
                   help="image embedding: builtin (no weights) or a local model folder")
    g.add_argument("--checks", help="comma-separated subset of: image_category, reference_category, localization, "
                                    "label_mask, duplicate_image, giveaway")
    g.add_argument("--html", metavar="PAGE", help="review page (default: the errata file's name + .html)")
    g.add_argument("--decisions", metavar="FILE", help="import the review page's downloaded decisions into the "
                                                      "errata file (--out) instead of auditing again")
    g = p.add_argument_group("corrected question file")
    g.add_argument("--errata", metavar="FILE", help="errata file (or 'mmad-reported', the shipped one)")
    g.add_argument("--write-corrected", metavar="OUT", help="write the question set with the errata's reported and "
                                                           "confirmed entries applied (.json: MMAD format, .jsonl)")


def _data_root(args, qs):
    from pathlib import Path

    from ..run.plan import recorded_data_root

    if args.data:
        return Path(args.data)
    here = recorded_data_root(qs, Path(args.questions))   # where `generate` recorded the images, else beside it
    first = next(iter(qs.entries), None)
    return here if first and (here / first).is_file() else None


def main(args) -> int:
    from pathlib import Path

    from ..errors import ConfigError
    from ..questions.jsonl_io import load_questions

    qs = load_questions(Path(args.questions))
    if args.rate_run is not None:
        return _open_sheet(qs, args)
    if not (args.write_corrected or args.errata):     # the audits read letters: boxes questions are left out
        from ..questions.grounding import without_grounding

        qs, n_grounding, n_open = without_grounding(qs)
        if n_grounding:
            print(f"audit: {n_grounding} Defect Grounding questions left out (the audits check letter questions)")
        if n_open:
            print(f"audit: {n_open} questions without options left out (open-ended: the audits check letter "
                  "questions; grade open answers with `mmad-eval judge`)")
        if not qs.entries:
            raise ConfigError("no multiple-choice question to audit in this file", culprit=args.questions)
    root = _data_root(args, qs)
    if args.write_corrected or args.errata:
        if not (args.write_corrected and args.errata):
            raise ConfigError("--errata and --write-corrected go together")
        return _write_corrected(qs, args)
    if args.labels or args.decisions:
        return _label_audit(qs, args)
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
    kn = _knowledge(args, qs, root)
    report["answerability"] = answerability(qs, root, kn)
    print(format_audit(report))
    print(format_answerability(report["answerability"]))
    if args.json:
        _write_json(Path(args.json), report)
    return 0


def _open_sheet(qs, args) -> int:
    """The free-text grading sheet of an open-answer run asked on this question file."""
    from pathlib import Path

    from ..errors import ConfigError
    from ..run.judging import Rubric
    from ..run.load import load_run
    from ..run.open_sheet import write_open_sheet

    if args.sheet is None or not args.out or args.sheet < 1 or args.max_side < 0:
        raise ConfigError("--rate-run needs --sheet N (at least 1) and --out sheet.html", culprit="--rate-run")
    run = load_run(Path(args.rate_run), args.run)
    if ((run.record.get("settings") or {}).get("protocol") or {}).get("answer_format") != "open":
        raise ConfigError("not a run of open answers (run with --answer-format open)", culprit=run.name)
    if (run.record.get("questions") or {}).get("sha256") not in (None, qs.sha256):
        raise ConfigError(f"run {run.name} was asked on another question file (SHA-256 differs)",
                          culprit=args.questions)
    root = _data_root(args, qs)
    if root is None:
        raise ConfigError("the images are not next to the question file: give --data ROOT", culprit="--sheet")
    rubric = Rubric.load(Path(args.rubric) if args.rubric else None)
    info = write_open_sheet(run, rubric, root, Path(args.out), args.sheet, seed=args.seed, strata=args.strata,
                            max_side=args.max_side or None)
    print(f"grading sheet: {info['questions']} answers of {run.name} ({info['per_subtask']}), rubric "
          f"{rubric.name} -> {args.out}")
    return 0


def _knowledge(args, qs, root):
    """--knowledge, else the one the question file records, else knowledge.json in the data root."""
    from pathlib import Path

    from ..run.plan import recorded_knowledge
    from ..sources.knowledge import load_knowledge

    if args.knowledge:
        return load_knowledge(Path(args.knowledge))
    found = recorded_knowledge(qs, Path(args.questions), root)
    return load_knowledge(found) if found else None


def _write_json(path, data) -> None:
    import json

    from ..atomic_write import write_text

    write_text(path, json.dumps(data, indent=1) + "\n")


def _paths(args, qs):
    """Errata file, review page, and the data root found as `run` finds it (--data-root, else recorded)."""
    from pathlib import Path

    from ..run.plan import recorded_data_root

    q = Path(args.questions)
    out = Path(args.out) if args.out else q.with_name(q.name.rsplit(".", 1)[0] + ".errata.json")
    page = Path(args.html) if args.html else out.with_suffix(".html")
    root = Path(args.data) if args.data else recorded_data_root(qs, q)
    return out, page, root


def _label_audit(qs, args) -> int:
    from datetime import datetime, timezone
    from pathlib import Path

    from .. import __version__
    from ..errata.model import Errata, apply_decisions, carry_decisions, load_errata, save_errata
    from ..errors import ConfigError
    from ..label_audit import CHECKS, audit_labels
    from ..label_audit.page import write_page

    out, page, root = _paths(args, qs)
    if not root.is_dir():
        raise ConfigError("data root is not a folder", culprit=str(root))
    if args.decisions:
        errata = load_errata(out)
        counts = apply_decisions(errata, args.decisions)
        save_errata(errata, out)
        write_page(errata, qs, root, page)
        print(f"imported {counts['confirmed']} confirmed and {counts['rejected']} rejected decision(s) into {out}")
        print(f"review page: {page}")
        return 0
    checks = tuple(c.strip() for c in args.checks.split(",")) if args.checks else CHECKS
    unknown = [c for c in checks if c not in CHECKS]
    if unknown:
        raise ConfigError(f"unknown check; known: {', '.join(CHECKS)}", culprit=", ".join(unknown))
    _check_root(qs, root)
    result = audit_labels(qs, root, embedder=args.embedder, checks=checks)
    previous = load_errata(out) if out.exists() else None
    entries = carry_decisions(result.flags, previous)
    meta = {"questions": {"file": Path(args.questions).name, "sha256": qs.sha256, "images": len(qs.entries),
                          "questions": len(qs)},
            "data_root": str(root), "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "tool": {"name": "mmad-eval audit --labels", "version": __version__, "embedder": args.embedder},
            "summary": result.summary, "unchecked": result.unchecked,
            "unreadable": [{"key": k, "error": v} for k, v in sorted(result.errors.items())]}
    errata = Errata(entries=entries, meta=meta)
    save_errata(errata, out)
    write_page(errata, qs, root, page)
    _print_summary(result, entries, previous)
    _print_reported(qs)
    print(f"errata: {out}  (sha256 {errata.sha256[:16]})\nreview page: {page}")
    return 0


def _check_root(qs, root) -> None:
    """One clear error when the data root holds none of the file's images (a wrong --data-root)."""
    from ..errors import ConfigError, DataError
    from ..paths import safe_join

    keys = list(qs.entries)[:50]
    found = 0
    for k in keys:
        try:
            found += safe_join(root, k).is_file()
        except DataError:
            pass
    if keys and not found:
        raise ConfigError(f"none of the first {len(keys)} query images is under this data root (e.g. {keys[0]}); "
                          "give the folder the file's paths are relative to with --data-root", culprit=str(root))


def _print_summary(result, entries, previous) -> None:
    s = result.summary
    print(f"{s['images']} images, {s['questions']} questions; {s['images_flagged']} image(s) flagged")
    for check, n in s["flags"].items():
        print(f"  {check:<20} {n:>6} flag(s)")
    loc = s["localization"]
    print(f"  Defect Localization: {loc['questions']} questions, {loc['unchecked']} unchecked (no spatial words, "
          "a named part, or no usable mask)")
    if s["unreadable"]:
        print(f"  {s['unreadable']} unreadable image or mask file(s), listed in the errata file")
    kept = sum(e["status"] in ("confirmed", "rejected") for e in entries)
    if previous is not None:
        print(f"  {kept} reviewed decision(s) kept from the previous errata file")
    for e in entries[:8]:
        print(f"  - {e['id']}: {e['message']}")
    if len(entries) > 8:
        print(f"  ... and {len(entries) - 8} more in the errata file and the review page")


def _print_reported(qs) -> None:
    """Say whether the shipped, publicly reported MMAD errata touch this file."""
    from ..errata import apply_to_questions, resolve_errata

    reported = resolve_errata("mmad-reported")
    per = apply_to_questions(qs, reported)[1].per_entry()
    if per:
        n = sum(v["excluded"] + v["corrected"] for v in per.values())
        print(f"  publicly reported MMAD errors touch {n} question(s) of this file ({len(per)} report(s)); "
              "score with them: --errata mmad-reported")


def _write_corrected(qs, args) -> int:
    from pathlib import Path

    import json

    from ..errata import apply_to_questions, resolve_errata
    from ..errata.model import write_atomic
    from ..questions.jsonl_io import question_record
    from ..questions.mmad_io import to_mmad_dict

    errata = resolve_errata(args.errata)
    fixed, changes = apply_to_questions(qs, errata)
    out = Path(args.write_corrected)
    if out.suffix == ".jsonl":
        text = "".join(json.dumps(question_record(e, q), ensure_ascii=False) + "\n"
                       for e in fixed.entries.values() for q in e.questions)
    else:
        text = json.dumps(to_mmad_dict(fixed, with_provenance=True), indent=1, ensure_ascii=False) + "\n"
    sha = write_atomic(out, text)
    c = changes.as_dict()
    print(f"{len(fixed)} questions on {len(fixed.entries)} images -> {out} (sha256 {sha[:16]}); "
          f"{c['excluded']} question(s) excluded, {c['corrected']} changed (answers corrected or references "
          f"replaced) by {len(c['per_entry'])} of {len(errata.applied())} applied errata")
    for eid, n in c["per_entry"].items():
        print(f"  {eid}: {n}")
    for note in errata.notes():
        print(f"  note {note['id']}: {note['message']}")
    return 0
