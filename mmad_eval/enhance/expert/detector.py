"""The built-in, weight-free expert anomaly detector (PatchCore's idea with handcrafted features).

``Detector().fit(normal_images).predict(image) -> (map, score)``:

* patch memory: handcrafted stride-4 patch features (``features.py``), z-scored with the references'
  statistics after a global gain normalisation, in a memory bank (``memory.py``); the map is the 1-NN
  distance, upsampled and smoothed;
* alignment difference (``align.py``) for rigidly posed objects;
* variants: a weak (x, y) position term in the patch features, fusing the alignment map, dividing by the
  per-position variability of normal maps. With ``variant="auto"`` each category gets the variant that
  best finds synthetic defects pasted on held-out references (``calibrate.py``);
* calibration from leave-one-out maps of the references: each component map is divided by the mean
  maximum of its normal maps (so normal maps peak near 1), the fused map is the mean of the components,
  the image score its maximum, the image threshold the highest leave-one-out normal score.

``predict`` returns the map in the input image's pixel coordinates, in the same units as the score and the
threshold (its maximum is, up to resampling, the score).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image
from scipy import ndimage

from ...errors import DataError
from .align import SCALE as ALIGN_SCALE, AlignmentModel
from .calibrate import VARIANTS, Variant, auroc, paste_defect, variant_by_name
from .features import (STRIDE, WorkingShape, as_rgb_float, free_pose, gain_normalise, patch_features,
                       position_columns)
from .memory import MemoryBank


@dataclass(frozen=True)
class DetectorSettings:
    side: int = 256                 # working resolution: longest side in pixels
    max_bank: int = 10000           # memory-bank size after coreset subsampling
    position_weight: float = 8.0    # weight of the (x, y) columns (features are z-scored, ~unit spread)
    smooth: float = 2.0             # gaussian sigma (working pixels) applied to upsampled maps
    variant: str = "auto"           # "auto" or a variant name such as "knn", "knn+pos+align/var"
    defects_per_reference: int = 3  # synthetic defects pasted on each held-out reference (variant choice)
    seed: int = 0


@dataclass
class Calibration:
    variant: str
    threshold: float                        # image threshold: highest leave-one-out normal score
    normal_scores: list[float]              # leave-one-out scores of the references
    pixel_threshold: float                  # 99.9th percentile of leave-one-out normal map values
    scales: dict[str, float] = field(default_factory=dict)
    selection: dict[str, float] = field(default_factory=dict)   # variant -> synthetic image+pixel AUROC


SELECTION_MARGIN = 0.005   # in summed image+pixel AUROC on the pasted defects
PASTE_KINDS = 5            # kinds of synthetic defect (see ``paste_defect``)
# patch-memory components and whether each uses rotation-invariant features
_INVARIANT = {"knn": False, "knn_pos": False, "knn_rot": True}


def _components(v: Variant) -> list[str]:
    knn = "knn_rot" if v.rotation else ("knn_pos" if v.position else "knn")
    return [knn] + (["align"] if v.align else [])


class Detector:
    def __init__(self, settings: DetectorSettings | None = None):
        self.settings = settings or DetectorSettings()
        self.calibration: Calibration | None = None
        self.n_references = 0

    # -- public ------------------------------------------------------------------------------------
    def fit(self, normal_images: list[np.ndarray]) -> "Detector":
        """Build the memory, the alignment model and the calibration from normal images (at least 2)."""
        if len(normal_images) < 2:
            raise DataError("the expert detector needs at least 2 normal reference images",
                            culprit=f"{len(normal_images)} given")
        s = self.settings
        self.shape = WorkingShape.for_image(np.asarray(normal_images[0]).shape, s.side)
        raw = [as_rgb_float(im, self.shape) for im in normal_images]
        self.target_mean = float(np.mean([r.mean() for r in raw]))
        rgbs = [gain_normalise(r, self.target_mean) for r in raw]
        fixed = None if s.variant == "auto" else variant_by_name(s.variant)
        self.free_pose = free_pose(rgbs)
        # free pose: neither a position term nor alignment make sense, and rotation-invariant features may;
        # fixed pose (or no orientation at all): rotation invariance only throws information away
        candidates = [fixed] if fixed else [v for v in VARIANTS if (
            not (v.position or v.align) if self.free_pose else not v.rotation)]
        comps = sorted({c for v in candidates for c in _components(v)})
        self.pos = position_columns(self.shape, s.position_weight)
        self.stats: dict[bool, tuple[np.ndarray, np.ndarray]] = {}   # invariant? -> feature mean, sd
        z: dict[bool, list[np.ndarray]] = {}
        for inv in sorted({_INVARIANT[c] for c in comps if c in _INVARIANT}):
            feats = [patch_features(r, inv) for r in rgbs]
            stacked = np.concatenate(feats)
            self.stats[inv] = (stacked.mean(0), stacked.std(0) + 1e-4)
            z[inv] = [(f - self.stats[inv][0]) / self.stats[inv][1] for f in feats]
        self.banks: dict[str, MemoryBank] = {}
        for c in comps:
            if c in _INVARIANT:
                parts = z[_INVARIANT[c]]
                if c == "knn_pos":
                    parts = [np.concatenate([x, self.pos], 1) for x in parts]
                self.banks[c] = MemoryBank(parts, s.max_bank, s.seed)
        self.align = AlignmentModel(rgbs) if "align" in comps else None
        self.n_references = len(rgbs)

        normal, bases = zip(*[self._raw(r, comps, exclude=i) for i, r in enumerate(rgbs)])
        defects = []
        if fixed is None:
            rng = np.random.default_rng(s.seed)
            k = max(1, s.defects_per_reference)
            for i, r in enumerate(rgbs):
                for j in range(k):
                    bad, mask = paste_defect(r, rng, kind=(i * k + j) % PASTE_KINDS)
                    defects.append((i, self._raw(bad, comps, exclude=i, base=bases[i])[0], mask))
        self._calibrate(candidates, list(normal), defects)
        used = set(_components(self.variant))
        self.banks = {k: b for k, b in self.banks.items() if k in used}
        self.stats = {inv: st for inv, st in self.stats.items() if any(_INVARIANT.get(c) == inv for c in used)}
        if "align" not in used:
            self.align = None
        return self

    def predict(self, image: np.ndarray) -> tuple[np.ndarray, float]:
        """(anomaly map in the input's pixel coordinates, image score), in calibrated units."""
        if self.calibration is None:
            raise RuntimeError("Detector.predict called before fit")
        arr = np.asarray(image)
        rgb = gain_normalise(as_rgb_float(arr, self.shape), self.target_mean)
        raw, _ = self._raw(rgb, _components(self.variant))
        fused = self._fuse(raw, self.variant, self.norms, self.calibration.scales)
        score = float(fused.max())
        h, w = arr.shape[:2]
        if (h, w) != fused.shape:
            fused = np.asarray(Image.fromarray(fused, mode="F").resize((w, h), Image.Resampling.BILINEAR))
        return fused.astype(np.float32), score

    @property
    def threshold(self) -> float:
        return self.calibration.threshold

    @property
    def normal_range(self) -> tuple[float, float]:
        s = self.calibration.normal_scores
        return float(min(s)), float(max(s))

    # -- internals ---------------------------------------------------------------------------------
    def _upsample(self, grid: np.ndarray, factor: int) -> np.ndarray:
        big = np.repeat(np.repeat(grid, factor, 0), factor, 1)
        return ndimage.gaussian_filter(big, self.settings.smooth, mode="nearest").astype(np.float32)

    def _raw(self, rgb: np.ndarray, comps: list[str], exclude: int | None = None,
             base: dict | None = None) -> tuple[dict[str, np.ndarray], dict]:
        """Raw component maps at working resolution, and each patch component's (queries, grid distances).

        ``base``: that second value for the unaltered image this one was pasted on; only the patches that
        differ from it are searched again.
        """
        out, cache = {}, {}
        gh, gw = self.shape.grid
        z = {inv: (patch_features(rgb, inv) - mu) / sd for inv, (mu, sd) in self.stats.items()
             if any(_INVARIANT.get(c) == inv for c in comps)}
        for name in comps:
            if name not in _INVARIANT:
                continue
            q = z[_INVARIANT[name]]
            if name == "knn_pos":
                q = np.concatenate([q, self.pos], 1)
            bank = self.banks[name]
            if base is not None and name in base:
                d = bank.updated_distances(q, *base[name], exclude=exclude)
            else:
                d = bank.distances(q, exclude=exclude)
            cache[name] = (q, d)
            out[name] = self._upsample(d.reshape(gh, gw), STRIDE)
        if "align" in comps:
            out["align"] = self._upsample(self.align.difference_map(rgb, exclude=exclude), ALIGN_SCALE)
        return out, cache

    @staticmethod
    def _normaliser(total: np.ndarray, count: int) -> np.ndarray:
        p = ndimage.gaussian_filter(total / max(count, 1), 8.0, mode="nearest")
        p = p / max(float(p.mean()), 1e-9)
        return np.maximum(p, 0.25).astype(np.float32)

    @staticmethod
    def _fuse(raw: dict[str, np.ndarray], v: Variant, norms: dict[str, np.ndarray],
              scales: dict[str, float]) -> np.ndarray:
        parts = []
        for c in _components(v):
            m = raw[c] / norms[c] if v.per_position else raw[c]
            parts.append(m / scales[c])
        return (sum(parts) / len(parts)).astype(np.float32)

    def _calibrate(self, candidates, normal, defects) -> None:
        """Pick the variant that best finds the pasted ``defects`` (reference index, raw maps, mask) and
        calibrate it on the leave-one-out ``normal`` maps."""
        n = len(normal)
        totals = {c: sum(m[c] for m in normal) for c in normal[0]}
        loo_norms = [{c: self._normaliser(totals[c] - normal[i][c], n - 1) for c in totals} for i in range(n)]
        full_norms = {c: self._normaliser(totals[c], n) for c in totals}
        results = []
        for v in candidates:
            comps = _components(v)
            scales = {}
            for c in comps:
                peaks = [float((normal[i][c] / loo_norms[i][c] if v.per_position else normal[i][c]).max())
                         for i in range(n)]
                scales[c] = max(float(np.mean(peaks)), 1e-9)
            fused_n = [self._fuse(normal[i], v, loo_norms[i], scales) for i in range(n)]
            quality = 0.0
            if defects:
                fused_d = [self._fuse(maps, v, loo_norms[i], scales) for i, maps, _ in defects]
                img = auroc([0] * n + [1] * len(fused_d), [f.max() for f in fused_n + fused_d])
                labels = np.concatenate([np.zeros(fused_n[0][::2, ::2].size * n, bool)] +
                                        [m[::2, ::2].ravel() for _, _, m in defects])
                values = np.concatenate([f[::2, ::2].ravel() for f in fused_n + fused_d])
                quality = img + auroc(labels, values)
            results.append((quality, v, scales, fused_n))
        # a later (more elaborate) variant must win by a margin; otherwise the earlier, simpler one stays
        best = results[0]
        for r in results[1:]:
            if r[0] > best[0] + SELECTION_MARGIN:
                best = r
        quality, v, scales, fused_n = best
        self.variant = v
        self.norms = {c: full_norms[c] for c in _components(v)}
        self.calibration = Calibration(
            variant=v.name, threshold=float(max(f.max() for f in fused_n)),
            normal_scores=[float(f.max()) for f in fused_n],
            pixel_threshold=float(np.quantile(np.concatenate([f[::2, ::2].ravel() for f in fused_n]), 0.999)),
            scales=scales, selection={r[1].name: round(float(r[0]), 4) for r in results})
