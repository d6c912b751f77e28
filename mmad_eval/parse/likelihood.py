"""Answers from option-letter probabilities (``--answer-mode likelihood``) instead of parsed text.

A backend stores, per single-question request, the log-probabilities of the shown option letters at the
answer position (``letter_logprobs``) and which shown letters were outside the top-k it returned
(``outside_topk``). The answer is the most probable shown letter; ties go to the first shown. Letters
outside the top-k get probability 0 in the renormalised distribution (their true probability is below the
smallest returned alternative); the record keeps saying which they were.
"""
from __future__ import annotations

import math

LIKELIHOOD = "likelihood"
NO_LETTER = "no_letter_in_topk"


def letter_distribution(letter_logprobs: dict[str, float] | None, options) -> dict[str, float]:
    """Shown letter -> probability, renormalised over the shown letters ({} when none has a log-prob)."""
    shown = list(options or {})
    lps = {k: v for k, v in (letter_logprobs or {}).items()
           if k in shown and v is not None and math.isfinite(v)}
    if not lps:
        return {}
    m = max(lps.values())
    w = {k: math.exp(lps[k] - m) if k in lps else 0.0 for k in shown}
    total = sum(w.values())
    return {k: v / total for k, v in w.items()}


def choose_letter(letter_logprobs: dict[str, float] | None, options) -> tuple[str | None, str]:
    """(most probable shown letter, rule); ``(None, "no_letter_in_topk")`` when no shown letter was returned."""
    dist = letter_distribution(letter_logprobs, options)
    if not dist:
        return None, NO_LETTER
    best = max(dist.values())
    return next(k for k, v in dist.items() if v == best), LIKELIHOOD
