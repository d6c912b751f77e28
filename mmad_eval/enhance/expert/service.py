"""ExpertService: per-query expert analyses for a question set (built-in detector, oracle or anomalib).

Normal references of a query are the union of the ``similar_templates`` and ``random_templates`` of every
entry of its (dataset, category), de-duplicated and sorted, without any image that is itself a query;
above ``max_references`` a seeded sample is kept. The detector is fitted once per category, on first use;
results are cached per query key (a bounded LRU, since maps are full-size).
"""
from __future__ import annotations

import dataclasses
import hashlib
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np
from PIL import Image

from ...errors import ConfigError, DataError
from ...imageio import load_image, open_image
from ...settings import EXPERT_KINDS
from ...paths import safe_join
from ...questions.model import QuestionSet, split_key
from .detector import Detector, DetectorSettings
from .oracle import oracle_result
from .result import ExpertResult, boxes_and_location

KINDS = EXPERT_KINDS
_FITTED_MAX = 64
# Fitted detectors shared by every service of this process (an evaluation and its ablation arms, the expert
# baseline and the hint renderer), keyed by what determines the fit: kind, settings and the reference
# files' identities. Fitting costs seconds per category; predicting, tens of milliseconds per image.
_FITTED: OrderedDict[tuple, object] = OrderedDict()
_FITTED_LOCK = threading.Lock()


_RESULTS_MAX_BYTES = 256 * 2**20
# Results of a shared detector on a query file, shared the same way (bounded by the maps' bytes).
_RESULTS: OrderedDict[tuple, tuple] = OrderedDict()
_RESULTS_BYTES = [0]


def _shared_result(det, path: Path, compute, variant=None) -> ExpertResult:
    st = path.stat() if path.exists() else None
    key = (id(det), str(path), st.st_size if st else None, st.st_mtime_ns if st else None, variant)
    with _FITTED_LOCK:
        hit = _RESULTS.get(key)
        if hit is not None and hit[0] is det:
            _RESULTS.move_to_end(key)
            return hit[1]
    result = compute()
    with _FITTED_LOCK:
        _RESULTS[key] = (det, result)      # the detector is kept with its results, so its id is not reused
        _RESULTS_BYTES[0] += result.anomaly_map.nbytes
        while _RESULTS_BYTES[0] > _RESULTS_MAX_BYTES and len(_RESULTS) > 1:
            _, (_, old) = _RESULTS.popitem(last=False)
            _RESULTS_BYTES[0] -= old.anomaly_map.nbytes
    return result


def _fit_key(kind: str, settings, paths: list[Path]) -> tuple:
    ids = []
    for p in paths:
        try:
            st = p.stat()
            ids.append((str(p), st.st_size, st.st_mtime_ns))
        except OSError:
            ids.append((str(p), None, None))
    return kind, repr(settings), tuple(ids)

__all__ = ["ExpertService", "ExpertResult", "KINDS", "load_rgb"]


def load_rgb(path: Path) -> np.ndarray:
    """An image file as H x W x 3 uint8; DataError naming the file when missing or unreadable."""
    return np.asarray(load_image(path, mode="RGB"))


class ExpertService:
    def __init__(self, data_root: Path, questions: QuestionSet, kind: str = "builtin",
                 settings: DetectorSettings | None = None, max_references: int = 10, seed: int = 0,
                 cache_size: int = 64, perturb: tuple[str, int] | None = None):
        if kind not in KINDS and not kind.startswith("maps:"):
            raise ConfigError(f"unknown expert kind; choose one of {', '.join(KINDS)} or maps:DIR", culprit=kind)
        self.maps = None
        if kind.startswith("maps:"):            # a detector's own maps and scores (see .maps)
            from .maps import MapsFolder

            self.maps = MapsFolder(Path(kind[len("maps:"):]))
        self.data_root = Path(data_root)
        self.questions = questions
        self.kind = kind
        self.perturb = perturb if perturb and perturb[0] else None   # (perturbations, seed): what the model sees
        self.settings = settings or DetectorSettings()
        self.max_references = max_references
        self.seed = seed
        self.cache_size = cache_size
        self.fits = 0                                    # detectors this service fitted (others reused)
        self.left_out: list[tuple[str, str]] = []         # (reference file, why) left out of a detector fit
        self._detectors: dict[tuple[str, str], object] = {}
        self._results: OrderedDict[str, ExpertResult] = OrderedDict()
        self._lock = threading.RLock()
        self._fit_locks: dict[tuple[str, str], threading.Lock] = {}
        self._by_category: dict[tuple[str, str], list[str]] = {}

    # -- references and detectors ------------------------------------------------------------------
    def references(self, dataset: str, category: str) -> list[str]:
        """The normal reference keys used to fit the category's detector."""
        entries = [e for e in self.questions.entries.values() if split_key(e.key) == (dataset, category)]
        queries = {e.key for e in entries}
        pool = sorted({t for e in entries for t in (*e.similar_templates, *e.random_templates)} - queries)
        if len(pool) > self.max_references:
            rng = np.random.default_rng(self.seed)
            pool = sorted(pool[i] for i in rng.choice(len(pool), self.max_references, replace=False))
        return pool

    def detector(self, dataset: str, category: str):
        """The category's fitted detector (fitted on first call, then reused)."""
        cat = (dataset, category)
        with self._lock:
            det = self._detectors.get(cat)
            if det is not None:
                return det
            lock = self._fit_locks.setdefault(cat, threading.Lock())
        with lock:
            with self._lock:
                if cat in self._detectors:
                    return self._detectors[cat]
            refs = self.references(dataset, category)
            if len(refs) < 2:
                raise DataError("the expert needs at least 2 normal template images for this category "
                                f"(found {len(refs)})", culprit=f"{dataset}/{category}")
            paths = [safe_join(self.data_root, r, what="template path") for r in refs]
            key = _fit_key(self._fit_kind, self.settings, paths)
            with _FITTED_LOCK:
                det = _FITTED.get(key)
            if det is None:
                images = self._fit_images(cat, paths)
                if self._fit_kind == "anomalib":
                    from .anomalib_expert import AnomalibDetector

                    det = AnomalibDetector().fit(images)
                else:
                    det = Detector(self.settings).fit(images)
                with self._lock:
                    self.fits += 1
                with _FITTED_LOCK:
                    _FITTED[key] = det
                    while len(_FITTED) > _FITTED_MAX:
                        _FITTED.popitem(last=False)
            with self._lock:
                self._detectors[cat] = det
            return det

    def _fit_images(self, cat: tuple[str, str], paths: list[Path]) -> list[np.ndarray]:
        """The readable reference images; a bad one (missing, empty, corrupt, a bomb) is left out of the fit
        and recorded in ``left_out``, it does not fail the category (unless fewer than 2 remain)."""
        images = []
        for p in paths:
            try:
                images.append(load_rgb(p))
            except DataError as e:
                with self._lock:
                    self.left_out.append((str(p), str(e)))
        if len(images) < 2:
            raise DataError(f"the expert needs at least 2 readable normal template images for this category "
                            f"(found {len(images)} of {len(paths)}; left out: "
                            f"{'; '.join(m for _, m in self.left_out[-2:])})", culprit="/".join(cat))
        return images

    # -- analysis ----------------------------------------------------------------------------------
    def analyze(self, key: str) -> ExpertResult:
        """The expert's result for a query key of the question set (cached)."""
        with self._lock:
            hit = self._results.get(key)
            if hit is not None:
                self._results.move_to_end(key)
                return hit
        entry = self.questions.entries.get(key)
        if entry is None:
            raise DataError("not a query of the question set", culprit=key)
        if self.kind == "oracle":
            result = oracle_result(self.data_root, entry)
        elif self.maps is not None:
            result = self.maps.result(self.data_root, key)
        elif self.kind == "misleading":
            result = self._misleading(key, entry)
        else:
            result = self._detect(key)
        with self._lock:
            self._results[key] = result
            while len(self._results) > self.cache_size:
                self._results.popitem(last=False)
        return result

    @property
    def _fit_kind(self) -> str:
        return "builtin" if self.kind == "misleading" else self.kind

    def _misleading(self, key: str, entry) -> ExpertResult:
        """A deliberately wrong hint, to measure how blindly a model follows hints: the built-in detector's
        analysis of another query of the category (a normal one for a defective query and the other way
        round, where there is one), drawn on this query. Its text does not say it is wrong."""
        cat = split_key(key)
        if cat not in self._by_category:
            self._by_category[cat] = sorted(k for k in self.questions.entries if split_key(k) == cat)
        same = [k for k in self._by_category[cat] if k != key]
        if not same:
            raise DataError("a misleading hint needs another query image of the category", culprit=key)
        opposite = [k for k in same if self.questions.entries[k].is_normal != entry.is_normal] or same
        pick = int.from_bytes(hashlib.sha256(f"{self.seed}|{key}".encode()).digest()[:8], "big")
        src = self._detect(opposite[pick % len(opposite)])
        with open_image(safe_join(self.data_root, key, what="query image"), what="query image") as im:
            width, height = im.size
        amap = src.anomaly_map
        if amap.shape != (height, width):
            amap = np.asarray(Image.fromarray(amap).resize((width, height), Image.Resampling.BILINEAR))
        boxes, location = boxes_and_location(amap)
        return dataclasses.replace(src, kind="misleading", anomaly_map=amap, boxes=boxes, location=location,
                                   rendered={})

    def _detect(self, key: str) -> ExpertResult:
        dataset, category = split_key(key)
        det = self.detector(dataset, category)
        path = safe_join(self.data_root, key, what="query image")
        return _shared_result(det, path, lambda: self._predict(det, path), self.perturb)

    def _predict(self, det, path: Path) -> ExpertResult:
        image = load_rgb(path)
        if self.perturb is not None:     # a robustness run: the query as the model sees it (prompt/perturb.py)
            from ...prompt.perturb import perturb_image

            salt = hashlib.sha256(path.read_bytes()).hexdigest()
            image = np.asarray(perturb_image(Image.fromarray(image), self.perturb[0], self.perturb[1], salt))
        amap, score = det.predict(image)
        threshold = float(det.threshold)
        unit_map = (amap / threshold).astype(np.float32) if threshold > 0 else amap
        boxes, location = boxes_and_location(unit_map)
        return ExpertResult(kind=self.kind, score=float(score), threshold=threshold,
                            normal_range=det.normal_range, verdict=bool(score > threshold),
                            anomaly_map=unit_map, boxes=boxes, location=location,
                            references=det.n_references, map_threshold=1.0,
                            variant=getattr(getattr(det, "calibration", None), "variant", ""))
