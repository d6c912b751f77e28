"""Defect Description: size, shape and tone of the defect measured from its mask and pixels.

- size: defect area / product area (the object's outline from the normal images, else from the query image
  itself; the whole image for textures and frame-filling products): tiny (< 0.2 %), small (< 1 %), medium
  (< 4 %), large;
- shape: scattered when the mask has >= 3 significant blobs; else, for the largest blob, elongated when its
  second moments have an axis ratio >= 3, round when it is compact and fills >= 75 % of its moment-equivalent
  ellipse, irregular otherwise;
- tone: darker/brighter when the mean luminance changes by >= 12 (of 255) and the colour does not change,
  of a different colour when the chroma changes by >= 10 and the luminance does not, the same tone when
  neither changes. A defect that is both darker and differently coloured has no tone value: the values are
  mutually exclusive by construction, so one option never claims what another also truthfully says.
  Measured against the mean of the category's normal images at the mask pixels, or, without normal
  images, against a ring around the mask.
Margins (margins.py): a value within the margin of a boundary is uncertain and is left out of every option
(the question then describes only the attributes that are certain); it is never the varied attribute.
Each question varies one certain attribute (drawn per image from the seed): the options hold the certain
values of the other two and the four values of the varied one, so every distractor changes exactly one
attribute and no option is the "consensus" of the others. Which attribute is varied is re-chosen over the
whole set by balance.py so that no value is the answer more often than the others among the questions
varying it.
"""
from __future__ import annotations

from dataclasses import dataclass

from .context import DEFECT_PREFIX, Context, Skip
from .margins import DEFAULT, DESCRIPTION_KEYS, Margins
from .masks import MaskStats, Tone
from .options import Draft, display

QUESTION = f"{DEFECT_PREFIX} What does the defect look like?"
SIZES = ("tiny", "small", "medium-sized", "large")
SHAPES = ("elongated", "round", "irregular", "scattered")
TONES = {"darker": "darker than the normal surface", "brighter": "brighter than the normal surface",
         "colour": "of a different colour than the normal surface", "same": "of the same tone as the normal surface"}
TONE_KEYWORDS = {"darker": ["darker"], "brighter": ["brighter"], "colour": ["different", "colour"],
                 "same": ["same"]}
SIZE_STEPS = DEFAULT.size_steps
ELONGATED, ROUND_FILL = DEFAULT.elongated, DEFAULT.round_fill
LUM_STEP, CHROMA_STEP = DEFAULT.lum_step, DEFAULT.chroma_step


@dataclass(frozen=True)
class Extent:
    """What a defect's size is relative to: the product's share of the image and where that came from."""

    area_frac: float          # product pixels / image pixels (1.0 for the whole image)
    reference: str            # "object_outline" (category), "image_outline" (this image) or "image"


def size_of(stats: MaskStats, product: float = 1.0, m: Margins = DEFAULT) -> str:
    """The size bin without margins (for the record and the tests)."""
    return SIZES[sum(stats.area_frac / product >= step for step in m.size_steps)]


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


def certain_size(rel_area: float, m: Margins = DEFAULT) -> tuple[str | None, str]:
    """(size, "") when ``rel_area`` is clearly inside one bin, else (None, why)."""
    for step in m.size_steps:
        if step / m.size_margin < rel_area < step * m.size_margin:
            return None, f"area {rel_area:.4f} of the product is within x{m.size_margin:g} of the {step:g} boundary"
    return SIZES[sum(rel_area >= step for step in m.size_steps)], ""


def certain_shape(stats: MaskStats, m: Margins = DEFAULT) -> tuple[str | None, str]:
    shares = stats.blob_shares or (1.0,)
    many = sum(s >= m.blob_share * m.blob_margin for s in shares)
    few = sum(s >= m.blob_share / m.blob_margin for s in shares)
    if many >= 3:
        return "scattered", ""
    if few != 1:
        return None, f"{few} blobs: neither clearly one mark nor clearly scattered"
    e, fill = stats.elongation, stats.fill
    if e >= m.elongated * m.elongation_margin:
        return "elongated", ""
    if e > m.elongated / m.elongation_margin:
        return None, f"axis ratio {e:.2f} within x{m.elongation_margin:g} of {m.elongated:g}"
    if e < m.round_max_elongation and fill >= m.round_fill + m.fill_margin:
        return "round", ""
    if fill < m.round_fill - m.fill_margin:
        return "irregular", ""
    return None, f"fill {fill:.2f} / axis ratio {e:.2f}: neither clearly round nor clearly irregular"


def certain_tone(t: Tone | None, m: Margins = DEFAULT) -> tuple[str | None, str]:
    if t is None:
        return None, "no tone reference"
    lum_on, lum_off = abs(t.d_lum) >= m.lum_step * m.tone_margin, abs(t.d_lum) < m.lum_step / m.tone_margin
    col_on, col_off = t.d_chroma >= m.chroma_step * m.tone_margin, t.d_chroma < m.chroma_step / m.tone_margin
    if lum_on and col_off:
        return ("darker" if t.d_lum < 0 else "brighter"), ""
    if col_on and lum_off:
        return "colour", ""
    if lum_off and col_off:
        return "same", ""
    return None, f"luminance change {t.d_lum:+.1f} and chroma change {t.d_chroma:.1f}: not one tone alone"


def phrase(size: str | None, shape: str | None, tone: str | None) -> str:
    words = ", ".join(w for w in (size, shape) if w)
    text = f"{'an' if words[:1] in ('a', 'e', 'i', 'o', 'u') else 'a'} {words} mark" if words else "a mark"
    return display(f"{text} {TONES[tone]}" if tone else text, period=True)


VALUES = {"size": SIZES, "shape": SHAPES, "tone": tuple(TONES)}


def defect_description(ctx: Context, stats: MaskStats | None, tone: Tone | None, extent: Extent | None = None,
                       m: Margins = DEFAULT, tone_check: Tone | None = None) -> Draft:
    """``tone_check``: the tone against another normal reference (the templates shown with the image); a
    tone is asked only when both references give the same certain value."""
    if stats is None:
        raise Skip("no defect pixels in the mask" if ctx.sample.mask else "no mask")
    extent = extent or Extent(1.0, "image")
    rel = stats.area_frac / extent.area_frac
    values = {"size": certain_size(rel, m), "shape": certain_shape(stats, m), "tone": certain_tone(tone, m)}
    if tone_check is not None and values["tone"][0] is not None:
        other, why = certain_tone(tone_check, m)
        if other != values["tone"][0]:
            values["tone"] = (None, f"the normal templates give another tone ({other or why})")
    attrs = {a: v for a, (v, _) in values.items()}
    uncertain = {a: why for a, (v, why) in values.items() if v is None}
    choices = [a for a in VALUES if attrs[a]]
    if not choices:
        raise Skip("size, shape and tone all within their margins")
    draft = describe(attrs, ctx.rng("description").choice(choices), stats, tone)
    draft.details.update(size_frac=round(rel, 5), size_reference=extent.reference,
                         product_area=round(extent.area_frac, 4), uncertain=uncertain)
    draft.pool.update(rel=rel, extent=extent, uncertain=uncertain)
    draft.margins = m.of(*DESCRIPTION_KEYS)
    return draft


def redescribe(draft: Draft, varied: str) -> Draft:
    """The same measured defect asked with another varied attribute (balance.py's choice)."""
    p = draft.pool
    new = describe(p["attrs"], varied, p["stats"], p["tone"])
    keep = {k: draft.details[k] for k in ("size_frac", "size_reference", "product_area", "uncertain")
            if k in draft.details}
    new.details.update(keep)
    new.pool.update({k: v for k, v in p.items() if k not in new.pool})
    new.margins = draft.margins
    return new


def describe(attrs: dict, varied: str, stats: MaskStats, tone: Tone | None) -> Draft:
    """The question for certain ``attrs`` (None = left out) whose distractors all change ``varied``."""
    correct = phrase(**attrs)
    distractors = [phrase(**{**attrs, varied: v}) for v in VALUES[varied] if v != attrs[varied]]
    keywords = [[*([attrs["size"].split("-")[0]] if attrs["size"] else []), *([attrs["shape"]] if attrs["shape"] else []),
                 *(TONE_KEYWORDS[attrs["tone"]] if attrs["tone"] else [])]]
    details = {**attrs, "varied": varied}
    if tone:
        details.update(d_lum=round(tone.d_lum, 1), d_chroma=round(tone.d_chroma, 1), tone_reference=tone.reference)
    details.update(stats.as_dict())
    return Draft(type="Defect Description", text=QUESTION, correct=correct, distractors=distractors,
                 rule=f"description.{varied}", fields=["mask", "image", "normals"], keywords=keywords,
                 details=details, pool={"attrs": attrs, "stats": stats, "tone": tone})
