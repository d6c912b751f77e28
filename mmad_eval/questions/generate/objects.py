"""Object questions about normal images: product name, structure (parts, count, shape), details (material,
colour). A question is asked only when the category's knowledge has the field, and every distractor is
contradicted by that knowledge (contradict.py): another product's name that is not a name of this one,
a colour/material/shape incompatible with the stated ones, a specific part the product's part list and
texts leave out. A question with fewer than two such distractors is left out (and counted)."""
from __future__ import annotations

from .context import COLORS, GENERIC_PRODUCTS, MATERIALS, PARTS, SHAPES, Context, Skip
from .contradict import contradicted, part_contradicted, same_product
from .options import Draft, content_words, display, pick, pick_length_balanced

OC_QUESTION = "What kind of product is in the image?"
MIN_DISTRACTORS = 2


def object_classification(ctx: Context) -> Draft:
    correct = ctx.product_name()
    tiers = ctx.cached(("oc_tiers", ctx.sample.category), lambda: [
        [display(ctx.product_name(c)) for c in ctx.similar()],
        [display(ctx.product_name(c)) for c in ctx.others()],
        [display(p) for p in GENERIC_PRODUCTS]])
    forbidden = [ctx.sample.category.replace("_", " ")]
    own = [correct, *forbidden]
    tiers = [[t for t in tier if not any(same_product(t, o) for o in own)] for tier in tiers]
    distractors = pick(tiers, 3, ctx.rng("object.class"), correct=correct, forbidden=forbidden)
    return Draft(type="Object Classification", text=OC_QUESTION, correct=display(correct),
                 distractors=distractors, rule="object.classification", fields=["category", "knowledge.name"],
                 keywords=[content_words(correct)])


def _values(ctx: Context, categories: list[str], attr: str) -> list[str]:
    out = []
    for c in categories:
        ck = ctx.ck(c)
        v = getattr(ck, attr, None) if ck else None
        out.extend([v] if isinstance(v, str) and v else (v or []) if isinstance(v, list) else [])
    return out


def _attribute(ctx: Context, attr: str, question: str, qtype: str, vocab: tuple[str, ...]) -> Draft:
    ck = ctx.ck()
    own = getattr(ck, attr, None) if ck else None
    own = [own] if isinstance(own, str) and own else list(own or [])
    if not own:
        raise Skip(f"knowledge has no {attr}")
    rng = ctx.rng(f"object.{attr}")
    correct = own[0] if attr in ("materials", "colors") else rng.choice(own)  # the main material/colour
    tiers = ctx.cached(("attr_tiers", ctx.sample.category, attr), lambda: [
        [display(v) for v in t] for t in (_values(ctx, ctx.similar(), attr), _values(ctx, ctx.others(), attr),
                                          vocab)])
    def usable():
        """The candidates the category's knowledge contradicts (per category and attribute)."""
        if attr == "parts":
            texts = ctx.knowledge_texts()
            return [[t for t in tier if part_contradicted(own, texts, t)] for tier in tiers]
        return [[t for t in tier if contradicted(attr, own, t, ck.kind)] for tier in tiers]

    tiers = ctx.cached(("attr_usable", ctx.sample.category, attr), usable)
    distractors = pick_length_balanced(tiers, 3, rng, correct=correct, forbidden=own)
    if len(distractors) < MIN_DISTRACTORS:
        raise Skip(f"fewer than {MIN_DISTRACTORS} {attr} distractors contradicted by the knowledge")
    text = question.format(name=ctx.product_name())
    if set(content_words(correct)) <= set(content_words(text)):   # "What material is the leather made of?"
        raise Skip(f"the question names its {attr} answer")
    return Draft(type=qtype, text=text, correct=display(correct), distractors=distractors,
                 rule=f"object.{attr}", fields=[f"knowledge.{attr}"], keywords=[content_words(correct)])


def object_parts(ctx: Context) -> Draft:
    return _attribute(ctx, "parts", "Which of the following is a visible part of the {name}?",
                      "Object Structure", PARTS)


def object_shape(ctx: Context) -> Draft:
    return _attribute(ctx, "shape", "What is the overall shape of the {name}?", "Object Structure", SHAPES)


def object_count(ctx: Context) -> Draft:
    ck = ctx.ck()
    count = ck.count if ck else None
    if not count or not isinstance(count.get("value"), int) or not count.get("what"):
        raise Skip("knowledge has no count")
    value, what = count["value"], count["what"]
    rng = ctx.rng("object.count")
    start = max(0, value - rng.randrange(4))       # a window of 4 consecutive numbers holding the answer,
    distractors = [str(v) for v in range(start, start + 4) if v != value]  # placed at random in it
    return Draft(type="Object Structure", text=f"How many {what} does the {ctx.product_name()} have?",
                 correct=str(value), distractors=distractors, rule="object.count", fields=["knowledge.count"],
                 keywords=[[str(value)]])


def object_material(ctx: Context) -> Draft:
    return _attribute(ctx, "materials", "What material is the {name} mainly made of?", "Object Details",
                      MATERIALS)


def object_color(ctx: Context) -> Draft:
    return _attribute(ctx, "colors", "What is the main colour of the {name}?", "Object Details", COLORS)
