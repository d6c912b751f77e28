"""Defect Classification: the true defect type against other types (same category, then similar, then any)."""
from __future__ import annotations

from .context import DEFECT_PREFIX, GENERIC_DEFECTS, Context, Skip
from .contradict import names_product
from .options import Draft, content_words, display, pick

QUESTION = f"{DEFECT_PREFIX} What is the type of the defect?"


def _tiers(ctx: Context):
    """Per category: its own (name, type) pairs, similar categories' names, other names, synonyms."""
    synonyms: dict[str, list[str]] = {}

    def names(category: str) -> list[tuple[str, str]]:
        out = []
        for d in ctx.defects_of(category):
            name = display(ctx.defect_name(d, category))
            synonyms.setdefault(name, []).extend(ctx.defect_synonyms(d, category))
            out.append((name, d))
        return out

    own = names(ctx.sample.category)
    similar = [n for c in ctx.similar() for n, _ in names(c)]
    others = [n for c in ctx.others() for n, _ in names(c)]
    return own, similar, others, synonyms


def defect_classification(ctx: Context) -> Draft:
    s = ctx.sample
    if not s.defect_type:
        raise Skip("no defect type in the annotation")
    correct = ctx.defect_name(s.defect_type)
    own, similar, others, synonyms = ctx.cached(("dc_tiers", s.category), lambda: _tiers(ctx))
    tiers = [[n for n, d in own if d != s.defect_type], similar, others, [display(g) for g in GENERIC_DEFECTS]]
    forbidden = ctx.defect_synonyms(s.defect_type) + ["good", "normal", "no defect"]
    products = ctx.other_products()
    tiers = [[t for t in tier if not names_product(t, products)] for tier in tiers]
    distractors = pick(tiers, 3, ctx.rng("defect_type"), correct=correct, forbidden=forbidden, synonyms=synonyms)
    keywords = [content_words(t) for t in [correct, *ctx.defect_synonyms(s.defect_type)] if content_words(t)]
    return Draft(type="Defect Classification", text=QUESTION, correct=display(correct), distractors=distractors,
                 rule="defect_type.names", fields=["defect_type", "knowledge.defects"], keywords=keywords)
