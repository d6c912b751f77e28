"""Answerability: does each question have exactly one defensible option, with margin?

Per generation rule, counts the questions where a second option is also defensible, and those whose
answer rests on a measured value within the margin of a bin boundary. Values are recomputed from what a
person would look at, not read from the generator's bookkeeping where that is possible:
- Defect Description: size, blobs, elongation and fill from the mask file; tone from the query image
  against the mean of the entry's normal templates at the mask pixels (the product's share of the image,
  which needs the category's outline, is read from the provenance);
- Defect Localization (image grid): every option is read the way a person reads it ("top" alone is the
  whole top band, "top left" one corner cell) and checked against the mask, with the gap margin; the
  object-relative form is checked against the recorded zones the defect comes near;
- knowledge-based options (object questions, cause/effect, defect types, product names): every distractor
  is checked against the category's knowledge file with the tables of ``generate/contradict.py``.
Margins are those recorded in each question (``provenance["margins"]``), else the defaults.
"""
from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import numpy as np

from ..errors import DataError
from .generate.contradict import contradicted, names_product, part_contradicted, same_product
from .generate.margins import DEFAULT, Margins
from .none_option import HIDDEN, none_letter, with_removed_option
from .model import Question, QuestionSet

_FIELDS = set(Margins.__dataclass_fields__)


def _margins(q: Question, fixed: Margins | None = None) -> Margins:
    """The margins recorded with the question, or ``fixed`` (to hold a set to other margins)."""
    if fixed is not None:
        return fixed
    m = {k: tuple(v) if isinstance(v, list) else v for k, v in (q.provenance.get("margins") or {}).items()
         if k in _FIELDS}
    return Margins(**{**DEFAULT.__dict__, **m})


# -- Defect Description ------------------------------------------------------------------------------
_SIZES = ("tiny", "small", "medium", "large")
_SHAPES = ("elongated", "round", "irregular", "scattered")


def _claims(text: str) -> dict:
    low = text.lower()
    out = {}
    for s in _SIZES:
        if re.search(rf"\b{s}\b", low):
            out["size"] = s
    for s in _SHAPES:
        if re.search(rf"\b{s}\b", low):
            out["shape"] = s
    for key, word in (("darker", "darker"), ("brighter", "brighter"), ("colour", "different colour"),
                      ("same", "same tone")):
        if word in low:
            out["tone"] = key
    return out


def plausible_sizes(rel: float, m: Margins) -> set[str]:
    """Size bins a person could defend for a defect covering ``rel`` of the product."""
    edges = (0.0, *m.size_steps, float("inf"))
    return {_SIZES[i] for i in range(4) if edges[i] / m.size_margin <= rel < edges[i + 1] * m.size_margin}


def plausible_shapes(shares, elongation: float, fill: float, m: Margins) -> set[str]:
    out = set()
    if sum(s >= m.blob_share / m.blob_margin for s in shares) >= 3:
        out.add("scattered")
    if sum(s >= m.blob_share * m.blob_margin for s in shares) <= 2:
        if elongation > m.elongated / m.elongation_margin:
            out.add("elongated")
        if elongation < m.elongated * m.elongation_margin:
            if elongation < m.round_max_elongation * m.elongation_margin and fill > m.round_fill - m.fill_margin:
                out.add("round")
            if fill < m.round_fill + m.fill_margin or elongation >= m.round_max_elongation:
                out.add("irregular")
    return out


def plausible_tones(d_lum: float, d_chroma: float, m: Margins) -> set[str]:
    out = set()
    if d_lum <= -m.lum_step / m.tone_margin:
        out.add("darker")
    if d_lum >= m.lum_step / m.tone_margin:
        out.add("brighter")
    if d_chroma >= m.chroma_step / m.tone_margin:
        out.add("colour")
    if abs(d_lum) < m.lum_step * m.tone_margin and d_chroma < m.chroma_step * m.tone_margin:
        out.add("same")
    return out


class _Images:
    """Reads masks/images once, at the generator's working size."""

    def __init__(self, root: Path | None):
        self.root, self.means = root, {}

    def mask(self, rel: str):
        from .generate.masks import read_mask

        return read_mask(self.root / rel)

    def rgb(self, rel: str, size):
        from .generate.masks import read_rgb

        return read_rgb(self.root / rel, size)

    def safe_rgb(self, rel: str, size):
        try:
            return self.rgb(rel, size)
        except DataError:
            return None

    def template_mean(self, paths: list[str], size):
        key = (tuple(paths), size)
        if key not in self.means:
            arrays = []
            for p in paths:
                try:
                    arrays.append(self.rgb(p, size))
                except DataError:
                    pass
            self.means[key] = np.mean(arrays, axis=0) if arrays else None
        return self.means[key]


def _description(q: Question, entry, images: _Images, fixed: Margins | None = None) -> dict:
    from .generate.masks import measure, tone

    m = _margins(q, fixed)
    d = q.provenance.get("details") or {}
    mask = images.mask(entry.mask_path)
    stats = measure(mask, m.grid_gap)
    if stats is None:
        return {"skipped": "empty mask"}
    size = (mask.shape[1], mask.shape[0])
    rel = stats.area_frac / float(d.get("product_area") or 1.0)
    t = tone(images.rgb(q.image, size), mask, images.template_mean(entry.random_templates, size))
    plausible = {"size": plausible_sizes(rel, m),
                 "shape": plausible_shapes(stats.blob_shares, stats.elongation, stats.fill, m),
                 "tone": plausible_tones(t.d_lum, t.d_chroma, m) if t else set(_TONE_ANY)}
    claims = {L: _claims(text) for L, text in q.options.items()}
    ok = {L: all(v in plausible[a] for a, v in c.items()) for L, c in claims.items()}
    measured = {"size_of_product": round(rel, 5), "elongation": round(stats.elongation, 2),
                "fill": round(stats.fill, 2), "d_lum": round(t.d_lum, 1) if t else None,
                "d_chroma": round(t.d_chroma, 1) if t else None}
    uncertain = [a for a in claims[q.answer] if len(plausible[a]) > 1]
    return {"defensible": [L for L, v in ok.items() if v], "uncertain": uncertain, "measured": measured}


_TONE_ANY = ("darker", "brighter", "colour", "same")


# -- Defect Localization -------------------------------------------------------------------------------
_ROW = {"top": 0, "upper": 0, "bottom": 2, "lower": 2}
_COL = {"left": 0, "right": 2}


def read_region(text: str) -> set[int] | None:
    """The grid cells a person reads into an option ("top" alone: the whole top band; "top left": one
    corner; "top middle": the top centre cell); None for a phrase that names no grid region."""
    low = text.lower().replace("of the image", "").strip(" .")
    if low.startswith("along the top"):
        return {0, 1, 2}
    if low.startswith("along the bottom"):
        return {6, 7, 8}
    if low.startswith("along the left"):
        return {0, 3, 6}
    if low.startswith("along the right"):
        return {2, 5, 8}
    if low.startswith("across the middle"):
        return {3, 4, 5}
    if low.startswith("down the middle"):
        return {1, 4, 7}
    if low.startswith(("in several", "across most")) or "object" in low:
        return None
    cells: set[int] = set()
    for part in re.split(r"\band\b|,", low):
        ws = re.findall(r"[a-z]+", part)
        if not ws:
            continue
        rows = {_ROW[w] for w in ws if w in _ROW}
        cols = {_COL[w] for w in ws if w in _COL}
        mid = any(w in ("middle", "center", "centre", "central") for w in ws)
        if not rows:
            rows = {1} if mid and (cols or len(ws) == 1) else {0, 1, 2}
        if not cols:
            cols = {1} if mid else {0, 1, 2}
        if mid and rows == {0, 1, 2}:
            rows = {1}
        cells |= {r * 3 + c for r in rows for c in cols}
    return cells or None


def _localization(q: Question, entry, images: _Images, fixed: Margins | None = None) -> dict:
    from .generate.localization import one_mark
    from .generate.masks import measure

    m = _margins(q, fixed)
    d = q.provenance.get("details") or {}
    mask = images.mask(entry.mask_path)
    if q.provenance.get("rule", "").startswith("localization.object."):
        return _object_zones(q, entry, images, mask, m)
    stats = measure(mask, m.grid_gap)
    if stats is None:
        return {"skipped": "empty mask"}
    near = set(stats.near)
    ok = []
    for L, text in q.options.items():
        low = text.lower()
        if low.startswith("in several places"):
            good = not one_mark(stats, m.blob_margin, m.blob_share)
        elif low.startswith("across most"):
            good = len(near) > 3
        else:
            cells = read_region(text)
            good = cells is None or bool(cells & near)
        if good:
            ok.append(L)
    return {"defensible": ok, "uncertain": [], "measured": {"near_cells": sorted(near)}}


def _object_zones(q: Question, entry, images: _Images, mask, m: Margins) -> dict:
    """Object-relative options against the outline re-estimated from the entry's normal templates (the
    recorded placement stands in when the templates give no trusted outline)."""
    from .generate.object_zones import ZONE_PHRASES, estimate_object, near_zones

    size = (mask.shape[1], mask.shape[0])
    arrays = [a for a in (images.safe_rgb(p, size) for p in entry.random_templates) if a is not None]
    shape = estimate_object(np.mean(arrays, axis=0), arrays)[0] if arrays else None
    if shape is not None and mask.any():
        near, source = set(near_zones(shape, mask, m.zone_gap)), "templates"
    else:
        placement = (q.provenance.get("details") or {}).get("placement") or {}
        near, source = set(placement.get("near") or placement.get("touched") or []), "provenance"
    zone_of = {p.lower(): z for z, p in ZONE_PHRASES.items()}
    ok = [L for L, t in q.options.items() if zone_of.get(t.lower().rstrip(".")) in near]
    answer_zone = zone_of.get(q.options[q.answer].lower().rstrip("."))
    if answer_zone in near and q.answer not in ok:
        ok.append(q.answer)
    return {"defensible": ok, "uncertain": [], "measured": {"near_zones": sorted(near), "outline": source}}


# -- knowledge-based rules -----------------------------------------------------------------------------
def _knowledge_check(q: Question, kn) -> dict | None:
    from ..sources.knowledge import lookup

    ck = lookup(kn, q.dataset, q.category)
    if ck is None:
        return None
    rule = q.provenance.get("rule", "")
    others = [c for name, c in kn.categories.items() if "/" not in name and c is not ck]
    products = [p for c in others for p in (c.name, c.category.replace("_", " "))
                if not same_product(p, ck.name) and not same_product(p, ck.category.replace("_", " "))]
    texts = [ck.name, ck.description, ck.normal,
             *[t for dk in ck.defects.values() for t in (dk.name, dk.appearance, dk.cause, dk.effect, *dk.synonyms)]]
    answer = q.options[q.answer]
    answer_ok = _answer_matches(q, ck, rule, answer)
    bad = []
    for L, text in q.options.items():
        if L == q.answer:
            continue
        if rule == "object.count":
            wrong = text.strip() != str((ck.count or {}).get("value"))
        elif rule == "object.classification":
            wrong = not same_product(text, ck.name) and not same_product(text, ck.category.replace("_", " "))
        elif rule == "object.parts":
            wrong = part_contradicted(ck.parts, [t for t in texts if t], text)
        elif rule in ("object.shape", "object.materials", "object.colors"):
            attr = rule.split(".")[1]
            own = getattr(ck, attr)
            own = [own] if isinstance(own, str) else list(own)
            wrong = contradicted(attr, own, text, ck.kind)
        elif rule.startswith("analysis."):
            wrong = contradicted(rule.split(".")[1], [answer], text) and not names_product(text, products)
        elif rule.startswith("defect_type"):
            true = next((dk for k, dk in ck.defects.items()
                         if answer.lower() in (dk.name.lower(), k.replace("_", " "))), None)
            names = [true.name, *true.synonyms] if true else [answer]
            wrong = not any(n.lower() == text.lower() for n in names) and not names_product(text, products)
            if wrong and true is not None and true.cause and not _own_type(ck, text):
                causes = [dk.cause for c in others for dk in c.defects.values() if dk.name.lower() == text.lower()]
                wrong = bool(causes) and all(contradicted("cause", [true.cause], c) for c in causes)
        else:
            return None
        if not wrong:
            bad.append(L)
    return {"defensible": ([q.answer] if answer_ok else []) + bad, "uncertain": [], "measured": {}}


def _answer_matches(q: Question, ck, rule: str, answer: str) -> bool:
    """The answer agrees with the knowledge of the defect type named by the image's folder (MVTec-style
    keys ``.../<defect>/<file>``), where that folder is one of the category's defect types."""
    folder = q.image.replace("\\", "/").split("/")[-2] if q.image.count("/") >= 2 else ""
    dk = ck.defects.get(folder)
    if dk is None or not (rule.startswith("analysis.") or rule.startswith("defect_type")):
        return True
    norm = lambda t: " ".join(t.lower().replace("_", " ").rstrip(".").split())  # noqa: E731
    if rule.startswith("analysis."):
        return norm(answer) == norm(getattr(dk, rule.split(".")[1]) or "")
    return norm(answer) in {norm(dk.name), norm(folder)}


def _own_type(ck, text: str) -> bool:
    return any(text.lower() in (dk.name.lower(), k.replace("_", " ")) for k, dk in ck.defects.items())


# -- the report ----------------------------------------------------------------------------------------
def answerability(qs: QuestionSet, root: Path | None = None, knowledge=None, examples: int = 5,
                  margins: Margins | None = None) -> dict:
    """Per rule: questions checked, with a second defensible option, with an answer value within the
    margin, and examples; plus what could not be checked and why. ``margins``: check every question
    against these instead of the margins it records."""
    images = _Images(Path(root)) if root else None
    rules: dict = defaultdict(lambda: {"questions": 0, "checked": 0, "second_defensible": 0, "within_margin": 0,
                                       "answer_not_defensible": 0, "examples": []})
    unchecked: dict = defaultdict(int)
    for entry in qs.entries.values():
        for q in entry.questions:
            rule = q.provenance.get("rule") or q.type
            r = rules[rule]
            r["questions"] += 1
            try:
                res = _check(with_removed_option(q), entry, images, knowledge, margins)
            except DataError as e:
                res = {"skipped": f"unreadable file: {e}"}
            if res is None or "skipped" in res:
                unchecked[(res or {}).get("skipped") or _why_unchecked(q, images, knowledge)] += 1
                continue
            r["checked"] += 1
            second, wrong = _verdict(q, res["defensible"])
            r["second_defensible"] += second
            r["within_margin"] += bool(res["uncertain"])
            r["answer_not_defensible"] += wrong
            if (second or wrong or res["uncertain"]) and len(r["examples"]) < examples:
                r["examples"].append({"qid": q.qid, "answer": q.answer, "defensible": res["defensible"],
                                      "uncertain": res["uncertain"], "measured": res["measured"],
                                      "options": dict(q.options)})
    total = {k: sum(r[k] for r in rules.values())
             for k in ("questions", "checked", "second_defensible", "within_margin", "answer_not_defensible")}
    return {"rules": dict(sorted(rules.items())), "total": total, "unchecked": dict(unchecked)}


def _verdict(q: Question, defensible: list) -> tuple[bool, bool]:
    """(a second option is defensible, the answer is not). With a none option ("None of the listed
    choices."): an unanswerable question is right when no listed option is defensible (its true one was
    removed), and the none option never counts as a second defensible one."""
    none = none_letter(q.options)
    listed = [x for x in defensible if x not in (none, HIDDEN)]
    if none is not None and q.answer == none:
        return False, bool(listed)
    return len(listed) > 1, q.answer not in listed


def _why_unchecked(q: Question, images, knowledge) -> str:
    if q.type == "Anomaly Detection":
        return "Anomaly Detection: yes/no by the label"
    if not q.provenance:
        return "no provenance (a file not generated by mmad-eval, e.g. MMAD's own): no rule to check against"
    if q.type in ("Defect Description", "Defect Localization") and images is None:
        return "no data root to read masks and images from (--data)"
    if knowledge is None:
        return "no knowledge file (--knowledge)"
    return f"{q.type}: no check for rule {q.provenance.get('rule') or '(none: not generated by us)'}"


def _check(q: Question, entry, images, knowledge, margins=None) -> dict | None:
    if q.type == "Defect Description" and images is not None and entry.mask_path and q.provenance:
        return _description(q, entry, images, margins)
    if q.type == "Defect Localization" and images is not None and entry.mask_path and q.provenance:
        return _localization(q, entry, images, margins)
    if knowledge is not None and q.provenance:
        return _knowledge_check(q, knowledge)
    return None


def format_answerability(rep: dict) -> str:
    t = rep["total"]
    lines = [f"\nAnswerability (exactly one defensible option, with margins): {t['checked']} of {t['questions']} "
             f"questions checked",
             f"  {'rule':<30} {'checked':>8} {'2nd defensible':>15} {'within margin':>14} {'answer wrong':>13}"]
    for rule, r in rep["rules"].items():
        if r["checked"]:
            lines.append(f"  {rule:<30} {r['checked']:>8} {r['second_defensible']:>15} {r['within_margin']:>14} "
                         f"{r['answer_not_defensible']:>13}")
    lines.append(f"  {'total':<30} {t['checked']:>8} {t['second_defensible']:>15} {t['within_margin']:>14} "
                 f"{t['answer_not_defensible']:>13}")
    for why, n in sorted(rep["unchecked"].items()):
        lines.append(f"  not checked: {n} ({why})")
    for rule, r in rep["rules"].items():
        for ex in r["examples"][:3]:
            lines.append(f"  e.g. {rule} {ex['qid']}: answer {ex['answer']}, defensible {ex['defensible']}, "
                         f"uncertain {ex['uncertain']}, measured {ex['measured']}")
    return "\n".join(lines)
