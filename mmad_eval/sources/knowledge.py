"""Category knowledge: what a product is, its parts and materials, and each defect type's look and cause.

Our knowledge file (written by the synthetic generator, or by a user for their own products) is JSON::

    {"format": "mmad-eval-knowledge/1",
     "categories": {
        "<category>": {
           "dataset": "synth",                  # optional
           "kind": "object" | "texture",
           "name": "glass bottle",              # product name used in questions
           "description": "A brown glass bottle seen from the top ...",
           "parts": ["rim", "neck", "bottom"],  # visible parts, may be empty
           "materials": ["glass"],
           "colors": ["brown"],
           "shape": "round",
           "count": {"what": "holes", "value": 4},   # optional countable feature
           "similar": ["capsule", "pill"],           # categories that look alike (for distractors)
           "normal": "What a good item looks like ...",
           "defects": {
              "<defect>": {"name": "broken rim", "appearance": "...", "cause": "...", "effect": "...",
                           "kind": "structural" | "logical", "synonyms": ["..."]}
           }}}}

MMAD's ``domain_knowledge.json`` ({dataset: {category: {key: text}}}) loads into the same records via
:func:`from_mmad_domain_knowledge` (the texts become ``normal``/``appearance``; parts etc. stay empty).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..atomic_write import write_text
from ..inputfile import read_input
from ..errors import DataError

FORMAT = "mmad-eval-knowledge/1"
# MMAD's domain_knowledge.json keys datasets differently from mmad.json keys.
MMAD_DATASET_ALIASES = {"DS-MVTec": "MVTec", "MVTec-AD": "MVTec"}


@dataclass
class DefectKnowledge:
    name: str
    appearance: str = ""
    cause: str = ""
    effect: str = ""
    kind: str = "structural"
    synonyms: list[str] = field(default_factory=list)


@dataclass
class CategoryKnowledge:
    category: str
    name: str
    kind: str = "object"
    dataset: str = ""
    description: str = ""
    parts: list[str] = field(default_factory=list)
    materials: list[str] = field(default_factory=list)
    colors: list[str] = field(default_factory=list)
    shape: str = ""
    count: dict | None = None
    similar: list[str] = field(default_factory=list)
    normal: str = ""
    defects: dict[str, DefectKnowledge] = field(default_factory=dict)
    raw_texts: dict[str, str] = field(default_factory=dict)  # MMAD-style {key: text}, if loaded from MMAD


@dataclass
class Knowledge:
    categories: dict[str, CategoryKnowledge] = field(default_factory=dict)

    def get(self, category: str) -> CategoryKnowledge | None:
        return self.categories.get(category)

    def to_json(self) -> dict:
        return {"format": FORMAT, "categories": {k: _cat_json(v) for k, v in sorted(self.categories.items())}}

    def save(self, path: Path) -> None:
        write_text(path, json.dumps(self.to_json(), indent=1, ensure_ascii=False) + "\n")


def _cat_json(c: CategoryKnowledge) -> dict:
    d = asdict(c)
    d.pop("category")
    if not d["raw_texts"]:
        d.pop("raw_texts")
    return d


def load_knowledge(path: Path) -> Knowledge:
    """Load our knowledge format or MMAD's domain_knowledge.json (detected by shape)."""
    if Path(path).exists() and not Path(path).is_dir():
        read_input(path, "knowledge file", max_bytes=256 << 20)     # a regular file of sane size
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except RecursionError:
        raise DataError("knowledge file nested too deeply to read", culprit=str(path)) from None
    except FileNotFoundError:
        raise DataError("knowledge file not found", culprit=str(path)) from None
    except IsADirectoryError:
        raise DataError("knowledge path is a folder, not a file", culprit=str(path)) from None
    except UnicodeDecodeError as e:
        raise DataError(f"knowledge file is not UTF-8 (byte {e.start})", culprit=str(path)) from None
    except json.JSONDecodeError as e:
        raise DataError(f"malformed JSON at line {e.lineno} column {e.colno}: {e.msg}", culprit=str(path)) from None
    if isinstance(data, dict) and data.get("format") == FORMAT:
        return _from_ours(data, path)
    if isinstance(data, dict) and all(isinstance(v, dict) for v in data.values()):
        return from_mmad_domain_knowledge(data, path)
    raise DataError("not a knowledge file (neither mmad-eval-knowledge/1 nor MMAD domain_knowledge.json)",
                    culprit=str(path))


def _from_ours(data: dict, path: Path) -> Knowledge:
    out = Knowledge()
    cats = data.get("categories", {})
    if not isinstance(cats, dict):
        raise DataError("'categories' must be an object keyed by category", culprit=str(path))
    for cat, c in cats.items():
        if not isinstance(c, dict):
            raise DataError(f"entry for category '{cat}' must be an object", culprit=str(path))
        try:
            defects = {k: DefectKnowledge(**v) for k, v in c.get("defects", {}).items()}
            fields = {k: v for k, v in c.items() if k != "defects"}
            out.categories[cat] = CategoryKnowledge(category=cat, defects=defects, **fields)
        except TypeError as e:
            raise DataError(f"bad entry for category '{cat}': {e}", culprit=str(path)) from None
    return out


def from_mmad_domain_knowledge(data: dict, path: Path | None = None) -> Knowledge:
    """MMAD's {dataset: {category: {key: text}}}; categories keyed as '<dataset>/<category>' and plain."""
    out = Knowledge()
    for dataset, cats in data.items():
        for cat, texts in cats.items():
            if not isinstance(texts, dict) or not all(isinstance(v, str) for v in texts.values()):
                raise DataError(f"'{dataset}/{cat}' must be an object of texts ({{\"good\": \" <Title>\\n "
                                f"Description: ...\", ...}})", culprit=str(path or "domain knowledge"))
            texts = dict(texts)
            ck = CategoryKnowledge(category=cat, name=cat.replace("_", " "), dataset=dataset,
                                   normal=texts.get("good", "").strip(), raw_texts=texts)
            for key, text in texts.items():
                if key != "good":
                    ck.defects[key] = DefectKnowledge(name=key.replace("_", " "), appearance=text.strip())
            out.categories[f"{dataset}/{cat}"] = ck
            out.categories.setdefault(cat, ck)
    return out


def lookup(knowledge: Knowledge, dataset: str, category: str) -> CategoryKnowledge | None:
    """Find a category's knowledge for a query key's dataset, honouring MMAD's dataset aliases."""
    for ds in (dataset, MMAD_DATASET_ALIASES.get(dataset, dataset)):
        hit = knowledge.categories.get(f"{ds}/{category}")
        if hit:
            return hit
    return knowledge.categories.get(category)
