"""The enhancement ablation matrix: the same model and questions with each training-free help on or off.

Arms: ``none`` (no reference image, no knowledge, no expert), ``+references``, ``+knowledge``,
``+expert`` and ``all``. Every arm is an ordinary run in one shared store (named ``<base>@<arm>``), so
answers common to two arms are asked once and reports can pair the arms question by question.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..errors import ConfigError
from .settings import RunSettings

ARMS = ("none", "+references", "+knowledge", "+expert", "all")


def arm_settings(base: RunSettings, arm: str) -> RunSettings:
    """The base settings with the arm's enhancements switched on and every other one off.

    The base supplies how each help is configured when on (reference image source and shots, knowledge file,
    expert kind and hint style); ``none`` shows no reference image at all (MMAD's 0-shot).
    """
    if arm not in ARMS:
        raise ConfigError(f"unknown ablation arm; arms: {', '.join(ARMS)}", culprit=arm)
    p, e = base.protocol, base.enhancements
    refs = arm in ("+references", "all")
    source = p.references if p.references != "none" else "random"
    protocol = replace(p, references=source if refs else "none", shots=max(p.shots, 1) if refs else 0)
    knowledge = e.knowledge if arm in ("+knowledge", "all") else None
    expert = (e.expert if e.expert != "none" else "builtin") if arm in ("+expert", "all") else "none"
    return replace(base, protocol=protocol, enhancements=replace(e, knowledge=knowledge, expert=expert))


def check_arms(base: RunSettings, arms: list[str]) -> None:
    if any(a in ("+knowledge", "all") for a in arms) and not base.enhancements.knowledge:
        raise ConfigError("the +knowledge and all arms need a knowledge file", culprit="--knowledge")


def run_ablation(base: RunSettings, questions_path: Path, out_dir: Path, *, arms=ARMS, name: str | None = None,
                 run=None, **run_kwargs) -> list:
    """Run every arm (resumable like any run); returns the arms' RunSummary objects in order."""
    from .engine import run_evaluation

    run = run or run_evaluation
    arms = list(arms)
    check_arms(base, arms)
    label = name or base.model
    return [run(arm_settings(base, arm), questions_path, out_dir, name=f"{label}@{arm}", **run_kwargs)
            for arm in arms]


CLEAN = "clean"


def perturbation_arms(base: RunSettings, specs: list[str]) -> list[tuple[str, RunSettings]]:
    """The robustness grid: the clean run, then one run per perturbation list (``"blur=2"``, ``"jpeg=30"``,
    ...), each otherwise the base settings; arm names are the recorded (canonical) lists."""
    arms = [(CLEAN, replace(base, protocol=replace(base.protocol, perturb="")))]
    for spec in specs:
        settings = replace(base, protocol=replace(base.protocol, perturb=spec))
        if settings.protocol.perturb and settings.protocol.perturb not in [a for a, _ in arms]:
            arms.append((settings.protocol.perturb, settings))
    return arms


def run_perturbations(base: RunSettings, specs: list[str], questions_path: Path, out_dir: Path, *,
                      name: str | None = None, run=None, **run_kwargs) -> list:
    """Run the clean arm and every perturbation arm (``<name>@clean``, ``<name>@blur=2``, ...) into one store,
    so the report pairs each perturbed run with the clean one question by question."""
    from .engine import run_evaluation

    run = run or run_evaluation
    label = name or base.model
    return [run(settings, questions_path, out_dir, name=f"{label}@{arm}", **run_kwargs)
            for arm, settings in perturbation_arms(base, specs)]
