"""When is a knowledge-based distractor *contradicted* by the category's own knowledge (not merely absent)?

Each value is mapped to classes of a small fixed vocabulary; a distractor is usable only when every one of
its classes is known and it is incompatible with what the category's knowledge states:
- colour: hue families ("amber" is orange/brown/yellow, "light gray" gray/white); contradicted when it
  shares no family with any of the category's colours;
- material: families ("wool" and "synthetic fibre" are textiles); no family in common with any material;
- shape: geometric classes with an explicit compatibility table (a flat board may be round or square, so
  "round" is no contradiction of "flat board"; "cylindrical" is); contradicted when some stated class of the
  category is incompatible with some class of the distractor;
- cause / effect of a defect: mechanism classes (impact, cutting, foreign matter, liquid, ...); contradicted
  when it shares no mechanism with the true defect's text;
- product names: two names are the same product when one's words contain the other's head noun.
An unknown word can never be shown wrong, so it is never used as a distractor (the question is left out
when too few distractors remain). The audit uses the same tables on the category's knowledge.
"""
from __future__ import annotations

import re
from functools import lru_cache

from .options import words

COLOR_FAMILIES = {
    "black": {"black"}, "white": {"white"}, "gray": {"gray"}, "grey": {"gray"}, "silver": {"gray"},
    "red": {"red"}, "green": {"green"}, "blue": {"blue"}, "yellow": {"yellow"}, "brown": {"brown"},
    "orange": {"orange"}, "purple": {"purple"}, "violet": {"purple"}, "pink": {"pink", "red"},
    "amber": {"orange", "brown", "yellow"}, "beige": {"beige", "brown", "white"}, "gold": {"yellow"},
    "golden": {"yellow"}, "copper": {"orange", "brown"}, "tan": {"beige", "brown"}, "cream": {"white", "beige"},
    "transparent": {"clear"}, "clear": {"clear"}, "bronze": {"brown", "orange"}, "cyan": {"blue", "green"},
    "turquoise": {"blue", "green"}, "navy": {"blue"}, "rust": {"orange", "brown", "red"}, "lime": {"green", "yellow"},
    "rose": {"pink", "red"}, "plum": {"purple"}, "mint": {"green"}, "sand": {"beige", "yellow", "brown"},
}
_SHADES = {"light": {"gray": "white", "brown": "beige", "black": "gray", "blue": "white", "red": "pink"},
           "dark": {"gray": "black", "brown": "black", "white": "gray", "green": "black", "red": "brown",
                    "purple": "black", "blue": "black"},
           "bright": {}}

MATERIAL_FAMILIES = {
    "metal": {"metal"}, "steel": {"metal"}, "iron": {"metal"}, "aluminium": {"metal"}, "aluminum": {"metal"},
    "copper": {"metal"}, "brass": {"metal"}, "solder": {"metal"}, "tin": {"metal"}, "chrome": {"metal"},
    "plastic": {"plastic"}, "polymer": {"plastic"}, "nylon": {"plastic", "textile"}, "resin": {"plastic"},
    "epoxy": {"plastic"}, "glass": {"glass"}, "fibreglass": {"glass", "plastic", "composite"},
    "fiberglass": {"glass", "plastic", "composite"}, "rubber": {"rubber"}, "silicone": {"rubber", "plastic"},
    "wood": {"wood"}, "timber": {"wood"}, "fabric": {"textile"}, "textile": {"textile"}, "wool": {"textile"},
    "cotton": {"textile"}, "fibre": {"textile"}, "fiber": {"textile"}, "cloth": {"textile"},
    "leather": {"leather"}, "ceramic": {"mineral"}, "stone": {"mineral"}, "porcelain": {"mineral"},
    "clay": {"mineral"}, "concrete": {"mineral"}, "paper": {"paper"}, "cardboard": {"paper"},
    "gelatin": {"gelatin"}, "powder": {"powder"}, "food": {"food"}, "nut": {"food"}, "jute": {"textile"},
    "silk": {"textile"}, "cork": {"wood"}, "foam": {"plastic"}, "wax": {"wax"},
}
_SYNTHETIC = {"synthetic": {"plastic"}}

SHAPE_WORDS = {
    "flat": "planar", "sheet": "planar", "board": "planar", "surface": "planar+extended",
    "mesh": "planar+extended", "woven": "planar+extended", "plate": "planar", "panel": "planar",
    "round": "round", "circular": "round", "disc": "round", "disk": "round",
    "oval": "oval", "elliptical": "oval",
    "square": "square", "rectangular": "rectangular", "triangular": "triangular", "hexagonal": "hexagonal",
    "elongated": "elongated", "long": "elongated", "thin": "elongated", "rod": "elongated",
    "cylindrical": "cylindrical", "cylinder": "cylindrical", "tube": "cylindrical",
    "spherical": "spherical", "sphere": "spherical", "ball": "spherical",
    "cone": "conical", "cube": "square", "cubic": "square", "conical": "conical", "coiled": "coiled", "helical": "coiled", "spiral": "coiled",
}
_COMPATIBLE = {frozenset(p) for p in [
    ("planar", "round"), ("planar", "oval"), ("planar", "square"), ("planar", "rectangular"),
    ("planar", "triangular"), ("planar", "hexagonal"), ("planar", "elongated"), ("round", "oval"),
    ("round", "cylindrical"), ("round", "spherical"), ("round", "conical"), ("oval", "spherical"),
    ("oval", "elongated"), ("square", "rectangular"), ("rectangular", "elongated"),
    ("elongated", "cylindrical"), ("elongated", "conical"), ("elongated", "coiled"), ("cylindrical", "coiled"),
    ("cylindrical", "conical"), ("hexagonal", "cylindrical"), ("square", "cylindrical"),
    ("extended", "planar"), ("extended", "square"), ("extended", "rectangular")]}
# the category's kind is knowledge too: a texture is an extended surface, an object a discrete item
KIND_CLASS = {"texture": "extended", "object": "discrete"}
_DISCRETE_OK = {"planar", "round", "oval", "square", "rectangular", "triangular", "hexagonal", "elongated",
                "cylindrical", "spherical", "conical", "coiled"}
_COMPATIBLE |= {frozenset(("discrete", c)) for c in _DISCRETE_OK}
_SHAPE_IGNORED = {"and", "with", "shape", "shaped", "ends", "rounded", "overall", "a", "an", "the", "of"}

MECHANISMS = {
    "impact": ("hit", "drop", "knock", "impact", "stress", "force", "pressed", "pushed", "crush", "bent",
               "hard object", "struck", "squeez", "fractur", "collision"),
    "cutting": ("sharp", "blade", "slice", "cut", "pointed", "snap", "tool", "punctur"),
    "abrasion": ("rub", "worn", "wear", "abrasion", "finishing", "friction", "scrap"),
    "foreign": ("dirt", "debris", "stray", "fibre", "fiber", "shaving", "foreign", "dust", "mixed", "another product",
                "particle"),
    "liquid": ("dye", "ink", "liquid", "spill", "oil", "grease", "adhesive", "glue", "drip", "substance", "marker",
               "soak", "paint", "leak"),
    "heat": ("burn", "heat", "overheat", "electrical", "short", "fire", "melt", "thermal", "kiln", "temperature"),
    "process": ("printing", "print", "pick-and-place", "placed", "step", "assembly", "mould", "mold"),
    "safety": ("danger", "sharp", "injur", "unsafe"),
    "seal": ("seal", "leak", "tight"),
    "integrity": ("break", "weak", "tear", "integrity", "unravel", "loses its shape", "pass through", "hole",
                  "dent", "crack", "fail", "uneven", "damage", "breach"),
    "hygiene": ("hygiene", "contaminat", "foreign material", "reject", "dirt", "catches dirt"),
    "appearance": ("blemish", "look", "spoil", "visible", "appearance", "cosmetic", "stain", "mark", "soiled"),
    "identity": ("identif", "wrong medication", "wrong product", "mix-up", "label"),
    "function": ("circuit", "does not work", "jam", "hold", "screwed", "swelling", "corrosion", "fit", "unusable",
                 "insulation", "stiff"),
}


@lru_cache(maxsize=4096)
def color_families(value: str) -> set[str] | None:
    """Hue families of a colour phrase; None when a word is not in the table."""
    ws = re.findall(r"[a-z]+", value.lower())
    out: set[str] = set()
    shade = None
    for w in ws:
        if w in _SHADES:
            shade = w
            continue
        fam = COLOR_FAMILIES.get(w)
        if fam is None:
            return None
        out |= fam
        if shade:
            out |= {_SHADES[shade][f] for f in fam if f in _SHADES[shade]}
    return out or None


@lru_cache(maxsize=4096)
def material_families(value: str) -> set[str] | None:
    ws = words(value)
    out: set[str] = set()
    for w in ws:
        fam = MATERIAL_FAMILIES.get(w) or _SYNTHETIC.get(w)
        if fam is None and w not in ("compressed", "printed", "solid", "coated", "reinforced", "stainless",
                                     "corrugated", "injection", "moulded", "molded", "anodised", "anodized",
                                     "woven"):
            return None
        out |= fam or set()
    return out or None


@lru_cache(maxsize=4096)
def shape_classes(value: str) -> set[str] | None:
    ws = [w for w in re.findall(r"[a-z]+", value.lower()) if w not in _SHAPE_IGNORED]
    out = {c for w in ws if w in SHAPE_WORDS for c in SHAPE_WORDS[w].split("+")}
    return out or None


def shapes_compatible(a: set[str], b: set[str]) -> bool:
    """Could one object be described by both (every class of one compatible with every class of the other)?"""
    return all(x == y or frozenset((x, y)) in _COMPATIBLE for x in a for y in b)


@lru_cache(maxsize=4096)
def mechanisms(text: str) -> set[str]:
    low = text.lower()
    return {m for m, keys in MECHANISMS.items() if any(k in low for k in keys)}


def contradicted(attr: str, own: list[str], candidate: str, kind: str = "") -> bool:
    """True when ``candidate`` is shown wrong by the category's own values ``own`` of ``attr`` (and, for a
    shape, by the category's kind: texture or object)."""
    return _contradicted(attr, tuple(own), candidate, kind)


@lru_cache(maxsize=65536)
def _contradicted(attr: str, own: tuple[str, ...], candidate: str, kind: str) -> bool:
    if attr == "colors":
        fams = [color_families(o) for o in own]
        cand = color_families(candidate)
        return cand is not None and all(f is not None for f in fams) and not any(cand & f for f in fams)
    if attr == "materials":
        fams = [material_families(o) for o in own]
        cand = material_families(candidate)
        return cand is not None and all(f is not None for f in fams) and not any(cand & f for f in fams)
    if attr == "shape":
        classes = [shape_classes(o) for o in own]
        if kind in KIND_CLASS:
            classes = [c | {KIND_CLASS[kind]} if c else c for c in classes]
        cand = shape_classes(candidate)
        return cand is not None and all(c is not None for c in classes) and \
            all(not shapes_compatible(c, cand) for c in classes)
    if attr in ("cause", "effect"):
        truth = set().union(*(mechanisms(o) for o in own)) if own else set()
        cand = mechanisms(candidate)
        return bool(truth) and bool(cand) and not (truth & cand)
    return False


def head(name: str) -> str:
    ws = words(name)
    return ws[-1] if ws else ""


def same_product(a: str, b: str) -> bool:
    """Two product names for the same thing: one's head noun appears among the other's words."""
    wa, wb = set(words(a)), set(words(b))
    return bool(wa and wb) and (head(a) in wb or head(b) in wa)


def names_product(text: str, products: list[str]) -> str | None:
    """The first of ``products`` whose name (or its head noun) appears as words in ``text``; else None."""
    ws = " " + " ".join(words(text)) + " "
    for p in products:
        pw = words(p)
        if pw and (f" {' '.join(pw)} " in ws or f" {pw[-1]} " in ws):
            return p
    return None


GENERIC_PARTS = {"surface", "body", "base", "top", "bottom", "side", "edge", "end", "face", "outline", "area",
                 "center", "centre", "front", "back", "interior", "exterior", "inside", "outside", "part", "middle"}


def part_contradicted(own_parts: list[str], own_texts: list[str], candidate: str) -> bool:
    """The knowledge lists the product's visible parts; a part name is shown absent when it is specific (not
    a word such as "body" or "surface" that fits any product), shares no word with a listed part, and no
    text of the category (description, normal look, defects) mentions it."""
    return _part_contradicted(tuple(own_parts), tuple(own_texts), candidate)


@lru_cache(maxsize=65536)
def _part_contradicted(own_parts: tuple[str, ...], own_texts: tuple[str, ...], candidate: str) -> bool:
    cw = set(words(candidate))
    if not cw or cw & GENERIC_PARTS or not own_parts:
        return False
    if any(cw & set(words(p)) for p in own_parts):
        return False
    return not cw & _text_words(own_texts)


@lru_cache(maxsize=1024)
def _text_words(texts: tuple[str, ...]) -> frozenset:
    return frozenset(words(" ".join(texts)))
