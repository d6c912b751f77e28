"""The report's Defect Grounding parts: a score table per run (with CIs) and, for the question browser, each
answer's boxes in pixels beside the true ones (drawn over the query image by browser.js; only numbers go into
the drawing, the reply itself is shown as text)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..questions.grounding import GROUNDING
from ..run.loaded import LoadedRun
from ..score.grounding import THRESHOLDS, GroundedImage, score_grounding

COLUMNS = ("mIoU", *(f"Acc@{t}" for t in THRESHOLDS), "pixel IoU")


@dataclass
class GroundingRow:
    name: str
    summary: dict            # measure -> % (and images, parse failures, errors)
    ci: dict                 # measure -> (low, high)
    notes: list[str]


@dataclass
class GroundingReport:
    rows: list[GroundingRow]
    images: dict[str, dict[str, GroundedImage]]     # run name -> qid -> scored answer


def grounding_report(runs: list[LoadedRun], n_boot: int = 1000, seed: int = 0) -> GroundingReport | None:
    """Scores of the runs that answered grounding questions; None when none did."""
    rows, images = [], {}
    for run in runs:
        if not run.grounding:
            continue
        root = run.record.get("data_root")
        scores = score_grounding(run.grounding, Path(root) if root else None, n_boot=n_boot, seed=seed)
        rows.append(GroundingRow(run.name, scores.summary, scores.ci, scores.notes))
        images[run.name] = {g.qid: g for g in scores.images}
    return GroundingReport(rows, images) if rows else None


def _r(box) -> list[float]:
    return [round(float(v), 1) for v in box]


def browser_extra(image: GroundedImage | None) -> list | None:
    """A browser record's grounding payload: [predicted pixel boxes or None, mIoU]."""
    if image is None:
        return None
    return [None if image.pred is None else [_r(b) for b in image.pred], round(image.miou, 4)]


def truth_payload(image: GroundedImage) -> dict:
    """The question's drawing frame and true boxes."""
    return {"size": list(image.truth.size), "truth": [_r(b) for b in image.truth.boxes],
            "format": image.truth.format}


def answer_text(image: GroundedImage) -> str:
    """The browser's "correct answer": the true boxes in pixels (the asked format named)."""
    boxes = ", ".join("[" + ", ".join(f"{v:g}" for v in b) + "]" for b in image.truth.boxes)
    return f"{GROUNDING} (asked in {image.truth.format}); true boxes in pixels: {boxes}"
