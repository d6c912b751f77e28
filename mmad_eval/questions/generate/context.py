"""What every rule sees about one sample: the sample, its category knowledge and the other categories."""
from __future__ import annotations

import random
from dataclasses import dataclass, field

from ...sources.knowledge import CategoryKnowledge, Knowledge, lookup
from ...sources.sample import AnnotatedSample
from .options import rng_for

DEFECT_PREFIX = "There is a defect in the object."
# Last-resort distractor vocabularies, used only after the category's own and similar categories' values.
GENERIC_DEFECTS = ("scratch", "crack", "stain", "hole", "contamination", "missing part", "deformation",
                   "discoloration", "cut", "dent", "fold", "misplaced part")
GENERIC_PRODUCTS = ("bottle", "cable", "capsule", "carpet", "metal grid", "hazelnut", "leather", "metal nut",
                    "pill", "screw", "tile", "toothbrush", "transistor", "wood", "zipper", "circuit board")
# (long and short values alike, so that a long answer can get longer distractors: options.pick_length_balanced)
MATERIALS = ("metal", "plastic", "glass", "rubber", "wood", "fabric", "leather", "ceramic", "paper",
             "cardboard", "stone", "tin", "clay", "jute", "cork", "foam", "wax", "silk", "stainless steel", "corrugated cardboard", "injection-moulded plastic",
             "anodised aluminium", "woven cotton fabric")
COLORS = ("black", "white", "gray", "red", "green", "blue", "yellow", "brown", "orange", "purple", "silver",
          "pink", "tan", "navy", "rust", "lime", "rose", "plum", "mint", "sand", "dark green", "light blue", "dark red", "bright yellow", "dark purple", "bright orange")
SHAPES = ("round", "square", "rectangular", "cylindrical", "oval", "triangular", "hexagonal", "flat sheet",
          "spherical", "cone-shaped", "coiled", "disc", "cube", "cone", "ball", "rod", "tube", "long thin cylindrical rod", "spherical ball-shaped object",
          "cone-shaped with a pointed tip", "coiled like a spring", "hexagonal with flat sides",
          "triangular with sharp corners")
# specific parts (never words such as "body" that fit any product), for the parts question's fallback tier
PARTS = ("pin", "tab", "hook", "knob", "fin", "handle", "hinge", "lid", "label", "spout", "wheel", "button", "strap", "zipper teeth", "power plug",
         "rubber seal ring", "threaded metal neck", "hanging loop", "snap-fit clip")


class Skip(Exception):
    """A rule cannot ask its question for this sample; the message is the logged reason."""


@dataclass
class Context:
    sample: AnnotatedSample
    seed: int
    knowledge: Knowledge
    categories: list[str]                           # categories of the source set (for object distractors)
    memo: dict = field(default_factory=dict)          # shared across samples: per-category lookups

    def cached(self, key: tuple, compute):
        """Memoise a per-category value (candidate lists depend on the category, not on the image)."""
        key = (self.sample.dataset, *key)
        if key not in self.memo:
            self.memo[key] = compute()
        return self.memo[key]

    @property
    def key(self) -> str:
        return self.sample.image

    def rng(self, rule: str) -> random.Random:
        return rng_for(self.seed, self.key, rule)

    def ck(self, category: str | None = None) -> CategoryKnowledge | None:
        cat = category or self.sample.category
        return self.cached(("ck", cat), lambda: lookup(self.knowledge, self.sample.dataset, cat))

    def product_name(self, category: str | None = None) -> str:
        ck = self.ck(category)
        return (ck.name if ck and ck.name else (category or self.sample.category)).replace("_", " ")

    def similar(self) -> list[str]:
        ck = self.ck()
        return [c for c in (ck.similar if ck else []) if c != self.sample.category]

    def others(self) -> list[str]:
        """Every other category known to the set or the knowledge file (plain names, not dataset/cat)."""
        def compute():
            names = set(self.categories) | {c for c in self.knowledge.categories if "/" not in c}
            names.discard(self.sample.category)
            return sorted(names)

        return self.cached(("others", self.sample.category), compute)

    def defect_name(self, defect: str, category: str | None = None) -> str:
        ck = self.ck(category)
        dk = ck.defects.get(defect) if ck else None
        return (dk.name if dk and dk.name else defect).replace("_", " ")

    def defect_synonyms(self, defect: str, category: str | None = None) -> list[str]:
        ck = self.ck(category)
        dk = ck.defects.get(defect) if ck else None
        return [defect.replace("_", " "), *(dk.synonyms if dk else [])]

    def knowledge_texts(self, category: str | None = None) -> list[str]:
        """Every free text of a category's knowledge (what a part or product mention is checked against)."""
        ck = self.ck(category)
        if ck is None:
            return []
        out = [ck.name, ck.description, ck.normal, *ck.raw_texts.values()]
        for d in ck.defects.values():
            out += [d.name, d.appearance, d.cause, d.effect, *d.synonyms]
        return [t for t in out if t]

    def other_products(self) -> list[str]:
        """Names of every other product (category names and knowledge names) that do not also name this one."""
        def compute():
            own = [self.product_name(), self.sample.category.replace("_", " ")]
            names = set()
            for c in [*self.others(), *self.similar()]:
                names |= {c.replace("_", " "), self.product_name(c)}
            names |= set(GENERIC_PRODUCTS)
            from .contradict import same_product

            return sorted(n for n in names if n and not any(same_product(n, o) for o in own))

        return self.cached(("other_products", self.sample.category), compute)

    def defects_of(self, category: str) -> list[str]:
        ck = self.ck(category)
        return [d for d in (ck.defects if ck else {}) if d != "good"]
