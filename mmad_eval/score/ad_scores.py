"""Anomaly Detection as a detector: one P(defective) per query image, from whatever the run holds.

Sources, in order (the run's source is the one most of its images used, and is reported):

``detector score``        a detector's image score (the built-in expert, ``detector:DIR``), divided by its
                          threshold so categories share one scale (1 = the threshold);
``letter probability``    P(Yes) / (P(Yes) + P(No)) from the stored option-letter probabilities
                          (``--answer-mode likelihood`` or ``--logprobs``);
``verbalised confidence`` the reply's "Confidence: NN%" (prompt ``mmad_confidence``): c for a Yes, 1 - c for
                          a No;
``hard answer``           1 for Yes, 0 for No: a one-point ROC, whose AUROC is the balanced accuracy.

An unanswered image (failed, unparsed, abstained) scores 0.5 and is counted as ``unscored``. The label is
the correct option: an image is defective when the correct answer is the option reading "Yes".
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Sequence

from ..parse.confidence import verbal_confidence
from ..parse.likelihood import letter_distribution
from ..answers import AnswerRecord
from .detection import DetectionScores, detection_scores, roc_curve
from .mmad import corrected_dataset

SOURCES = ("detector score", "letter probability", "verbalised confidence", "hard answer")


@dataclass
class ImageScore:
    image: str
    dataset: str
    category: str
    defective: bool
    score: float
    source: str          # one of SOURCES, or "none" (unanswered: 0.5)


def _yes_no(options: dict) -> tuple[str | None, str | None]:
    def find(word):
        return next((k for k, v in options.items() if re.match(rf"\s*{word}\b", str(v), re.I)), None)
    return find("yes"), find("no")


def image_score(r: AnswerRecord) -> ImageScore | None:
    """The P(defective) of one Anomaly Detection record (None when its options are not Yes/No)."""
    yes, no = _yes_no(r.options)
    if yes is None or no is None:
        return None
    base = dict(image=r.image, dataset=corrected_dataset(r), category=r.category, defective=r.answer == yes)
    meta = r.meta or {}
    if r.error is None and meta.get("score") is not None:
        thr = float(meta.get("threshold") or 0)
        s = float(meta["score"])
        return ImageScore(score=s / thr if thr > 0 else s, source="detector score", **base)
    dist = letter_distribution(meta.get("letter_logprobs"), {yes: "", no: ""}) if r.error is None else {}
    if dist:
        return ImageScore(score=dist[yes], source="letter probability", **base)
    if r.error is None and r.parsed in (yes, no):
        conf = verbal_confidence(r.reply)
        if conf is not None:
            return ImageScore(score=conf if r.parsed == yes else 1 - conf, source="verbalised confidence", **base)
        return ImageScore(score=1.0 if r.parsed == yes else 0.0, source="hard answer", **base)
    return ImageScore(score=0.5, source="none", **base)


@dataclass
class DetectionReport:
    """AUROC/AUPR/F1-max of one run overall, per dataset and per dataset/category, with the ROC curve."""

    source: str
    sources: dict[str, int]
    unscored: int
    overall: DetectionScores | None
    datasets: dict[str, DetectionScores] = field(default_factory=dict)
    categories: dict[str, DetectionScores] = field(default_factory=dict)
    roc: dict[str, list[float]] = field(default_factory=dict)     # overall curve: fpr, tpr


def _group(items: Sequence[ImageScore], n_boot: int, seed: int) -> DetectionScores | None:
    labels = [x.defective for x in items]
    if not (any(labels) and not all(labels)):
        return None
    return detection_scores(labels, [x.score for x in items], n_boot=n_boot, seed=seed)


def detection_report(records: Sequence[AnswerRecord], n_boot: int = 1000, seed: int = 0,
                     category_ci: bool = False) -> DetectionReport | None:
    """Image-level detection metrics of a run's Anomaly Detection answers (rotation 0); None without any.
    Per-category CIs only with ``category_ci`` (resampling every category costs seconds on MMAD)."""
    scores = [s for r in records if r.rotation == 0 and r.type == "Anomaly Detection"
              for s in [image_score(r)] if s is not None]
    if not scores:
        return None
    counts = Counter(s.source for s in scores)
    answered = Counter({k: v for k, v in counts.items() if k != "none"})
    source = answered.most_common(1)[0][0] if answered else "none"
    rep = DetectionReport(source=source, sources=dict(counts), unscored=counts.get("none", 0),
                          overall=_group(scores, n_boot, seed))
    by_ds: dict[str, list[ImageScore]] = {}
    by_cat: dict[str, list[ImageScore]] = {}
    for s in scores:
        by_ds.setdefault(s.dataset, []).append(s)
        by_cat.setdefault(f"{s.dataset}/{s.category}", []).append(s)
    rep.datasets = {k: v for k, g in sorted(by_ds.items()) if (v := _group(g, n_boot, seed)) is not None}
    rep.categories = {k: v for k, g in sorted(by_cat.items())
                      if (v := _group(g, n_boot if category_ci else 0, seed)) is not None}
    if rep.overall is not None:
        fpr, tpr, _ = roc_curve([s.defective for s in scores], [s.score for s in scores])
        rep.roc = {"fpr": [round(float(x), 5) for x in fpr], "tpr": [round(float(x), 5) for x in tpr]}
    return rep


def _cell(d: DetectionScores, metric: str) -> str:
    v = getattr(d, metric)
    if v is None:
        return "-"
    ci = d.ci.get(metric)
    return f"{100 * v:.1f}" + (f" [{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]" if ci else "")


def format_detection(rep: DetectionReport, by_category: bool = False) -> str:
    """Text lines: source, then AUROC / AUPR / F1-max (%) with 95% CIs overall and per dataset."""
    lines = [f"  Anomaly Detection as a detector (P(defective) from {rep.source}"
             + (f"; {rep.unscored} unanswered images scored 0.5" if rep.unscored else "") + "):"]
    if rep.source == "hard answer":
        lines.append("    (hard Yes/No answers only: a one-point ROC; AUROC = balanced accuracy. Use "
                     "--answer-mode likelihood, --logprobs or --prompt mmad_confidence for a ranking)")
    rows = ([("all", rep.overall)] if rep.overall else []) + list(rep.datasets.items())
    if by_category:
        rows += list(rep.categories.items())
    width = max(len(n) for n, _ in rows) if rows else 3
    for name, d in rows:
        lines.append(f"    {name:<{width}}  AUROC {_cell(d, 'auroc')}  AUPR {_cell(d, 'aupr')}  "
                     f"F1-max {_cell(d, 'f1_max')}  ({d.n_defective} defective, {d.n_normal} normal)")
    if not rows:
        lines.append("    needs both normal and defective images")
    return "\n".join(lines)
