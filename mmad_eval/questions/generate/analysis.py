"""Defect Analysis: the cause or the effect of the defect type, from category knowledge.

Which of the two is asked is drawn per image from the seed when knowledge has both. Distractors are the
same field of other defect types: same category first, then similar categories, then any other; each must
be contradicted by the true text (no mechanism in common, contradict.py: "hit or dropped" and "a knock
against a hard object" are both impacts, so one is never the other's distractor) and must not name another
product ("The pill looks spoiled." is never offered about a bottle). With fewer than two such distractors
the question is left out and counted.
"""
from __future__ import annotations

from .context import DEFECT_PREFIX, Context, Skip
from .contradict import contradicted, names_product
from .options import Draft, display, pick

MIN_DISTRACTORS = 2
QUESTIONS = {"cause": f"{DEFECT_PREFIX} What is the most likely cause of the defect?",
             "effect": f"{DEFECT_PREFIX} What is the most likely effect of the defect?"}


def _field(ctx: Context, category: str, defect: str, name: str) -> str:
    ck = ctx.ck(category)
    dk = ck.defects.get(defect) if ck else None
    return (getattr(dk, name) or "").strip() if dk else ""


def defect_analysis(ctx: Context) -> Draft:
    s = ctx.sample
    if not s.defect_type:
        raise Skip("no defect type in the annotation")
    rng = ctx.rng("analysis")
    fields = [f for f in ("cause", "effect") if _field(ctx, s.category, s.defect_type, f)]
    if not fields:
        raise Skip(f"knowledge has no cause or effect for defect '{s.defect_type}'")
    which = fields[0] if len(fields) == 1 else rng.choice(fields)
    correct = display(_field(ctx, s.category, s.defect_type, which), period=True)

    def tier(categories: list[str], exclude_own: bool) -> list[str]:
        out = []
        for c in categories:
            for d in ctx.defects_of(c):
                if exclude_own and d == s.defect_type:
                    continue
                text = _field(ctx, c, d, which)
                if text:
                    out.append(display(text, period=True))
        return out

    def usable():
        """Candidates the true text contradicts and that name no other product (per defect type)."""
        candidates = [tier([s.category], True), *ctx.cached(("da_tiers", s.category, which), lambda: [
            tier(ctx.similar(), False), tier(ctx.others(), False)])]
        products = ctx.other_products()
        return [[t for t in ts if contradicted(which, [correct], t) and not names_product(t, products)]
                for ts in candidates]

    tiers = ctx.cached(("da_usable", s.category, s.defect_type, which), usable)
    distractors = pick(tiers, 3, rng, correct=correct)
    if len(distractors) < MIN_DISTRACTORS:
        raise Skip(f"fewer than {MIN_DISTRACTORS} {which} distractors contradicted by the true {which}")
    return Draft(type="Defect Analysis", text=QUESTIONS[which], correct=correct, distractors=distractors,
                 rule=f"analysis.{which}", fields=["defect_type", f"knowledge.defects.{which}"],
                 details={"asked": which})
