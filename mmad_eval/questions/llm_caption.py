"""Optional LLM captions of defective images (as MMAD had GPT-4V write them), through the evaluation backends.

Each defective image is sent with ``prompts/generate/caption.j2``: the query image (optionally after the
first normal template) and the annotation facts the rules measured (product, defect type, location, size,
shape, tone). The reply is accepted only if every check passes, otherwise the image gets no caption and the
reason is logged:
- the reply parses as JSON (a fenced block is fine) with a non-empty ``caption`` of at most 60 words;
- it names the defect type (its name, key or a knowledge synonym, after normalisation) and names no other
  defect type of the category (as a phrase, unless that name is part of this type's own name);
- any image-region words it uses (top/upper, bottom/lower, left, right, center/middle) each fit a 3x3 grid
  cell the defect mask touches (words of the category's part names, e.g. a bottle's "bottom", are exempt).
Accepted captions go to ``ImageEntry.extra["caption"]`` (an extra per-image key in MMAD's file, which
MMAD's scripts ignore) and are given to the rephrase prompt as context.
"""
from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path

from ..paths import safe_join
from ..prompt.images import ImageRegistry
from ..prompt.message import Request
from ..prompt.render import ImageSlot, split_messages
from ..sources.knowledge import Knowledge, lookup
from ..sources.sample import SourceSet
from .generate.masks import cell_name
from .generate.options import words
from .llm_assist import _env, parse_reply, record_decision, write_log
from .model import ImageEntry, QuestionSet

TEMPLATE = "generate/caption.j2"
MAX_WORDS = 60
# region word -> (rows, cols) of the 3x3 grid it can describe (None = any)
_REGION_WORDS = {"top": ({0}, None), "upper": ({0}, None), "bottom": ({2}, None), "lower": ({2}, None),
                 "left": (None, {0}), "right": (None, {2}), "center": ({1}, {1}), "centre": ({1}, {1}),
                 "central": ({1}, {1}), "middle": ({1}, {1})}


@dataclass
class CaptionFacts:
    """What the annotation and the rules say about one defective image (the prompt's facts, the checks' truth)."""

    key: str
    product: str
    defect: str                                   # the defect type key, e.g. "broken_large"
    defect_name: str
    names: list[str]                              # the name, the key and the synonyms
    others: list[list[str]] = field(default_factory=list)   # other defect types of the category: their names
    location: str | None = None                   # the Defect Localization answer phrase
    touched: list[int] = field(default_factory=list)         # 3x3 grid cells the mask touches (row-major)
    size: str | None = None
    shape: str | None = None
    tone: str | None = None
    part_words: set[str] = field(default_factory=set)        # words of the category's part names ("bottom")


def _names(knowledge: Knowledge, dataset: str, category: str, defect: str) -> tuple[str, list[str]]:
    ck = lookup(knowledge, dataset, category)
    dk = ck.defects.get(defect) if ck else None
    name = (dk.name if dk and dk.name else defect).replace("_", " ")
    return name, list(dict.fromkeys([name, defect.replace("_", " "), *(dk.synonyms if dk else [])]))


def facts_for(entry: ImageEntry, sample, knowledge: Knowledge) -> CaptionFacts:
    ck = lookup(knowledge, sample.dataset, sample.category)
    product = (ck.name if ck and ck.name else sample.category).replace("_", " ")
    name, names = _names(knowledge, sample.dataset, sample.category, sample.defect_type or "defect")
    others = [_names(knowledge, sample.dataset, sample.category, d)[1]
              for d in (ck.defects if ck else {}) if d not in ("good", sample.defect_type)]
    facts = CaptionFacts(key=entry.key, product=product, defect=sample.defect_type or "", defect_name=name,
                         names=names, others=others,
                         part_words={w for p in (ck.parts if ck else []) for w in words(p)})
    for q in entry.questions:
        details = q.provenance.get("details") or {}
        if q.type == "Defect Localization":
            facts.location = q.options[q.answer].rstrip(".")
            facts.location = facts.location[0].lower() + facts.location[1:]
            if not facts.touched and "touched" in details:
                facts.touched = [i for i in range(9) if cell_name(i) in details["touched"]]
        elif q.type == "Defect Description":
            facts.size, facts.shape, facts.tone = details.get("size"), details.get("shape"), details.get("tone")
            if "cell_shares" in details:
                facts.touched = [i for i, v in enumerate(details["cell_shares"]) if v > 0]
    return facts


def _phrase_in(phrase: str, tokens: list[str]) -> bool:
    p = words(phrase)
    return bool(p) and any(tokens[i:i + len(p)] == p for i in range(len(tokens) - len(p) + 1))


def validate_caption(facts: CaptionFacts, reply_text: str) -> tuple[str | None, str]:
    """(caption, "ok") or (None, reason)."""
    try:
        data = parse_reply(reply_text)
    except (ValueError, json.JSONDecodeError) as e:
        return None, f"unparseable reply: {e}"
    caption = data.get("caption")
    if not isinstance(caption, str) or not caption.strip():
        return None, "no caption text"
    caption = " ".join(caption.split())
    if len(caption.split()) > MAX_WORDS:
        return None, f"too long: {len(caption.split())} words (at most {MAX_WORDS})"
    tokens = words(caption)
    have = set(tokens)
    if not any(words(n) and set(words(n)) <= have for n in facts.names):
        return None, f"does not name the defect type ({' / '.join(facts.names)})"
    own = [set(words(n)) for n in facts.names]
    for alternatives in facts.others:
        for n in alternatives:
            if _phrase_in(n, tokens) and not any(set(words(n)) <= o for o in own):
                return None, f"names another defect type: {n}"
    if facts.touched:
        rows, cols = {i // 3 for i in facts.touched}, {i % 3 for i in facts.touched}
        for w in tokens:
            if w not in _REGION_WORDS or w in facts.part_words:
                continue
            want_rows, want_cols = _REGION_WORDS[w]
            fits = (want_rows and rows & want_rows) or (want_cols and cols & want_cols)
            if not fits:
                where = ", ".join(cell_name(i) for i in facts.touched)
                return None, f"location contradicts the annotation: '{w}' (defect at: {where})"
    return caption, "ok"


def build_request(facts: CaptionFacts, entry: ImageEntry, root: Path, images: ImageRegistry, template,
                  with_reference: bool = True) -> Request:
    """The caption request: the query image (after the first normal template when asked) and the facts."""
    slots = []
    normal = (entry.similar_templates or entry.random_templates or [None])[0] if with_reference else None
    if normal:
        slots.append(ImageSlot(images.add_file(safe_join(root, normal, what="template image path")),
                               "template", normal))
    slots.append(ImageSlot(images.add_file(safe_join(root, entry.key, what="image path")), "query", entry.key))
    text = template.render(product=facts.product, defect=facts.defect_name, location=facts.location,
                           size=facts.size, shape=facts.shape, tone=facts.tone,
                           others=[o[0] for o in facts.others], reference="<<image:0>>" if normal else None,
                           query=f"<<image:{len(slots) - 1}>>", max_words=MAX_WORDS)
    return Request(messages=split_messages(text, slots), qids=(entry.key,), meta={"purpose": "caption"})


async def caption(qs: QuestionSet, source: SourceSet, knowledge: Knowledge, backend, *,
                  log: list | None = None, prompt_dir: Path | None = None, with_reference: bool = True) -> dict:
    """Caption every defective image of ``qs`` in place; returns accepted/rejected counts and reasons."""
    template = _env(prompt_dir).get_template(TEMPLATE)
    samples = {s.image: s for s in source.samples}
    facts, items = {}, []
    for key, entry in qs.entries.items():
        s = samples.get(key)
        if s is None or not s.is_anomalous:
            continue
        facts[key] = facts_for(entry, s, knowledge)
        items.append((key, build_request(facts[key], entry, Path(source.root), backend.images, template,
                                         with_reference)))
    stats = {"accepted": 0, "rejected": 0, "reasons": {}}

    def emit(resp) -> None:
        if not resp.ok:
            text, reason = None, f"backend error: {resp.error_type}: {resp.error_message}"
        else:
            text, reason = validate_caption(facts[resp.key], resp.text)
        if text is not None:
            qs.entries[resp.key].extra["caption"] = text
        else:
            qs.entries[resp.key].extra.pop("caption", None)
        record_decision(stats, log, {"key": resp.key}, resp, text is not None, reason)

    await backend.generate(items, emit)
    return stats


def caption_with_model(qs: QuestionSet, source: SourceSet, knowledge: Knowledge, backend, *,
                       log_path: Path | None = None, with_reference: bool = True) -> dict:
    """Caption with ``backend`` (built by the caller through ``backends.registry.build_backend``), close it,
    and write the decision log."""
    log: list = []
    try:
        stats = asyncio.run(caption(qs, source, knowledge, backend, log=log, with_reference=with_reference))
    finally:
        backend.close()
    write_log(log_path, log)
    return stats
