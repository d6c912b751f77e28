"""Score runs: the MMAD-compatible table (what MMAD's summary.py prints), the strict table, CIs, exports."""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from ..atomic_write import write_text
from ..errors import ConfigError, MmadError

HELP = "Score runs (MMAD-compatible and strict tables, bootstrap CIs, exports in MMAD's formats)"

SHORT = {"Anomaly Detection": "AD", "Defect Classification": "DC", "Defect Localization": "DL",
         "Defect Description": "DD", "Defect Analysis": "DA", "Object Classification": "OC",
         "Object Analysis": "OA", "Average": "Avg"}


def add_arguments(p) -> None:
    p.add_argument("out_dir", nargs="?", help="output directory of `mmad-eval run`")
    p.add_argument("--answers", metavar="FILE", help="score an MMAD answer file (JSON list) instead of runs")
    p.add_argument("--run", action="append", metavar="NAME", help="only this run (repeatable)")
    p.add_argument("--by", choices=("category",), help="also print a per-category table")
    p.add_argument("--bootstrap", type=int, default=1000, metavar="N", help="bootstrap resamples (0: no CIs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--judge", metavar="MODEL", help="ask this model to map replies no rule could parse")
    p.add_argument("--export-mmad", metavar="FILE", help="write MMAD's answer JSON (one file per run)")
    p.add_argument("--csv", metavar="FILE", help="write MMAD's accuracy CSV layout (one file per run)")
    p.add_argument("--json", metavar="FILE", help="write every table as JSON")
    p.add_argument("--errata", metavar="FILE", help="also score with these errata applied, beside the official "
                   "score (an errata file from `mmad-eval audit --labels`, or 'mmad-reported': the shipped "
                   "publicly reported MMAD errors)")


def _runs(args):
    if args.answers:
        from ..score.mmad_answers import load_mmad_answers

        return [(Path(args.answers).stem, load_mmad_answers(Path(args.answers)), None)], Path(args.answers).parent
    if not args.out_dir:
        raise ConfigError("give an output directory or --answers FILE")
    from ..parse.stage import load_parsed_runs

    runs = load_parsed_runs(Path(args.out_dir))
    open_runs = [r for r in runs if ((r.record.get("settings") or {}).get("protocol") or {}).get("answer_format")
                 == "open"]
    for r in open_runs:          # free text has no letter to score: the judge grades it
        print(f"== {r.name}: {len(r.answers)} open answers (no options): grade them with `mmad-eval judge "
              f"{args.out_dir} --judge MODEL`\n")
    runs = [r for r in runs if r not in open_runs]
    if args.run:
        unknown = set(args.run) - {r.name for r in runs}
        if unknown:
            raise ConfigError(f"no such run; runs here: {', '.join(r.name for r in runs)}",
                              culprit=", ".join(sorted(unknown)))
        runs = [r for r in runs if r.name in args.run]
    if not runs and open_runs and not args.run:
        return [], Path(args.out_dir)
    if not runs:
        raise ConfigError("the store holds no runs yet; run `mmad-eval run --out "
                          f"{args.out_dir} ...` first", culprit=str(args.out_dir))
    return [(r.name, r.answers, r) for r in runs], Path(args.out_dir)


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
    from ..backends.registry import build_backend
    from ..parse.judge import LLMJudge

    # the run's factory and preset rules: the preset's generation settings over greedy, 16 tokens
    _, backend = build_backend(model, generation_defaults={"temperature": 0.0, "max_tokens": 16})
    stored, notes = _read_judge_cache(cache_path)

    def cache(key, text=None):
        if text is not None:
            stored[key] = text
        return stored.get(key)

    todo = [r for r in answers if r.error is None and r.parsed is None and (r.meta.get("segment") or r.reply)]
    try:
        letters = LLMJudge(backend, cache).judge_many([(r.meta.get("segment") or r.reply, r.options) for r in todo])
    finally:
        backend.close()
        try:
            write_text(cache_path, json.dumps(stored))
        except (OSError, MmadError) as e:   # e.g. a store on a read-only mount: scoring goes on
            notes.append(f"judge answers not cached ({e}): a rescoring asks them again")
    for r, letter in zip(todo, letters):
        if letter is not None:
            r.parsed, r.rule = letter, "judge"
    return "; ".join([f"judge {model} parsed {sum(x is not None for x in letters)} of {len(todo)} unparsed "
                      "replies", *notes])


def _read_judge_cache(path: Path) -> tuple[dict, list[str]]:
    """(the stored judge answers, notes): an unreadable or damaged cache is set aside (it is only a cache)."""
    if not path.is_file():
        return {}, []
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(stored, dict) and all(isinstance(v, str) for v in stored.values()):
            return stored, []
        problem = "not a JSON object of texts"
    except (OSError, UnicodeDecodeError, ValueError) as e:
        problem = f"{type(e).__name__}: {str(e)[:120]}"
    return {}, [f"judge cache {path} ignored ({problem})"]


def main(args) -> int:
    from ..score.breakdown import overkill_miss
    from ..score.mmad_answers import write_accuracy_csv, write_mmad_answers
    from ..score.scorers import MMAD
    from ..score.summary import score_run

    runs, base = _runs(args)
    several = len(runs) > 1
    errata = None
    if args.errata:
        from ..errata import resolve_errata

        errata = resolve_errata(args.errata)
    out, entrants = {}, []
    for name, answers, run in runs:
        record = run.record if run is not None else {}
        if not answers and run is not None and (run.grounding or run.other_types):   # no MMAD-type question
            print(f"== {name}")
            out[name] = print_apart(run, args)
            continue
        judge_note = apply_judge(answers, args.judge, base / "judge_cache.json") if args.judge else None
        scores = score_run(answers, n_boot=max(args.bootstrap, 0), seed=args.seed, by_category=args.by == "category")
        if judge_note:
            scores.strict.notes.append(judge_note)
        print_scores(name, scores, record)
        out[name] = scores.as_dict()
        if run is not None:
            out[name].update(print_apart(run, args))
        entrants.append((name, answers, record, scores))
        if errata is not None:
            from ..score.with_errata import errata_summary

            text, out[name]["errata"] = errata_summary(answers, errata)
            print(text + "\n")
        if args.export_mmad:
            n = write_mmad_answers(answers, _per_run(args.export_mmad, name, several))
            print(f"wrote {n} answers to {_per_run(args.export_mmad, name, several)}")
        if args.csv:
            write_accuracy_csv(scores.compatible, _per_run(args.csv, name, several), overkill_miss(answers, MMAD))
    if several:
        print_ranking(entrants, max(args.bootstrap, 1), args.seed)
    if args.json:
        write_text(args.json, json.dumps(out, indent=1, default=str))
    return 0


def print_apart(run, args) -> dict:
    """Score and print what is scored apart from the MMAD tables: Defect Grounding answers, letter questions of
    other types (RobustMAD's robustness categories), and every letter answer by difficulty level where the
    question file gives levels; their JSON forms."""
    from ..score.by_type import format_by_type, score_by_type
    from ..score.grounding import format_grounding, score_grounding

    out = {}
    if run.grounding:
        root = run.record.get("data_root")
        scores = score_grounding(run.grounding, Path(root) if root else None, n_boot=max(args.bootstrap, 0),
                                 seed=args.seed)
        print(format_grounding(scores) + "\n")
        out["grounding"] = scores.as_dict()
    if run.other_types:
        scores = score_by_type(run.other_types, n_boot=max(args.bootstrap, 0), seed=args.seed)
        print(format_by_type(scores, "Per question type, outside MMAD's subtasks (strict accuracy, scored apart)")
              + "\n")
        out["by_type"] = scores.as_dict()
    levels = run.record.get("difficulty")
    if levels:                    # the question file's images carry difficulty levels (RobustMAD's do)
        from ..score.difficulty import format_by_difficulty, score_by_difficulty

        rows = score_by_difficulty([*run.answers, *run.other_types], levels, n_boot=max(args.bootstrap, 0),
                                   seed=args.seed)
        if rows:
            print(format_by_difficulty(rows) + "\n")
            out["by_difficulty"] = rows
    return out


def print_ranking(entrants, n_boot: int, seed: int):
    """The runs ranked by the strict Average (complete runs of one question set only), a leader named only
    where the paired test separates it; summary.py's number beside each, named."""
    from ..score.ranking import Entrant, headline, question_set, rank_runs

    by = {name: (record, scores) for name, _, record, scores in entrants}
    ranking = rank_runs([Entrant(n, a, question_set(rec, a), sc.strict) for n, a, rec, sc in entrants],
                        n_boot=n_boot, seed=seed)
    print("== ranking by the strict score (MMAD-compatible = what summary.py prints, beside it)")
    for st in ranking.standings:
        compat = by[st.name][1].compatible.overall.get("Average")
        if st.rank is None:
            vs = f"not ranked: {st.not_ranked}"
        elif st.rank == 1:
            vs = "leader"
        else:
            ci = st.diff_ci
            vs = (f"{-st.diff_to_leader:+.2f} vs leader" + (f" [{-ci[1]:+.2f}, {-ci[0]:+.2f}]" if ci else "")
                  + (", separated" if st.separated else ", not separated"))
        print(f"{st.rank or '-':>3} {st.name:<24} strict {_fmt(st.strict):>6}   MMAD-compatible (summary.py) "
              f"{_fmt(compat):>6}   {vs}")
    print(headline(ranking))
    print()
    return ranking


def _pct(v, digits: int = 1) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def _print_beyond_letters(scores) -> None:
    """Anomaly Detection as a detector, calibration, letters outside the top-k, replies cut by the token limit."""
    from ..score.ad_scores import format_detection
    from ..score.calibration import format_calibration

    if scores.detection is not None:
        print(format_detection(scores.detection, by_category=scores.by_category is not None))
    if scores.calibration is not None:
        print(format_calibration(scores.calibration))
    if scores.outside_topk:
        print(f"  {scores.outside_topk} answers had shown letters outside the returned top-k (probability 0 "
              "there; a larger top_logprobs backend option narrows this)")
    if scores.none_option is not None:
        print("  " + scores.none_option.line())
    cut = scores.strict.extra["rules"].get("truncated", 0)
    if cut:
        print(f"  {cut} replies were cut by the token limit before their answer: raise --max-tokens")


def print_scores(name: str, scores, record: dict | None = None) -> None:
    """The run's tables as ``mmad-eval score`` prints them: the strict table (what rankings use) first, then
    the MMAD-compatible one (our fixed MMAD variant only when it differs)."""
    from ..run.describe import describe_run
    from ..score.scorers import MMAD, MMAD_FIXED, STRICT

    x = scores.strict.extra
    print(f"== {name}: {x['questions']} questions")
    if record:
        print(f"  {describe_run(record)}")
    print(format_table(scores.strict, STRICT.title))
    print(format_table(scores.compatible, MMAD.title))
    if any(n.startswith("MMAD-compatible score") for n in scores.fixed.notes):
        print(format_table(scores.fixed, MMAD_FIXED.title))
    abstained = f", abstentions {x['abstained']} (declined by design)" if x.get("abstained") else ""
    from ..parse.cascade import rule_words

    print(f"  parse failures {_fmt(x['parse_failure_rate'])}%, errors {_fmt(x['error_rate'])}%{abstained}; read by "
          + (", ".join(f"{rule_words(k)} {v}" for k, v in sorted(x["rules"].items())) or "none"))
    print("  accuracy by correct letter: " + ", ".join(f"{k} {_pct(v)}" for k, v in
                                                         x["accuracy_by_correct_letter"].items())
          + "; predicted: " + (", ".join(f"{k} {_pct(v)}%" for k, v in x["predicted_letter_share"].items()) or "-"))
    if "circular" in x:
        print(f"  circular accuracy (all rotations right): {_pct(x['circular']['accuracy']['All'], 2)}")
    om = scores.overkill_miss
    print("  Anomaly Detection overkill/miss: " + ("; ".join(
        f"{d} {_fmt(v['overkill'])}/{_fmt(v['miss'])}" for d, v in om.items()) or "-"))
    _print_beyond_letters(scores)
    if scores.by_category is not None:
        print(format_table(scores.by_category, "Strict by category"))
    print()
