"""Run the enhancement ablation matrix (none, +references, +knowledge, +expert, all) for one model, or with
``--perturb`` the robustness grid (the clean run and one run per perturbation)."""
from __future__ import annotations

HELP = ("Ablate training-free enhancements (none, +references, +knowledge, +expert, all), or with --perturb "
        "run a robustness grid (clean + one arm per perturbation); one shared answer store")


def add_arguments(p) -> None:
    from ..run.ablation import ARMS
    from .run import add_arguments as run_arguments

    run_arguments(p)
    p.add_argument("--arms", nargs="+", default=list(ARMS), choices=ARMS, help="which arms to run (default all)")


def main(args) -> int:
    from pathlib import Path

    from ..errors import ConfigError
    from ..run.ablation import run_ablation, run_perturbations
    from .run import backend_options, recorded_knowledge_of, settings_from_args, slice_from_args

    if args.knowledge == "":                            # --knowledge alone: the one the question file records
        args.knowledge = str(recorded_knowledge_of(args))

    for flag, given in (("--batch-api", getattr(args, "batch_api", False)), ("--ray", getattr(args, "ray", None))):
        if given:             # (run's flags; ablate answers live in this process: they would be ignored)
            raise ConfigError("ablate answers every arm live in this process: drop it, or `run` each arm",
                              culprit=flag)

    common = dict(name=args.name, data_root=args.data_root, slice=slice_from_args(args),
                  backend_options=backend_options(args), retry_failed=args.retry_failed,
                  prompt_dir=Path(args.prompt_dir) if args.prompt_dir else None, progress=not args.quiet)
    if args.perturb:
        summaries = run_perturbations(settings_from_args(args), args.perturb, Path(args.questions), Path(args.out),
                                      **common)
    else:
        summaries = run_ablation(settings_from_args(args), Path(args.questions), Path(args.out), arms=args.arms,
                                 **common)
    for s in summaries:
        print(s.line())
    print(f"score: mmad-eval score {args.out}    report: mmad-eval report {args.out}")
    return 0
