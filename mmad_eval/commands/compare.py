"""Compare two runs on the questions both answered: paired differences, bootstrap CIs, McNemar p-values."""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from ..atomic_write import write_text
from ..errors import ConfigError

HELP = "Compare two runs: paired score differences with bootstrap CIs and McNemar p-values"


def add_arguments(p) -> None:
    p.add_argument("out_dir", help="output directory holding both runs")
    p.add_argument("--a", required=True, metavar="RUN", help="baseline run")
    p.add_argument("--b", required=True, metavar="RUN", help="run compared with the baseline (diff = B - A)")
    p.add_argument("--b-dir", metavar="DIR", help="read run B from another output directory")
    from ..score.scorers import SCORERS

    p.add_argument("--scorer", choices=tuple(SCORERS), default="strict",
                   help="strict (fixed denominator), mmad (MMAD-compatible: what summary.py counts) or "
                        "mmad-fixed (ours)")
    p.add_argument("--bootstrap", type=int, default=1000, metavar="N")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", metavar="FILE", help="write the comparison as JSON")
    p.add_argument("--force", action="store_true",
                   help="compare runs made from different question sets, pairing only the questions that are "
                        "identical in both (text, options, answer)")


def _run(out_dir: str, name: str):
    from ..parse.stage import load_parsed_run

    return load_parsed_run(Path(out_dir), name)


def same_question_set(a, b) -> str | None:
    """Why runs ``a`` and ``b`` (LoadedRun) were not made from the same question set, or None."""
    from ..score.compare import differing_questions

    ha, hb = ((r.record.get("questions") or {}).get("sha256") for r in (a, b))
    reasons = []
    if ha and hb and ha != hb:
        reasons.append(f"question files differ (sha256 {ha[:12]} vs {hb[:12]})")
    diff = differing_questions(a.answers, b.answers)
    if diff:
        reasons.append(f"{len(diff)} question ids differ in text, options or answer (e.g. {diff[0]})")
    return "; ".join(reasons) or None


def main(args) -> int:
    from ..run.describe import describe_run
    from ..score.compare import compare_runs
    from ..score.scorers import SCORERS
    from ..score.table import COLUMNS

    if args.bootstrap < 1:
        raise ConfigError("--bootstrap must be at least 1", culprit=str(args.bootstrap))
    run_a = _run(args.out_dir, args.a)
    run_b = _run(args.b_dir or args.out_dir, args.b)
    why = same_question_set(run_a, run_b)
    if why and not args.force:
        raise ConfigError(f"runs {args.a} and {args.b} were made from different question sets: {why}; pass "
                          "--force to compare only the questions identical in both", culprit=args.b)
    a, b = run_a.answers, run_b.answers
    cmp = compare_runs(a, b, SCORERS[args.scorer], n_boot=args.bootstrap, seed=args.seed)
    if why:
        print(f"different question sets ({why}): --force pairs only the {cmp.shared} questions identical in both")
    print(f"{args.b} vs {args.a} ({args.scorer} score, {cmp.shared} shared questions; diff = B - A)")
    print(f"  A = {args.a}: {describe_run(run_a.record)}")
    print(f"  B = {args.b}: {describe_run(run_b.record)}")
    print(f"{'':<24}{'A':>8}{'B':>8}{'diff':>8}{'95% CI':>18}{'McNemar p':>11}{'A only':>8}{'B only':>8}")
    for col in COLUMNS:
        if cmp.diff.get(col) is None and cmp.a.get(col) is None:
            continue
        mc = cmp.mcnemar.get("All" if col == "Average" else col)
        ci = cmp.ci.get(col)
        ci_s = f"[{ci[0]:+.2f}, {ci[1]:+.2f}]" if ci else "-"
        fmt = (lambda v: "-" if v is None else f"{v:.2f}")
        print(f"{col:<24}{fmt(cmp.a.get(col)):>8}{fmt(cmp.b.get(col)):>8}"
              f"{'-' if cmp.diff.get(col) is None else format(cmp.diff[col], '+.2f'):>8}{ci_s:>18}"
              f"{'-' if mc is None else format(mc.p_exact, '.3g'):>11}"
              f"{'-' if mc is None else mc.only_a:>8}{'-' if mc is None else mc.only_b:>8}")
    print("  McNemar p: exact binomial test on the questions only one run got right (Average row: all questions)")
    print(verdict(args.a, args.b, cmp))
    for n in cmp.notes:
        print(f"  note: {n}")
    if args.json:
        write_text(args.json, json.dumps(asdict(cmp), indent=1))
    return 0


def verdict(a: str, b: str, cmp) -> str:
    """Who is ahead on the Average, named only when the paired bootstrap 95 % CI of the difference excludes 0."""
    diff, ci = cmp.diff.get("Average"), cmp.ci.get("Average")
    if diff is None or ci is None:
        return "verdict: no paired Average to compare"
    span = f"{diff:+.2f} points, 95% CI [{ci[0]:+.2f}, {ci[1]:+.2f}]"
    if ci[0] > 0 or ci[1] < 0:
        ahead, behind = (b, a) if diff > 0 else (a, b)
        return f"verdict: {ahead} is ahead of {behind} on the {cmp.scorer} Average ({span}: excludes 0)"
    return f"verdict: {b} is not separated from {a} on the {cmp.scorer} Average ({span}: includes 0)"
