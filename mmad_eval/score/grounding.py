"""Scores of Defect Grounding answers (boxes), kept apart from the letter scores and their 7-subtask average.

Per image (one grounding question each):

* the reply's boxes (:mod:`mmad_eval.parse.boxes`) are converted from the asked format to pixels of the
  original query image (pixel replies are in the frame the model was shown, ``truth.shown`` when a resize
  changed it: scaled back per axis) and clipped to the image;
* **mIoU**: predicted and true boxes are matched one to one by the Hungarian method, maximising the total
  IoU; the image's mIoU is the sum of the matched IoUs divided by max(#predicted, #true), so every unmatched
  box (missed or extra) counts 0;
* **accuracy at IoU t** (t = 0.1, 0.3, 0.5): the image counts as right when its mIoU >= t (for one true and
  one predicted box: the box's IoU >= t, MMAD-BBox's reading);
* **pixel IoU**: the union of the predicted boxes against the defect mask, |U and M| / |U or M| (None where
  the mask file cannot be read: that image is left out of this one mean, and the count is noted).

A failed request or an unreadable reply scores 0 on every measure (never dropped). Means are over images;
95 % CIs are percentile bootstraps over images (seeded).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..answers import AnswerRecord
from ..errors import MmadError
from ..paths import resolve_mask
from ..questions.grounding import GroundingTruth, to_original
from ..sources.imagecheck import read_mask

THRESHOLDS = (0.1, 0.3, 0.5)
Box = tuple[float, float, float, float]


def box_iou(a: Box, b: Box) -> float:
    """IoU of two boxes ``(x1, y1, x2, y2)`` (continuous edges); 1 for identical boxes, 0 when disjoint."""
    if tuple(a) == tuple(b):
        return 1.0
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(0.0, iw) * max(0.0, ih)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def match_boxes(pred: Sequence[Box], true: Sequence[Box]) -> list[tuple[int, int, float]]:
    """Hungarian one-to-one matching maximising total IoU: (pred index, true index, IoU) per pair."""
    if not pred or not true:
        return []
    ious = np.array([[box_iou(p, t) for t in true] for p in pred])
    rows, cols = linear_sum_assignment(-ious)
    return [(int(r), int(c), float(ious[r, c])) for r, c in zip(rows, cols)]


def image_miou(pred: Sequence[Box], true: Sequence[Box]) -> float:
    """Matched IoUs summed over max(#pred, #true): unmatched boxes count 0; 1.0 when both are empty."""
    if not pred and not true:
        return 1.0
    return sum(iou for _, _, iou in match_boxes(pred, true)) / max(len(pred), len(true))


def clip(box: Box, size: tuple[int, int]) -> Box:
    w, h = size
    return (min(max(box[0], 0.0), w), min(max(box[1], 0.0), h), min(max(box[2], 0.0), w), min(max(box[3], 0.0), h))


def box_union_raster(boxes: Sequence[Box], size: tuple[int, int]) -> np.ndarray:
    """H x W booleans: pixels whose centre lies in one of the boxes."""
    w, h = size
    out = np.zeros((h, w), bool)
    for x1, y1, x2, y2 in boxes:
        out[int(np.ceil(y1 - 0.5)):int(np.ceil(y2 - 0.5)), int(np.ceil(x1 - 0.5)):int(np.ceil(x2 - 0.5))] = True
    return out


def pixel_iou(boxes: Sequence[Box], mask: np.ndarray) -> float:
    union_boxes = box_union_raster(boxes, (mask.shape[1], mask.shape[0]))
    union = np.logical_or(union_boxes, mask).sum()
    return float(np.logical_and(union_boxes, mask).sum() / union) if union else 1.0


@dataclass
class GroundedImage:
    """One grounding answer, scored (boxes in pixels)."""

    qid: str
    image: str
    truth: GroundingTruth
    pred: list[Box] | None          # None: failed request or unreadable reply
    miou: float
    pixel_iou: float | None
    status: str                     # "ok", "unparsed" or "error"


@dataclass
class GroundingScores:
    images: list[GroundedImage]
    summary: dict = field(default_factory=dict)   # measure -> value (0-100)
    ci: dict = field(default_factory=dict)        # measure -> (low, high)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"summary": self.summary, "ci": {k: list(v) for k, v in self.ci.items()}, "notes": self.notes,
                "images": len(self.images)}


class _Masks:
    """The true masks, read once from the data root (None where unreadable)."""

    def __init__(self, root: Path | None):
        self.root, self.cache, self.missing = root, {}, 0

    def get(self, image: str, mask_path: str, size: tuple[int, int]) -> np.ndarray | None:
        if (image, mask_path) not in self.cache:
            mask = None
            if self.root is not None and mask_path:
                try:
                    mask_file = resolve_mask(self.root, type("E", (), {"key": image, "mask_path": mask_path}))
                    mask = read_mask(mask_file) if mask_file is not None else None
                except MmadError:
                    mask = None
            if mask is not None and mask.shape != (size[1], size[0]):
                mask = None
            self.missing += mask is None
            self.cache[(image, mask_path)] = mask
        return self.cache[(image, mask_path)]


def score_image(rec: AnswerRecord, masks: _Masks) -> GroundedImage:
    truth = GroundingTruth.from_json(rec.answer, rec.qid)
    status = "error" if rec.error is not None else ("ok" if rec.parsed is not None else "unparsed")
    if status != "ok":
        return GroundedImage(rec.qid, rec.image, truth, None, 0.0, 0.0, status)
    pred = [clip(to_original(b, truth), truth.size) for b in json.loads(rec.parsed)]
    mask = masks.get(rec.image, truth.mask, truth.size)
    pix = pixel_iou(pred, mask) if mask is not None else None
    return GroundedImage(rec.qid, rec.image, truth, pred, image_miou(pred, list(truth.boxes)), pix, status)


def _measures(images: list[GroundedImage]) -> dict[str, np.ndarray]:
    miou = np.array([g.miou for g in images])
    out = {"mIoU": miou}
    for t in THRESHOLDS:
        out[f"Acc@{t}"] = (miou >= t).astype(float)
    out["pixel IoU"] = np.array([np.nan if g.pixel_iou is None else g.pixel_iou for g in images])
    return out


def score_grounding(answers: Sequence[AnswerRecord], data_root: Path | None = None, n_boot: int = 1000,
                    seed: int = 0) -> GroundingScores:
    """Every grounding answer scored, their means (in %) and bootstrap CIs over images."""
    masks = _Masks(Path(data_root) if data_root else None)
    images = [score_image(r, masks) for r in answers if r.rotation == 0]
    scores = GroundingScores(images)
    if not images:
        return scores
    measures = _measures(images)
    scores.summary = {k: (float(np.nanmean(v)) * 100 if not np.all(np.isnan(v)) else None)
                      for k, v in measures.items()}
    scores.summary["images"] = len(images)
    scores.summary["parse failures"] = 100.0 * sum(g.status == "unparsed" for g in images) / len(images)
    scores.summary["errors"] = 100.0 * sum(g.status == "error" for g in images) / len(images)
    if n_boot > 0:
        idx = np.random.default_rng(seed).integers(0, len(images), size=(n_boot, len(images)))
        for k, v in measures.items():
            if np.all(np.isnan(v)):
                continue
            means = np.nanmean(v[idx], axis=1) * 100
            means = means[~np.isnan(means)]
            scores.ci[k] = (float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5)))
    n_missing = sum(g.pixel_iou is None and g.status == "ok" for g in images)
    if n_missing:
        scores.notes.append(f"pixel IoU left out for {n_missing} image(s) whose mask could not be read")
    return scores


def format_grounding(scores: GroundingScores) -> str:
    """The grounding table as `mmad-eval score` prints it."""
    s = scores.summary
    cols = ["mIoU", *[f"Acc@{t}" for t in THRESHOLDS], "pixel IoU"]
    head = "Defect Grounding (boxes; scored apart, not in the 7-subtask average)"
    lines = [head, " " * 8 + "".join(f"{c:>16}" for c in cols)]
    lines.append(f"{'score':<8}" + "".join(f"{'-' if s.get(c) is None else format(s[c], '.2f'):>16}" for c in cols))
    if scores.ci:
        lines.append(f"{'95% CI':<8}" + "".join(
            f"{'[%.1f, %.1f]' % scores.ci[c] if c in scores.ci else '-':>16}" for c in cols))
    lines.append(f"  {s['images']} images; parse failures {s['parse failures']:.2f}%, errors {s['errors']:.2f}% "
                 "(both score 0)")
    lines += [f"  note: {n}" for n in scores.notes]
    return "\n".join(lines)
