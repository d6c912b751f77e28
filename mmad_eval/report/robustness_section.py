"""The report's robustness section: each run whose settings differ from a clean run's only in its image
perturbations (``--perturb``), with the strict score per subtask and its paired change against the clean run
(bootstrap 95% CI, McNemar), ordered by perturbation kind and severity."""
from __future__ import annotations

from dataclasses import dataclass

from ..run.loaded import LoadedRun
from ..score.compare import Comparison, compare_runs
from ..score.scorers import STRICT
from ..settings import parse_perturbations

_PERTURB_KEYS = ("perturb", "perturb_seed", "perturb_references")


@dataclass
class RobustnessRow:
    run: str
    clean: str
    perturb: str
    comparison: Comparison            # perturbed - clean, strict, paired on the shared questions


def _protocol(record: dict) -> dict:
    return (record.get("settings") or {}).get("protocol") or {}


def _without_perturb(record: dict) -> dict:
    settings = dict(record.get("settings") or {})
    settings["protocol"] = {k: v for k, v in _protocol(record).items() if k not in _PERTURB_KEYS}
    return settings


def _severity(spec: str) -> tuple:
    return tuple((kind, value) for kind, value in parse_perturbations(spec))


def robustness_rows(runs: list[LoadedRun], n_boot: int = 1000) -> list[RobustnessRow]:
    clean = [r for r in runs if not _protocol(r.record).get("perturb")]
    rows = []
    for run in runs:
        spec = _protocol(run.record).get("perturb")
        if not spec:
            continue
        base = next((c for c in clean if _without_perturb(c.record) == _without_perturb(run.record)), None)
        if base is not None:
            rows.append(RobustnessRow(run.name, base.name, spec, compare_runs(base.answers, run.answers, STRICT,
                                                                              n_boot=n_boot)))
    return sorted(rows, key=lambda r: (r.clean, _severity(r.perturb)))
