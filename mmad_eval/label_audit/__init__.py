"""Audit a question set's own labels against its images and masks (``mmad-eval audit Q --labels``).

Checks (each flag carries numbers as evidence and a suggested fix; see the modules):
- ``image_category`` / ``reference_category`` / ``duplicate_image`` (images.py, by embedding);
- ``localization``: Defect Localization options against the mask (localization.py, spatial.py);
- ``label_mask`` and ``giveaway`` (labels.py).
Flags become errata entries with status ``suspect`` (errata/model.py) for a person to confirm or reject.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errata.model import entry_id
from ..questions.model import QuestionSet

CHECKS = ("image_category", "reference_category", "localization", "label_mask", "duplicate_image", "giveaway")


@dataclass
class AuditResult:
    flags: list[dict]
    unchecked: list[dict]                         # Defect Localization questions the mask cannot decide
    summary: dict
    errors: dict[str, str] = field(default_factory=dict)   # key -> unreadable image/mask message


def audit_labels(qs: QuestionSet, data_root: Path, *, embedder: str = "builtin",
                 checks: tuple[str, ...] = CHECKS) -> AuditResult:
    from . import images, labels, localization
    from .masks import MaskCache, Outlines, normal_pools

    root = Path(data_root)
    pools = normal_pools(qs)
    flags: list[dict] = []
    unchecked: list[dict] = []
    errors: dict[str, str] = {}
    if {"image_category", "reference_category", "duplicate_image"} & set(checks):
        emb = images.Embeddings(root, embedder)
        emb.add([k for p in pools.values() for k in p])
        emb.add(qs.entries)
        emb.add(r for e in qs.entries.values() for r in e.similar_templates + e.random_templates)
        errors.update(emb.errors)
        aff = images.Affinity(emb, pools)
        if "image_category" in checks:
            flags += images.image_category_flags(qs, aff)
        if "reference_category" in checks:
            flags += images.reference_flags(qs, aff)
        if "duplicate_image" in checks:
            flags += images.duplicate_flags(qs, emb)
    masks = MaskCache(root)
    if "localization" in checks:
        outlines = Outlines(root, pools)
        for e in qs.entries.values():
            verdict = localization.check_entry(e, masks, outlines)
            flags += verdict.flags
            unchecked += verdict.unchecked
    if "label_mask" in checks:
        flags += labels.label_flags(qs, masks)
    if "giveaway" in checks:
        flags += labels.giveaway_flags(qs)
    errors.update(masks.errors)
    entries = [{"id": entry_id(f["check"], f["target"]), "check": f["check"], "status": "suspect",
                "target": f["target"], "message": f["message"], "evidence": f["evidence"], "fix": f["fix"]}
               for f in flags]
    entries = list({e["id"]: e for e in entries}.values())
    n_dl = sum(q.type == "Defect Localization" for q in qs.questions())
    summary = {"images": len(qs.entries), "questions": len(qs), "embedder": embedder, "checks": list(checks),
               "flags": {c: sum(e["check"] == c for e in entries) for c in checks},
               "images_flagged": len({i for e in entries for i in e["target"]["images"]}),
               "localization": {"questions": n_dl, "unchecked": len(unchecked)},
               "unreadable": len(errors),
               "thresholds": {"embedding_top_k": images.K, "category_margin": images.MARGIN,
                              "near_duplicate_cosine": images.NEAR_DUPLICATE,
                              "answer_region_tolerance": localization.TOL,
                              "answer_untouched_below": localization.UNTOUCHED,
                              "distractor_occupied_from": localization.OCCUPIED, "mask_side": 128}}
    return AuditResult(flags=entries, unchecked=unchecked, summary=summary, errors=errors)
