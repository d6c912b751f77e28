"""Defect Classification: the true defect type against other types (same category, then similar, then any).

The category's own other types are told apart by its own knowledge. A type of another category is offered
only when the knowledge gives both causes and they share no mechanism (contradict.py: a capsule's "crack",
caused by impact, is no distractor for a bottle's "large break", also caused by impact); the generic
fallback names have no cause and are used only when the true type has none either (MMAD's knowledge file).
No distractor names another product ("Wrong pill type" is never offered about a capsule)."""
from __future__ import annotations

from .context import DEFECT_PREFIX, GENERIC_DEFECTS, Context, Skip
from .contradict import contradicted, names_product
from .options import Draft, content_words, display, pick

QUESTION = f"{DEFECT_PREFIX} What is the type of the defect?"


def _tiers(ctx: Context):
    """Per category: its own (name, type) pairs, similar categories' names, other names, synonyms."""
    synonyms: dict[str, list[str]] = {}

    def names(category: str) -> list[tuple[str, str, str]]:
        out = []
        ck = ctx.ck(category)
        for d in ctx.defects_of(category):
            name = display(ctx.defect_name(d, category))
            synonyms.setdefault(name, []).extend(ctx.defect_synonyms(d, category))
            out.append((name, d, (ck.defects[d].cause or "").strip() if ck else ""))
        return out

    own = names(ctx.sample.category)
    similar = [(n, cause) for c in ctx.similar() for n, _, cause in names(c)]
    others = [(n, cause) for c in ctx.others() for n, _, cause in names(c)]
    return own, similar, others, synonyms


def defect_classification(ctx: Context) -> Draft:
    s = ctx.sample
    if not s.defect_type:
        raise Skip("no defect type in the annotation")
    correct = ctx.defect_name(s.defect_type)
    own, similar, others, synonyms = ctx.cached(("dc_tiers", s.category), lambda: _tiers(ctx))
    true_cause = next((cause for _, d, cause in own if d == s.defect_type), "")
    if true_cause:
        def compute():
            causes: dict[str, list[str]] = {}
            for n, cause in [*similar, *others]:
                causes.setdefault(n, []).append(cause)
            # a name may recur across categories: every one of its causes must be contradicted
            return {n for n, cs in causes.items() if all(contradicted("cause", [true_cause], c) for c in cs)}

        every = ctx.cached(("dc_apart", s.category, s.defect_type), compute)

        def apart(pairs):
            return [n for n, _ in pairs if n in every]

        tiers = [[n for n, d, _ in own if d != s.defect_type], apart(similar), apart(others)]
    else:
        tiers = [[n for n, d, _ in own if d != s.defect_type], [n for n, _ in similar], [n for n, _ in others],
                 [display(g) for g in GENERIC_DEFECTS]]
    forbidden = ctx.defect_synonyms(s.defect_type) + ["good", "normal", "no defect"]
    products = ctx.other_products()
    tiers = [[t for t in tier if not names_product(t, products)] for tier in tiers]
    distractors = pick(tiers, 3, ctx.rng("defect_type"), correct=correct, forbidden=forbidden, synonyms=synonyms)
    keywords = [content_words(t) for t in [correct, *ctx.defect_synonyms(s.defect_type)] if content_words(t)]
    return Draft(type="Defect Classification", text=QUESTION, correct=display(correct), distractors=distractors,
                 rule="defect_type.names", fields=["defect_type", "knowledge.defects"], keywords=keywords)
