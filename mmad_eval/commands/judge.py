"""Grade open-ended answers (runs made with --answer-format open) with a judge model on a rubric."""
from __future__ import annotations

HELP = "Grade open answers (run --answer-format open) with a judge model on a rubric; stored and resumed"


def add_arguments(p) -> None:
    p.add_argument("out_dir", help="output directory of `mmad-eval run --answer-format open`")
    p.add_argument("--judge", required=True, metavar="MODEL", help="judge model: a preset or backend:model")
    p.add_argument("--rubric", help="rubric JSON (default: RobustMAD's four dimensions, prompts/rubrics/robustmad.json)")
    p.add_argument("--run", action="append", metavar="NAME", help="only this run (repeatable)")
    p.add_argument("--base-url", help="the judge's server URL (OpenAI-compatible)")
    p.add_argument("--api-key-env", help="environment variable holding the judge's API key")
    p.add_argument("--max-tokens", type=int, default=200, help="judge reply tokens (default 200)")
    p.add_argument("--human", metavar="FILE", help='people\'s grades of the same answers ({"RUN": {"QID": '
                   '{"DIMENSION": grade}}}): the judge\'s agreement with them is reported')
    p.add_argument("--bootstrap", type=int, default=1000, metavar="N", help="bootstrap resamples (0: no CIs)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _open_runs(out_dir, only):
    from ..errors import ConfigError
    from ..run.load import load_runs

    runs = [r for r in load_runs(out_dir)
            if ((r.record.get("settings") or {}).get("protocol") or {}).get("answer_format") == "open"]
    if only:
        runs = [r for r in runs if r.name in only]
    if not runs:
        raise ConfigError("no run with open answers here (run with --answer-format open first)", culprit=str(out_dir))
    return runs


def _backend(args):
    import os

    from ..backends.registry import build_backend
    from ..errors import ConfigError

    options = {}
    if args.base_url:
        options["base_url"] = args.base_url
    if args.api_key_env:
        if not os.environ.get(args.api_key_env):
            raise ConfigError("environment variable is not set or empty", culprit=args.api_key_env)
        options["api_key"] = os.environ[args.api_key_env]
    return build_backend(args.judge, generation_defaults={"temperature": 0.0, "max_tokens": args.max_tokens},
                         options=options)[1]


def _human(path, rubric) -> dict:
    """People's grades ``{"RUN": {"QID": {"DIMENSION": grade}}}``, every grade a whole number on the rubric's
    scale for one of its dimensions; read before any judge request, so a bad file costs nothing."""
    from ..errors import ConfigError
    from ..inputfile import parse_json, read_input

    data = parse_json(read_input(path, what="human grades file"), str(path))
    shape = 'human grades look like {"RUN": {"QID": {"DIMENSION": grade}}}'
    if not isinstance(data, dict) or not all(isinstance(g, dict) for g in data.values()):
        raise ConfigError(shape, culprit=str(path))
    lo, hi = rubric.scale
    dims = {d for d, _ in rubric.dimensions}
    for run, grades in data.items():
        for qid, entry in grades.items():
            if not isinstance(entry, dict):
                raise ConfigError(f"{run} / {qid}: {shape}", culprit=str(path))
            for dim, grade in entry.items():
                if dim not in dims:
                    raise ConfigError(f"{run} / {qid}: {dim!r} is not a dimension of rubric {rubric.name} "
                                      f"({', '.join(sorted(dims))})", culprit=str(path))
                if isinstance(grade, bool) or not isinstance(grade, int) or not lo <= grade <= hi:
                    raise ConfigError(f"{run} / {qid} / {dim}: grade {grade!r} is not a whole number from {lo} "
                                      f"to {hi}", culprit=str(path))
    return data


def main(args) -> int:
    import json
    from pathlib import Path

    from ..atomic_write import write_text
    from ..questions.grounding import GROUNDING
    from ..run.judging import Rubric, judge_run, judged_path
    from ..run.store import Store
    from ..score.judged import agreement, judged_table

    out = Path(args.out_dir)
    rubric = Rubric.load(Path(args.rubric) if args.rubric else None)
    human = _human(args.human, rubric) if args.human else None
    backend = _backend(args)
    failed = 0
    try:
        with Store(out) as store:
            for run in _open_runs(out, args.run):
                answers = [a for a in run.answers if a.type != GROUNDING]   # boxes are scored, not judged
                judged = judge_run(store, backend, run.name, answers, rubric, progress=not args.quiet)
                table = judged_table(judged, n_boot=max(args.bootstrap, 0))
                result = {"run": run.name, "judge": args.judge, "rubric": {"name": rubric.name, "sha256": rubric.sha256,
                          "scale": list(rubric.scale)}, "asked": judged.asked, "failed": judged.failed, "unanswered": judged.unanswered,
                          "table": {"dimensions": table.dimensions, "means": table.means, "ci": table.ci,
                                    "n": table.n, "invalid": table.invalid}}
                if human is not None:
                    result["agreement"] = agreement(judged, human.get(run.name, {}))
                write_text(judged_path(out, run.name), json.dumps(result, indent=1))
                print(format_judged(result))
                failed += judged.failed
    finally:
        backend.close()
    return 1 if failed else 0


def format_judged(result: dict) -> str:
    t = result["table"]
    dims = t["dimensions"]
    lines = [f"== {result['run']}: open answers graded by {result['judge']} on rubric {result['rubric']['name']} "
             f"({result['rubric']['scale'][0]}-{result['rubric']['scale'][1]}; {result['asked']} judge requests "
             "asked now, the rest from the store)",
             f"{'subtask':<22}{'n':>5}" + "".join(f"{d[:18]:>20}" for d in dims) + f"{'invalid':>9}"]
    for subtask, means in t["means"].items():
        ci = t["ci"].get(subtask, {})
        cells = "".join(f"{means[d]:>12.2f}" + (f" ±{(ci[d][1] - ci[d][0]) / 2:<6.2f}" if d in ci else " " * 8)
                        for d in dims)
        lines.append(f"{subtask:<22}{t['n'][subtask]:>5}{cells}{t['invalid'].get(subtask, 0):>9}")
    if not t["means"]:
        lines.append("  no valid grading")
    if result.get("failed"):
        lines.append(f"  {result['failed']} judge calls failed (counted invalid above; asked again by the next "
                     "`mmad-eval judge`)")
    if result["unanswered"]:
        lines.append(f"  {result['unanswered']} answers were not judged: their request had failed")
    for dim, a in (result.get("agreement") or {}).items():
        k = "-" if a["kappa"] is None else f"{a['kappa']:.2f}"
        ex = "-" if a["exact"] is None else f"{a['exact']:.1f}%"
        w1 = "-" if a["within_one"] is None else f"{a['within_one']:.1f}%"
        lines.append(f"  judge vs people, {dim}: n {a['n']}, weighted kappa {k}, exact {ex}, within one {w1}")
    return "\n".join(lines)
