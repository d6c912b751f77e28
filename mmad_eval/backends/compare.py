"""``compare``: a built-in baseline that uses every training-free help it is given, each for a visible reason.

It is what the demo ablates, so that the arms differ and each delta has a cause one can read:

* **Anomaly Detection / Defect Localization.** With an expert hint in the prompt it follows the hint (the
  verdict "likely defective/normal", the location phrase). Otherwise, with normal reference images shown, it
  compares the query with them: every 8x8 patch of a 64x64 thumbnail is described by its mean colour and
  texture (luminance spread and gradients), and the query's most unusual patch (largest distance to the
  nearest reference patch) decides: defective when that distance is over :data:`THRESHOLD`, located in the
  3x3 zone of that patch. With neither, the text prior below.
* **Every other subtask.** With domain knowledge in the prompt: the option sharing the most content words
  with the category's knowledge text (ties: the text prior among the tied). Without: the text prior.
* **Text prior** (the ``blind`` rule): the longest option text, first shown on ties.

Each answer records its basis (``extra["basis"]``: ``hint``, ``references``, ``knowledge`` or ``text prior``);
a reference comparison also records its patch distance as the image score, so Anomaly Detection gets an ROC.
"""
from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict

import numpy as np
from PIL import Image

from ..errors import MmadError
from ..prompt.message import Request
from .base import Response
from .baselines import _Baseline, best_location_option, option_texts, yes_no_option

THUMB, CELL, STRIDE = 64, 8, 4
THRESHOLD = 0.07     # patch distance above which a query patch is unlike every reference patch
_ZONES_Y, _ZONES_X = ("top", "middle", "bottom"), ("left", "center", "right")
_VERDICT = re.compile(r"verdict: likely (defective|normal)|mask of this image (is empty|marks a defect)")
_WHERE = re.compile(r"\bin the ([a-z ]+?) of the image")
_WORD = re.compile(r"[a-z]{4,}")
_SHARED_MAX = 4096        # images whose patch features are kept for every compare backend of this process
_SHARED: OrderedDict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = OrderedDict()   # (settings, sha) ->
_SHARED_LOCK = threading.Lock()
_STOP = {"with", "that", "this", "from", "have", "there", "their", "which", "image", "object", "other",
         "some", "into", "than", "when", "where", "what", "does", "will", "more", "most", "only", "about"}


def patch_features(image: Image.Image) -> tuple[np.ndarray, np.ndarray]:
    """(patch features N x 6, patch centres N x 2 as fractions of height and width) of a 64x64 thumbnail."""
    a = np.asarray(image.convert("RGB").resize((THUMB, THUMB), Image.Resampling.BOX), np.float32) / 255.0
    lum = a.mean(axis=2)
    feats, centres = [], []
    for y in range(0, THUMB - CELL + 1, STRIDE):
        for x in range(0, THUMB - CELL + 1, STRIDE):
            patch, lp = a[y:y + CELL, x:x + CELL], lum[y:y + CELL, x:x + CELL]
            feats.append([*patch.reshape(-1, 3).mean(axis=0), lp.std(), np.abs(np.diff(lp, axis=0)).mean(),
                          np.abs(np.diff(lp, axis=1)).mean()])
            centres.append(((y + CELL / 2) / THUMB, (x + CELL / 2) / THUMB))
    return np.asarray(feats, np.float32), np.asarray(centres, np.float32)


def zone_phrase(y: float, x: float) -> str:
    """The 3x3 zone of a point given as fractions of height and width: 'top left', 'center', ..."""
    row, col = _ZONES_Y[min(2, int(y * 3))], _ZONES_X[min(2, int(x * 3))]
    return "center" if (row, col) == ("middle", "center") else f"{row} {col}"


def hint_reading(text: str | None) -> tuple[bool | None, str | None]:
    """(verdict, location phrase) read from an expert hint's text; None where the hint does not say."""
    if not text:
        return None, None
    m = _VERDICT.search(text)
    verdict = None if m is None else (m.group(1) == "defective" or m.group(2) == "marks a defect")
    where = _WHERE.search(text)
    return verdict, (where.group(1) if where else None)


def text_prior(options: dict[str, str], letters=None) -> str | None:
    shown = [x for x in (letters or options) if x in options]
    return max(shown, key=lambda x: len(options[x])) if shown else None


def knowledge_choice(options: dict[str, str], knowledge: str) -> str | None:
    """The option sharing the most content words with the knowledge text (None when no option shares any);
    ties go to the text prior among the tied."""
    known = set(_WORD.findall(knowledge.lower())) - _STOP
    shared = {x: len((set(_WORD.findall(t.lower())) - _STOP) & known) for x, t in options.items()}
    best = max(shared.values(), default=0)
    return text_prior(options, [x for x, n in shared.items() if n == best]) if best > 0 else None


class CompareBackend(_Baseline):
    """Image comparison with the shown references, domain knowledge and expert hints (see the module doc)."""

    kind = "compare"
    sees_images = True

    def __init__(self, model, generation, images, **options):
        super().__init__(model, generation, images, **options)
        self._settings = json.dumps(images.settings.as_dict(), sort_keys=True, default=str)

    def answer_options(self) -> dict:
        return {"threshold": THRESHOLD, "thumbnail": THUMB, "cell": CELL}

    def features(self, sha: str) -> tuple[np.ndarray, np.ndarray]:
        """An image's patch features, computed once per image (and image settings) in this process: the
        ablation's arms and every question about the image share them."""
        key = (self._settings, sha)
        with _SHARED_LOCK:
            hit = _SHARED.get(key)
            if hit is not None:
                _SHARED.move_to_end(key)
                return hit
        found = patch_features(self.images.pil(sha))
        with _SHARED_LOCK:
            _SHARED[key] = found
            while len(_SHARED) > _SHARED_MAX:
                _SHARED.popitem(last=False)
        return found

    def comparison(self, request: Request) -> tuple[float, str] | None:
        """(largest query patch distance to the nearest reference patch, its zone) or None without references."""
        parts = request.images()
        refs = [p.sha256 for p in parts if p.role == "template"]
        query = next((p.sha256 for p in parts if p.role == "query"), None)
        if not refs or query is None:
            return None
        bank = np.concatenate([self.features(r)[0] for r in refs])
        feats, centres = self.features(query)
        dist = np.sqrt(((feats[:, None, :] - bank[None, :, :]) ** 2).sum(axis=-1)).min(axis=1)
        worst = int(dist.argmax())
        return float(dist[worst]), zone_phrase(*centres[worst])

    def answer(self, key: str, request: Request) -> Response:
        meta = request.meta if isinstance(request.meta, dict) else {}
        questions = meta.get("questions") or [{"type": meta.get("type"), "options": request.options[0]
                                               if request.options else ()}]
        texts = option_texts(request)
        try:
            compared = self.comparison(request) if any(
                q.get("type") in ("Anomaly Detection", "Defect Localization") for q in questions) else None
        except MmadError as e:
            return Response(key=key, error_type="data_error", error_message=str(e))
        answers, extra = [], {}
        for q in questions:
            shown = q.get("options") or texts
            options = dict(shown) if isinstance(shown, dict) else {x: texts.get(x, "") for x in shown}
            letter, extra = self._choose(q.get("type"), options, meta, compared)
            if letter is None:
                return Response(key=key, error_type="bad_input", error_message="request shows no options")
            answers.append(letter)
        text = answers[0] if len(answers) == 1 else "\n".join(f"{i}. {a}" for i, a in enumerate(answers, 1))
        lps = {answers[0]: 0.0} if self.generation.letter_probs and len(answers) == 1 else None
        return Response(key=key, text=text, extra=extra if len(answers) == 1 else {}, letter_logprobs=lps)

    def _choose(self, qtype, options: dict[str, str], meta: dict, compared) -> tuple[str | None, dict]:
        verdict, where = hint_reading(meta.get("hint_text"))
        if qtype == "Anomaly Detection":
            if verdict is not None:
                return yes_no_option(verdict, options) or text_prior(options), {"basis": "hint", "verdict": verdict}
            if compared is not None:
                score, _ = compared
                extra = {"basis": "references", "score": score, "threshold": THRESHOLD,
                         "verdict": score > THRESHOLD, "score_source": "reference comparison"}
                return yes_no_option(score > THRESHOLD, options) or text_prior(options), extra
        elif qtype == "Defect Localization":
            if where:
                return best_location_option(where, options) or text_prior(options), {"basis": "hint", "location": where}
            if compared is not None:
                zone = compared[1]
                return best_location_option(zone, options) or text_prior(options), {"basis": "references",
                                                                                     "location": zone}
        elif meta.get("knowledge"):
            letter = knowledge_choice(options, meta["knowledge"])
            if letter is not None:
                return letter, {"basis": "knowledge"}
        return text_prior(options), {"basis": "text prior"}
