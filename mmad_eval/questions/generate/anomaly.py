"""Anomaly Detection: the yes/no question asked about every image, in MMAD's wording and option order.

MMAD always lists ``A. Yes.`` then ``B. No.``; we keep that order by default (``yes_no="fixed"``) so the
published protocol and its balanced-accuracy score carry over. ``yes_no="shuffled"`` draws the order per
image from the seed, which separates a model's "A" bias from its "Yes" bias.
"""
from __future__ import annotations

from .context import Context
from .options import Draft, rng_for

QUESTION = "Is there any defect in the object?"
YES, NO = "Yes.", "No."


def anomaly_detection(ctx: Context, yes_no: str = "fixed") -> Draft:
    correct = YES if ctx.sample.is_anomalous else NO
    order = [YES, NO]
    if yes_no == "shuffled" and rng_for(ctx.seed, ctx.key, "anomaly#order").random() < 0.5:
        order = [NO, YES]
    return Draft(type="Anomaly Detection", text=QUESTION, correct=correct,
                 distractors=[o for o in order if o != correct], rule="anomaly.yes_no", fields=["is_anomalous"],
                 keywords=[[correct.rstrip(".").lower()]], details={"order": yes_no}, fixed_order=order)
