"""Defect Classification: the true defect type against other types (same category, then similar, then any)."""
from __future__ import annotations

from .context import DEFECT_PREFIX, GENERIC_DEFECTS, Context, Skip
from .options import Draft, content_words, display, pick

QUESTION = f"{DEFECT_PREFIX} What is the type of the defect?"


def defect_classification(ctx: Context) -> Draft:
    s = ctx.sample
    if not s.defect_type:
        raise Skip("no defect type in the annotation")
    correct = ctx.defect_name(s.defect_type)
    same = [d for d in ctx.defects_of(s.category) if d != s.defect_type]
    tiers, synonyms = [], {}

    def tier(category: str, defects: list[str]) -> list[str]:
        names = []
        for d in defects:
            name = display(ctx.defect_name(d, category))
            synonyms[name] = ctx.defect_synonyms(d, category)
            names.append(name)
        return names

    tiers.append(tier(s.category, same))
    tiers.append([n for c in ctx.similar() for n in tier(c, ctx.defects_of(c))])
    tiers.append([n for c in ctx.others() for n in tier(c, ctx.defects_of(c))])
    tiers.append([display(g) for g in GENERIC_DEFECTS])
    forbidden = ctx.defect_synonyms(s.defect_type) + ["good", "normal", "no defect"]
    distractors = pick(tiers, 3, ctx.rng("defect_type"), correct=correct, forbidden=forbidden, synonyms=synonyms)
    keywords = [content_words(t) for t in [correct, *ctx.defect_synonyms(s.defect_type)] if content_words(t)]
    return Draft(type="Defect Classification", text=QUESTION, correct=display(correct), distractors=distractors,
                 rule="defect_type.names", fields=["defect_type", "knowledge.defects"], keywords=keywords)
