"""Calibration of a run's answers: the confidence of each answered question against its correctness.

Confidence is the probability of the chosen letter from the stored option-letter distribution (likelihood
mode or ``--logprobs``), else the reply's verbalised confidence (prompt ``mmad_confidence``). Questions
without either are left out and counted. Reported: ECE over 10 equal-width bins, the reliability diagram's
points, and accuracy vs coverage when the least confident answers are withheld.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from ..parse.confidence import verbal_confidence
from ..parse.likelihood import letter_distribution
from ..answers import AnswerRecord
from .detection import Reliability, coverage_curve, reliability


def answer_confidence(r: AnswerRecord) -> tuple[float | None, str | None]:
    """(confidence in the parsed answer, source) of one record; (None, None) when it has none."""
    if r.error is not None or r.parsed is None:
        return None, None
    dist = letter_distribution((r.meta or {}).get("letter_logprobs"), r.options)
    if dist and r.parsed in dist:
        return dist[r.parsed], "letter probability"
    conf = verbal_confidence(r.reply)
    if conf is not None:
        return conf, "verbalised confidence"
    return None, None


@dataclass
class Calibration:
    source: str
    n: int                              # answers with a confidence
    left_out: int                       # answers without one (or unanswered)
    accuracy: float
    mean_confidence: float
    ece: float | None
    reliability: Reliability
    coverage: list[tuple[float, float]] = field(default_factory=list)


def calibration(records: Sequence[AnswerRecord], n_bins: int = 10) -> Calibration | None:
    """Calibration of the rotation-0 answers; None when no answer carries a confidence."""
    confs, ok, sources = [], [], {}
    recs = [r for r in records if r.rotation == 0]
    for r in recs:
        c, src = answer_confidence(r)
        if c is None:
            continue
        confs.append(c)
        ok.append(r.parsed == r.answer)
        sources[src] = sources.get(src, 0) + 1
    if not confs:
        return None
    rel = reliability(confs, ok, n_bins)
    return Calibration(source=max(sources, key=sources.get), n=len(confs), left_out=len(recs) - len(confs),
                       accuracy=100 * sum(ok) / len(ok), mean_confidence=100 * sum(confs) / len(confs),
                       ece=rel.ece, reliability=rel, coverage=coverage_curve(confs, ok))


def format_calibration(cal: Calibration) -> str:
    cov = ", ".join(f"{100 * c:.0f}%: {100 * a:.1f}" for c, a in cal.coverage[::3])
    return (f"  Calibration ({cal.source}; {cal.n} answers, {cal.left_out} without a confidence): "
            f"ECE {100 * cal.ece:.1f}, accuracy {cal.accuracy:.1f} vs mean confidence {cal.mean_confidence:.1f}\n"
            f"    accuracy when keeping the most confident (coverage: accuracy): {cov}")
