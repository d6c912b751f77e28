"""Image-level checks by embedding: image vs its category, references vs the query, duplicate images.

Each category's normal pool (``masks.normal_pools``) is embedded once. An image's affinity to a category is
the mean cosine similarity to its ``K`` most similar pool images (the image itself left out). An image is
flagged when another category's affinity beats its own by more than ``MARGIN``; categories of the same name
in different datasets (DS-MVTec/bottle and MVTec-AD/bottle) count as one. A query is flagged for each
reference that looks like a category the query clearly does not (by ``MARGIN`` both ways).
Duplicates: identical file bytes, or near-identical embeddings whose decoded pixels are equal.
"""
from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..paths import safe_join
from ..questions.model import QuestionSet, split_key
from ..retrieval.embed import make_embedder

K = 3
MARGIN = 0.1        # affinity margin (cosine) another category must win by: on the clean synthetic sets the
                    # largest was 0.06; 56 of 60 moved images exceed 0.1 (docs/benchmarks.md, "Label audit")
NEAR_DUPLICATE = 0.9995


class Embeddings:
    """Embeddings of keys under a data root, computed in batches; unreadable files are recorded."""

    def __init__(self, root: Path, embedder: str = "builtin"):
        self.root, self.name = Path(root), embedder
        self._embedder = make_embedder(embedder)
        self.vectors: dict[str, np.ndarray] = {}
        self.errors: dict[str, str] = {}

    def add(self, keys) -> None:
        todo = [k for k in dict.fromkeys(keys) if k not in self.vectors and k not in self.errors]
        for i in range(0, len(todo), 256):
            chunk = todo[i:i + 256]
            try:
                rows = self._embedder.embed([safe_join(self.root, k, what="image path") for k in chunk])
                self.vectors.update(zip(chunk, rows))
            except DataError:
                for k in chunk:              # find the bad file(s) one by one
                    try:
                        self.vectors[k] = self._embedder.embed([safe_join(self.root, k, what="image path")])[0]
                    except DataError as e:
                        self.errors[k] = str(e)


def _same_name(a: str, b: str) -> bool:
    return a.split("/", 1)[-1] == b.split("/", 1)[-1]


class Affinity:
    """Mean top-K similarity of any embedded key to each category's normal pool."""

    def __init__(self, emb: Embeddings, pools: dict[str, list[str]]):
        self.emb = emb
        self.cats, self.mats, self.keys = [], [], []
        for cat, keys in sorted(pools.items()):
            keys = [k for k in keys if k in emb.vectors]
            if keys:
                self.cats.append(cat)
                self.keys.append(keys)
                self.mats.append(np.stack([emb.vectors[k] for k in keys]))

    def scores(self, key: str) -> dict[str, float]:
        v = self.emb.vectors[key]
        out = {}
        for cat, keys, mat in zip(self.cats, self.keys, self.mats):
            sims = mat @ v
            if key in keys:
                sims = np.delete(sims, keys.index(key))
            if sims.size:
                out[cat] = float(np.sort(sims)[-K:].mean())
        return out

    def nearest(self, key: str, own: str) -> tuple[str, float, float, dict]:
        """(nearest other category, its affinity, own affinity, the top-3 affinities)."""
        s = self.scores(key)
        others = {c: v for c, v in s.items() if not _same_name(c, own)}
        best = max(others, key=others.get) if others else ""
        top = dict(sorted(s.items(), key=lambda kv: -kv[1])[:3])
        return best, others.get(best, float("nan")), s.get(own, float("nan")), top


def image_category_flags(qs: QuestionSet, aff: Affinity) -> list[dict]:
    flags = []
    for key in qs.entries:
        if key not in aff.emb.vectors:
            continue
        own = "/".join(split_key(key))
        best, other, mine, top = aff.nearest(key, own)
        if best and not np.isnan(mine) and other - mine > MARGIN:
            flags.append({"check": "image_category", "target": {"images": [key]},
                          "message": f"the image looks like {best} (affinity {other:.3f}) more than its own "
                                     f"category {own} ({mine:.3f}), margin {other - mine:.3f}",
                          "evidence": {"category": own, "nearest_category": best, "affinity_own": round(mine, 4),
                                       "affinity_nearest": round(other, 4), "margin": round(other - mine, 4),
                                       "top": {c: round(v, 4) for c, v in top.items()}, "k": K},
                          "fix": {"action": "exclude", "why": f"the image is filed under {own} but shows "
                                  f"{best.split('/')[-1]}: move it to {best} or replace the file"}})
    return flags


def _looks_like(aff: Affinity, key: str) -> tuple[str, dict[str, float]]:
    s = aff.scores(key)
    return (max(s, key=s.get) if s else ""), s


def reference_flags(qs: QuestionSet, aff: Affinity) -> list[dict]:
    """Queries with reference images of another category: a reference is wrong when it looks like a category
    that the query clearly does not (by MARGIN, both ways: the query nearer its own look, the reference
    nearer its own)."""
    flags, cache = [], {}
    for key, e in qs.entries.items():
        refs = [r for r in dict.fromkeys(e.similar_templates + e.random_templates) if r in aff.emb.vectors]
        if key not in aff.emb.vectors or not refs:
            continue
        q_cat, q_scores = _looks_like(aff, key)
        bad = []
        for r in refs:
            if r not in cache:
                cache[r] = _looks_like(aff, r)
            r_cat, r_scores = cache[r]
            if r_cat and q_cat and not _same_name(r_cat, q_cat) \
                    and q_scores[q_cat] - q_scores.get(r_cat, 0.0) > MARGIN \
                    and r_scores[r_cat] - r_scores.get(q_cat, 0.0) > MARGIN:
                bad.append((r, r_cat))
        if not bad:
            continue
        ref_cat, n = Counter(c for _, c in bad).most_common(1)[0]
        margin = q_scores[q_cat] - q_scores.get(ref_cat, 0.0)
        sims = [float(aff.emb.vectors[r] @ aff.emb.vectors[key]) for r in refs]
        flags.append({"check": "reference_category", "target": {"images": [key]},
                      "message": f"the query looks like {q_cat} but {len(bad)} of its {len(refs)} reference "
                                 f"image(s) look like {ref_cat} (margin {margin:.3f})",
                      "evidence": {"query_looks_like": q_cat, "references_look_like": ref_cat,
                                   "references": len(refs), "references_wrong": [r for r, _ in bad],
                                   "margin": round(margin, 4),
                                   "query_reference_similarity": round(float(np.mean(sims)), 4),
                                   "filed_under": "/".join(split_key(key))},
                      "fix": {"action": "replace_references", "category": q_cat, "drop": [r for r, _ in bad],
                              "why": f"reference images should show {q_cat.split('/')[-1]}"}})
    return flags


def _pixels_sha(root: Path, key: str) -> str | None:
    from ..imageio import open_image

    try:
        with open_image(safe_join(root, key)) as im:      # over the pixel limit: refused from the header
            return hashlib.sha256(im.convert("RGB").tobytes() + repr(im.size).encode()).hexdigest()
    except (OSError, DataError):
        return None


def duplicate_flags(qs: QuestionSet, emb: Embeddings) -> list[dict]:
    """Query keys whose image content equals an earlier key's (bytes, or pixels after re-encoding)."""
    keys = [k for k in qs.entries if k in emb.vectors]
    first: dict[str, str] = {}
    dup_of: dict[str, tuple[str, str]] = {}
    for k in keys:
        try:
            digest = hashlib.sha256(safe_join(emb.root, k).read_bytes()).hexdigest()
        except (OSError, DataError):
            continue
        if digest in first:
            dup_of[k] = (first[digest], "identical file bytes")
        else:
            first[digest] = k
    rest = [k for k in keys if k not in dup_of]
    pixels: dict[str, str | None] = {}

    def same_pixels(a: str, b: str) -> bool:
        for k in (a, b):
            if k not in pixels:
                pixels[k] = _pixels_sha(emb.root, k)
        return pixels[a] is not None and pixels[a] == pixels[b]

    if len(rest) > 1:
        mat = np.stack([emb.vectors[k] for k in rest])
        for i in range(0, len(rest), 512):
            sims = mat[i:i + 512] @ mat.T
            for a, b in zip(*np.nonzero(sims >= NEAR_DUPLICATE)):
                a += i
                if b < a and rest[a] not in dup_of and same_pixels(rest[a], rest[b]):
                    dup_of[rest[a]] = (rest[b], "identical pixels (different file bytes)")
    flags = []
    for k, (orig, how) in dup_of.items():
        same_label = qs.entries[k].is_normal == qs.entries[orig].is_normal
        same_cat = split_key(k) == split_key(orig)
        flags.append({"check": "duplicate_image", "target": {"images": [k]},
                      "message": f"same image as {orig} ({how})"
                                 + ("" if same_cat and same_label else "; filed under a different "
                                    + ("category" if not same_cat else "label")),
                      "evidence": {"duplicate_of": orig, "how": how, "same_category": same_cat,
                                   "same_label": same_label},
                      "fix": {"action": "exclude", "why": "the same picture is asked about twice"
                              + ("" if same_cat and same_label else " with contradicting labels")}})
    return flags
