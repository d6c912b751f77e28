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
    p.add_argument("--human", nargs="+", metavar="FILE", help="people's grades of the same answers: files "
                   "downloaded from grading sheets (audit --sheet N --rate-run OUT_DIR), or one JSON "
                   '{"RUN": {"QID": {"DIMENSION": grade}}}; the judge\'s agreement with them is reported')
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


def _people(paths: list[str], runs: list, rubric) -> dict:
    """run name -> [(rater, {qid: {dimension: grade}})]: grading-sheet files (checked against the runs and
    the rubric before anything is judged), or one file of the {"RUN": ...} shape."""
    from collections import Counter

    from ..inputfile import parse_json, read_input
    from ..run.open_sheet import FORMAT, load_open_ratings, refuse_duplicates

    def is_sheet(path: str) -> bool:
        data = parse_json(read_input(path, what="human grades file"), path)
        return isinstance(data, dict) and data.get("format") == FORMAT

    sheets = [p for p in paths if is_sheet(p)]
    if not sheets:
        if len(paths) > 1:
            from ..errors import ConfigError

            raise ConfigError("give one grades file of the {\"RUN\": ...} shape, or grading-sheet files",
                              culprit=paths[1])
        data = _human(paths[0], rubric)
        return {r.name: [("people", data.get(r.name, {}))] for r in runs}
    other = next((p for p in paths if p not in sheets), None)
    if other is not None:
        from ..errors import DataError

        raise DataError("not a grading-sheet file (do not mix sheet files with a {\"RUN\": ...} file)", culprit=other)
    raters = [load_open_ratings(p, {r.name: r for r in runs}, rubric) for p in paths]
    refuse_duplicates(raters)
    names = Counter(x["rater"] for x in raters)
    return {r.name: [(x["rater"] if names[x["rater"]] == 1 else f"{x['rater']} ({x['file']})", x["grades"])
                     for x in raters if x["run"] == r.name] for r in runs}


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
    backend = _backend(args)
    failed = 0
    try:
        runs = _open_runs(out, args.run)
        people = _people(args.human, runs, rubric) if args.human else {}
        with Store(out) as store:
            for run in runs:
                answers = [a for a in run.answers if a.type != GROUNDING]   # boxes are scored, not judged
                judged = judge_run(store, backend, run.name, answers, rubric, progress=not args.quiet)
                table = judged_table(judged, n_boot=max(args.bootstrap, 0))
                result = {"run": run.name, "judge": args.judge, "rubric": {"name": rubric.name, "sha256": rubric.sha256,
                          "scale": list(rubric.scale)}, "asked": judged.asked, "failed": judged.failed, "unanswered": judged.unanswered,
                          "table": {"dimensions": table.dimensions, "means": table.means, "ci": table.ci,
                                    "n": table.n, "invalid": table.invalid}}
                if people.get(run.name):
                    result["agreement"] = agreement(judged, [g for _, g in people[run.name]])
                    if len(people[run.name]) > 1:
                        result["agreement_by_rater"] = {who: agreement(judged, g) for who, g in people[run.name]}
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
    lines += _agreement_lines("people", result.get("agreement") or {})
    for who, agree in (result.get("agreement_by_rater") or {}).items():
        lines += _agreement_lines(who, agree)
    return "\n".join(lines)


def _agreement_lines(who: str, agree: dict) -> list[str]:
    lines = []
    for dim, a in agree.items():
        k = "-" if a["kappa"] is None else f"{a['kappa']:.2f}"
        ex = "-" if a["exact"] is None else f"{a['exact']:.1f}%"
        w1 = "-" if a["within_one"] is None else f"{a['within_one']:.1f}%"
        lines.append(f"  judge vs {who}, {dim}: n {a['n']}, weighted kappa {k}, exact {ex}, within one {w1}")
    return lines
