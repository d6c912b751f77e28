"""Score runs: the MMAD-compatible table (exact or corrected), the strict table, CIs, breakdowns, exports."""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from ..errors import ConfigError

HELP = "Score runs (MMAD-compatible and strict tables, bootstrap CIs, exports in MMAD's formats)"

SHORT = {"Anomaly Detection": "AD", "Defect Classification": "DC", "Defect Localization": "DL",
         "Defect Description": "DD", "Defect Analysis": "DA", "Object Classification": "OC",
         "Object Analysis": "OA", "Average": "Avg"}


def add_arguments(p) -> None:
    p.add_argument("out_dir", nargs="?", help="output directory of `mmad-eval run`")
    p.add_argument("--answers", metavar="FILE", help="score an MMAD answer file (JSON list) instead of runs")
    p.add_argument("--run", action="append", metavar="NAME", help="only this run (repeatable)")
    p.add_argument("--variant", choices=("exact", "corrected"), default="exact",
                   help="MMAD-compatible variant: exact (reproduces published numbers) or corrected")
    p.add_argument("--exact-skip", action="store_true",
                   help="emulate the reference loop skipping the answer after each dropped one")
    p.add_argument("--by", choices=("category",), help="also print a per-category table")
    p.add_argument("--bootstrap", type=int, default=1000, metavar="N", help="bootstrap resamples (0: no CIs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--judge", metavar="MODEL", help="ask this model to map replies no rule could parse")
    p.add_argument("--export-mmad", metavar="FILE", help="write MMAD's answer JSON (one file per run)")
    p.add_argument("--csv", metavar="FILE", help="write MMAD's accuracy CSV layout (one file per run)")
    p.add_argument("--json", metavar="FILE", help="write every table as JSON")


def _runs(args):
    if args.answers:
        from ..score.mmad_answers import load_mmad_answers

        return [(Path(args.answers).stem, load_mmad_answers(Path(args.answers)))], Path(args.answers).parent
    if not args.out_dir:
        raise ConfigError("give an output directory or --answers FILE")
    from ..parse.stage import load_parsed_runs

    runs = load_parsed_runs(Path(args.out_dir))
    if args.run:
        unknown = set(args.run) - {r.name for r in runs}
        if unknown:
            raise ConfigError(f"no such run; runs here: {', '.join(r.name for r in runs)}",
                              culprit=", ".join(sorted(unknown)))
        runs = [r for r in runs if r.name in args.run]
    return [(r.name, r.answers) for r in runs], Path(args.out_dir)


def _per_run(path: str, name: str, several: bool) -> Path:
    p = Path(path)
    return p.with_name(f"{p.stem}_{name}{p.suffix}") if several else p


def _fmt(v) -> str:
    return "-" if v is None else f"{v:.2f}"


def format_table(table, title: str) -> str:
    cols = list(SHORT)
    width = max([len(n) for n in table.rows] + [8])
    lines = [title, " " * width + "".join(f"{SHORT[c]:>8}" for c in cols)]
    for name, row in table.rows.items():
        lines.append(f"{name:<{width}}" + "".join(f"{_fmt(row.get(c)):>8}" for c in cols))
    lines.append(f"{'Average':<{width}}" + "".join(f"{_fmt(table.overall.get(c)):>8}" for c in cols))
    if table.ci:
        lines.append(f"{'95% CI':<{width}}" + "".join(
            f"{'±' + format((table.ci[c][1] - table.ci[c][0]) / 2, '.1f') if c in table.ci else '-':>8}"
            for c in cols))
    lines += [f"  note: {n}" for n in table.notes]
    return "\n".join(lines)


def apply_judge(answers, model: str, cache_path: Path) -> str:
    """Re-parse unparsed replies with an LLM judge; returns a one-line summary."""
    from ..backends.base import GenerationSettings
    from ..backends.registry import backend_class, resolve_model
    from ..parse.judge import LLMJudge
    from ..prompt.images import ImageRegistry

    spec = resolve_model(model)
    backend = backend_class(spec.backend)(spec.model, GenerationSettings(temperature=0.0, max_tokens=16),
                                          ImageRegistry(), **spec.options)
    stored = json.loads(cache_path.read_text()) if cache_path.is_file() else {}

    def cache(key, text=None):
        if text is not None:
            stored[key] = text
        return stored.get(key)

    todo = [r for r in answers if r.error is None and r.parsed is None and (r.meta.get("segment") or r.reply)]
    try:
        letters = LLMJudge(backend, cache).judge_many([(r.meta.get("segment") or r.reply, r.options) for r in todo])
    finally:
        backend.close()
        cache_path.write_text(json.dumps(stored))
    for r, letter in zip(todo, letters):
        if letter is not None:
            r.parsed, r.rule = letter, "judge"
    return f"judge {model} parsed {sum(x is not None for x in letters)} of {len(todo)} unparsed replies"


def main(args) -> int:
    from ..score.breakdown import category_table, overkill_miss
    from ..score.mmad import mmad_scores
    from ..score.mmad_answers import write_accuracy_csv, write_mmad_answers
    from ..score.stats import add_bootstrap_ci
    from ..score.strict import strict_score

    runs, base = _runs(args)
    several = len(runs) > 1
    out = {}
    for name, answers in runs:
        judge_note = apply_judge(answers, args.judge, base / "judge_cache.json") if args.judge else None
        exact, corrected = mmad_scores(answers, exact_skip_after_drop=args.exact_skip)
        compat = exact if args.variant == "exact" else corrected
        strict = strict_score(answers)
        if judge_note:
            strict.notes.append(judge_note)
        if args.bootstrap > 0:
            add_bootstrap_ci(compat, answers, "mmad" if args.variant == "exact" else "mmad-corrected",
                             n_boot=args.bootstrap, seed=args.seed, exact_skip_after_drop=args.exact_skip)
            add_bootstrap_ci(strict, answers, "strict", n_boot=args.bootstrap, seed=args.seed)
        x = strict.extra
        print(f"== {name}: {x['questions']} questions")
        print(format_table(compat, f"MMAD-compatible ({args.variant})"))
        print(format_table(strict, "Strict (fixed denominator)"))
        print(f"  parse failures {_fmt(x['parse_failure_rate'])}%, errors {_fmt(x['error_rate'])}%; rules "
              + ", ".join(f"{k} {v}" for k, v in sorted(x["rules"].items())))
        print("  accuracy by correct letter: " + ", ".join(f"{k} {v:.1f}" for k, v in
                                                             x["accuracy_by_correct_letter"].items())
              + "; predicted: " + ", ".join(f"{k} {v:.1f}%" for k, v in x["predicted_letter_share"].items()))
        if "circular" in x:
            print(f"  circular accuracy (all rotations right): {x['circular']['accuracy']['All']:.2f}")
        om = overkill_miss(answers)
        print("  Anomaly Detection overkill/miss: " + "; ".join(
            f"{d} {_fmt(v['overkill'])}/{_fmt(v['miss'])}" for d, v in om.items()))
        entry = {"mmad": asdict(exact), "mmad_corrected": asdict(corrected), "strict": asdict(strict),
                 "overkill_miss": om}
        if args.by == "category":
            cats = category_table(answers)
            print(format_table(cats, "Strict by category"))
            entry["by_category"] = asdict(cats)
        print()
        out[name] = entry
        if args.export_mmad:
            n = write_mmad_answers(answers, _per_run(args.export_mmad, name, several))
            print(f"wrote {n} answers to {_per_run(args.export_mmad, name, several)}")
        if args.csv:
            write_accuracy_csv(compat, _per_run(args.csv, name, several), overkill_miss(answers, "mmad"))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1, default=str))
    return 0
