"""The end-to-end demo on the built-in synthetic set: generate, answer with the baselines, score, report."""
from __future__ import annotations

HELP = "End-to-end demo offline: synthetic set -> questions -> baselines + ablation -> scores -> HTML report"

DEFAULT_MODELS = ("random", "expert")
# five of the ten synthetic categories (two textures, three objects): the demo stays within a minute on 2 cores
DEFAULT_CATEGORIES = "bottle,carpet,pcb,pill,wood"


def add_arguments(p) -> None:
    p.add_argument("--out", default="runs/demo", help="output directory of the runs (default runs/demo)")
    p.add_argument("--report", default="reports/demo.html", help="HTML report to write")
    p.add_argument("--cache-dir", default=".cache/mmad-eval",
                   help="where the synthetic set and its questions are kept between demos")
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic set and the questions")
    p.add_argument("--categories", default=DEFAULT_CATEGORIES,
                   help=f"comma-separated synthetic categories, or 'all' for the ten (default {DEFAULT_CATEGORIES})")
    p.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS), help="models to run (default: baselines)")
    p.add_argument("--likelihood", default="random",
                   help="model also run with --answer-mode likelihood ('none' to skip)")
    p.add_argument("--ablate", default="compare", help="model whose enhancement ablation runs ('none' to skip)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def prepare_data(cache_dir, seed: int, categories: str | None = None, quiet: bool = False):
    """Synthetic set and its question file, built once per seed and reused (returns data root, questions)."""
    from pathlib import Path

    from ..questions.generate.build import generate_questions
    from ..questions.mmad_io import write_mmad_json
    from ..sources.detect import load_source
    from ..sources.synth import generate_synthetic

    cats = (sorted(c.strip() for c in categories.split(",") if c.strip())
            if categories and categories != "all" else None)
    root = Path(cache_dir) / (f"synth-seed{seed}" + ("-" + "-".join(cats) if cats else ""))
    questions = root / "questions.json"
    # the set appears whole or not at all (built in a temporary folder), its knowledge file written before
    if not ((root / "Synth-AD" / "synth_meta.json").is_file() and (root / "knowledge.json").is_file()):
        quiet or print(f"generating the synthetic set into {root} ...")
        generate_synthetic(root, seed=seed, categories=cats)
    if not questions.is_file():
        result = generate_questions(load_source(root / "Synth-AD"), root / "knowledge.json")
        write_mmad_json(result.questions, questions)
        quiet or print(f"wrote {len(result.questions)} questions on {len(result.questions.entries)} images "
                       f"to {questions}")
    return root, questions


def summary_table(runs) -> str:
    """One line per run: strict subtask scores and Average (what ranks the runs), MMAD-compatible Average
    (what summary.py prints) beside it and Anomaly Detection's image-level AUROC; then the headline (a best run
    only when the paired test separates it) and why summary.py's number differs where it does."""
    from ..questions.model import SUBTASK_SHORT, SUBTASKS
    from ..score.ad_scores import detection_report
    from ..score.ranking import Entrant, compatible_gap, headline, question_set, rank_runs
    from ..score.scorers import STRICT
    from ..score.summary import compatible_tables

    width = max([len(r.name) for r in runs] + [5])
    head = (f"{'run':<{width}}" + "".join(f"{SUBTASK_SHORT[s]:>7}" for s in SUBTASKS) + f"{'strict':>8}"
            + f"{'summary.py':>11}{'AUROC':>7}")
    lines = ["strict score per subtask (MMAD-compatible Average beside it)", head, "-" * len(head)]
    notes, entrants = [], []
    for r in runs:
        compat, strict = compatible_tables(r.answers)[0], STRICT.table(r.answers)
        cells = [strict.overall.get(c) for c in SUBTASKS]
        det = detection_report(r.answers, n_boot=0)
        auroc = det.overall.auroc if det is not None and det.overall is not None else None
        lines.append(f"{r.name:<{width}}" + "".join("      -" if v is None else f"{v:7.1f}" for v in cells)
                     + f"{strict.overall.get('Average') or 0:8.1f}{compat.overall.get('Average') or 0:11.1f}"
                     + ("      -" if auroc is None else f"{100 * auroc:7.1f}"))
        gap = compatible_gap(r.answers, compat, strict)
        notes += [f"note ({r.name}): {gap}"] if gap else []
        entrants.append(Entrant(r.name, r.answers, question_set(r.record, r.answers), strict))
    return "\n".join(lines + [headline(rank_runs(entrants))] + notes)


ARM_LINES = {"none": "no help: text prior only", "+references": "compares the query with 1 normal reference image",
             "+knowledge": "with the category's domain knowledge", "+expert": "follows the expert detector's hint",
             "all": "references, knowledge and the expert's hint together"}


def run_lines(names: list[str]) -> list[str]:
    """One line per run saying what it is (a preset's description; an ablation arm's help)."""
    from ..backends.registry import load_presets

    presets, lines = load_presets(), []
    for name in names:
        model, _, arm = name.partition("@")
        what = presets[model].description if model in presets else model
        if arm == "likelihood":
            what += " Answers from letter probabilities (--answer-mode likelihood)."
        elif arm in ARM_LINES:
            what = f"the {model} baseline, ablation arm: {ARM_LINES[arm]}."
        lines.append(f"  {name}: {what}")
    return lines


def main(args) -> int:
    from pathlib import Path

    from ..report.data import assemble
    from ..report.html import write_report
    from ..run.ablation import run_ablation
    from ..run.engine import run_evaluation
    from ..parse.stage import load_parsed_runs
    from ..settings import RunSettings

    root, questions = prepare_data(Path(args.cache_dir), args.seed, args.categories, args.quiet)
    out = Path(args.out)
    for model in args.models:
        print(run_evaluation(RunSettings(model=model), questions, out, data_root=root,
                             progress=not args.quiet).line())
    if args.likelihood != "none":   # a model answering from letter probabilities: a ranked ROC and calibration
        from ..settings import GenerationSettings

        settings = RunSettings(model=args.likelihood, generation=GenerationSettings(answer_mode="likelihood"))
        print(run_evaluation(settings, questions, out, name=f"{args.likelihood}@likelihood", data_root=root,
                             progress=not args.quiet).line())
    if args.ablate != "none":
        from ..settings import EnhancementSettings

        base = RunSettings(model=args.ablate, enhancements=EnhancementSettings(knowledge=str(root / "knowledge.json")))
        for s in run_ablation(base, questions, out, data_root=root, progress=not args.quiet):
            print(s.line())
    runs = load_parsed_runs(out)
    print("\nwhat each run is:")
    print("\n".join(run_lines([r.name for r in runs])))
    print()
    print(summary_table(runs))
    report = write_report(assemble(runs, title="mmad-eval demo: built-in baselines on the synthetic set"),
                          Path(args.report))
    print(f"\nreport: {report}")
    print(f"more: mmad-eval score {out}   |   mmad-eval report {out} --published")
    return 0
