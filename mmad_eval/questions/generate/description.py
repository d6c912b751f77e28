"""Defect Description: size, shape and tone of the defect measured from its mask and pixels.

- size: defect area / image area: tiny (< 0.2 %), small (< 1 %), medium (< 4 %), large;
- shape: scattered when the mask has >= 3 significant blobs; else, for the largest blob, elongated when its
  second moments have an axis ratio >= 3, round when it fills >= 75 % of its moment-equivalent ellipse,
  irregular otherwise;
- tone: mean luminance change >= 12 (of 255) makes it darker/brighter; else a chroma change >= 10 makes it
  a different colour; else the same tone. Measured against the mean of the category's normal images at the
  mask pixels, or, without normal images, against a ring around the mask.
Each question varies one attribute (drawn per image from the seed): the options hold the true values of
the other two and the four values of the varied one, so every distractor changes exactly one attribute
and no option is the "consensus" of the others (a blind pick of the most typical option stays at chance).
Which attribute is varied is drawn from the seed per image, then re-chosen over the whole set by
balance.py so that no value is the answer more often than the others among the questions varying it.
"""
from __future__ import annotations

from .context import DEFECT_PREFIX, Context, Skip
from .masks import MaskStats, Tone
from .options import Draft, display

QUESTION = f"{DEFECT_PREFIX} What does the defect look like?"
SIZES = ("tiny", "small", "medium-sized", "large")
SHAPES = ("elongated", "round", "irregular", "scattered")
TONES = {"darker": "darker than the normal surface", "brighter": "brighter than the normal surface",
         "colour": "of a different colour than the normal surface", "same": "of the same tone as the normal surface"}
TONE_KEYWORDS = {"darker": ["darker"], "brighter": ["brighter"], "colour": ["different", "colour"],
                 "same": ["same"]}
SIZE_STEPS = (0.002, 0.01, 0.04)
ELONGATED, ROUND_FILL = 3.0, 0.75
LUM_STEP, CHROMA_STEP = 12.0, 10.0


def size_of(stats: MaskStats) -> str:
    return SIZES[sum(stats.area_frac >= step for step in SIZE_STEPS)]


def shape_of(stats: MaskStats) -> str:
    if stats.blobs >= 3:
        return "scattered"
    if stats.elongation >= ELONGATED:
        return "elongated"
    return "round" if stats.fill >= ROUND_FILL else "irregular"


def tone_of(t: Tone | None) -> str | None:
    if t is None:
        return None
    if abs(t.d_lum) >= LUM_STEP:
        return "darker" if t.d_lum < 0 else "brighter"
    return "colour" if t.d_chroma >= CHROMA_STEP else "same"


def phrase(size: str, shape: str, tone: str | None) -> str:
    text = f"a {size}, {shape} mark"
    return display(f"{text} {TONES[tone]}" if tone else text, period=True)


VALUES = {"size": SIZES, "shape": SHAPES, "tone": tuple(TONES)}


def defect_description(ctx: Context, stats: MaskStats | None, tone: Tone | None) -> Draft:
    if stats is None:
        raise Skip("no defect pixels in the mask" if ctx.sample.mask else "no mask")
    attrs = {"size": size_of(stats), "shape": shape_of(stats), "tone": tone_of(tone)}
    choices = [a for a in VALUES if attrs[a]]
    return describe(attrs, ctx.rng("description").choice(choices), stats, tone)


def describe(attrs: dict, varied: str, stats: MaskStats, tone: Tone | None) -> Draft:
    """The question for measured ``attrs`` whose distractors all change ``varied`` (to each other value)."""
    correct = phrase(**attrs)
    distractors = [phrase(**{**attrs, varied: v}) for v in VALUES[varied] if v != attrs[varied]]
    keywords = [[attrs["size"].split("-")[0], attrs["shape"],
                 *(TONE_KEYWORDS[attrs["tone"]] if attrs["tone"] else [])]]
    details = {**attrs, "varied": varied}
    if tone:
        details.update(d_lum=round(tone.d_lum, 1), d_chroma=round(tone.d_chroma, 1), tone_reference=tone.reference)
    details.update(stats.as_dict())
    return Draft(type="Defect Description", text=QUESTION, correct=correct, distractors=distractors,
                 rule=f"description.{varied}", fields=["mask", "image", "normals"], keywords=keywords,
                 details=details, pool={"attrs": attrs, "stats": stats, "tone": tone})
