"""Reference points every results table needs: chance, a text-only prior, and the expert detector alone.

All three answer with the option letter only. For a request that answers several questions (cumulative
mode) they answer one line per question, ``"1. B"``, in the order of ``Request.qids``.

* ``random``: uniform over the request's option letters, seeded by ``GenerationSettings.seed`` and the
  request key (the same run answers the same; another seed answers differently).
* ``blind``: never sees images. Rule: the option with the longest text (ties: the first shown), the classic
  test-taker's prior; for MMAD's yes/no anomaly question this always answers "Yes". Asked an open question
  (``--answer-format open``), it answers with that option's text.
* ``expert``: answers Anomaly Detection from the detector's verdict, Defect Localization from its 3x3
  location phrase and Defect Grounding with boxes from its map (:mod:`mmad_eval.enhance.expert.grounding`);
  abstains elsewhere with an EMPTY ANSWER TEXT (``text=""``, ``extra["abstain"]=True``).
  An empty text is a stored answer that no parser can read, so strict scoring counts it as unparsed (wrong)
  and a resumed run does not ask again (an error response would be retried).
"""
from __future__ import annotations

import asyncio
import hashlib
import math
import random
import re
from abc import abstractmethod
from pathlib import Path
from typing import Sequence

from ..errors import MmadError
from ..prompt.message import Request
from ..questions.grounding import GROUNDING
from .base import Backend, Emit, Response

_OPTION_LINE = re.compile(r"^\s*([A-Z])\s*[.:)]\s*(.+?)\s*$", re.M)
_LOCATION_WORDS = {"top": "top", "upper": "top", "bottom": "bottom", "lower": "bottom", "left": "left",
                   "right": "right", "center": "center", "centre": "center", "middle": "center",
                   "central": "center"}


def option_texts(request: Request) -> dict[str, str]:
    """letter -> option text: from ``meta["options"]``, else from ``A. text`` lines of the last user message."""
    opts = request.meta.get("options") if isinstance(request.meta, dict) else None
    if opts:
        return dict(opts)
    users = [m for m in request.messages if m.role == "user"]
    text = users[-1].text if users else ""
    return {letter: body for letter, body in _OPTION_LINE.findall(text)}


def _letters_per_question(request: Request) -> list[tuple[str, ...]]:
    if request.options:
        return [tuple(o) for o in request.options]
    return [tuple(option_texts(request))] * max(1, len(request.qids))


def _format(answers: list[str]) -> str:
    if len(answers) == 1:
        return answers[0]
    return "\n".join(f"{i}. {a}" for i, a in enumerate(answers, 1))


class _Baseline(Backend):
    sees_images = False
    threaded = False        # answer in a worker thread (slow answers must not block the event loop)

    @abstractmethod
    def answer(self, key: str, request: Request) -> Response:
        """One request's response, computed synchronously."""

    async def generate(self, items: Sequence[tuple[str, Request]], emit: Emit) -> None:
        for key, request in items:
            try:
                resp = (await asyncio.to_thread(self.answer, key, request) if self.threaded
                        else self.answer(key, request))
            except MmadError as e:
                resp = Response(key=key, error_type="bad_input", error_message=str(e), attempts=1)
            resp.latency_s = 0.0
            emit(resp)
            await asyncio.sleep(0)  # let the engine write as answers land


class RandomBackend(_Baseline):
    """Chance level: a seeded uniform choice among the shown option letters. When letter probabilities are
    asked for (``--logprobs``, ``--answer-mode likelihood``), a seeded flat-Dirichlet distribution over the
    shown letters, whose most probable letter is the answer."""

    kind = "random"

    def answer(self, key: str, request: Request) -> Response:
        seed = self.generation.sent_seed if self.generation.seed is not None else self.generation.draw
        rng = random.Random(int(hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()[:16], 16))
        answers = []
        for letters in _letters_per_question(request):
            if not letters:
                return Response(key=key, error_type="bad_input", error_message="request shows no options")
            answers.append(rng.choice(sorted(letters)))
        if self.generation.letter_probs and len(request.qids) == 1:
            weights = {x: rng.expovariate(1.0) for x in sorted(request.options[0] if request.options else letters)}
            total = sum(weights.values())
            lps = {x: math.log(w / total) for x, w in weights.items()}
            return Response(key=key, text=max(lps, key=lps.get), letter_logprobs=lps)
        return Response(key=key, text=_format(answers))


class BlindBackend(_Baseline):
    """Text-only prior: the longest option text (ties: first shown). Never looks at an image."""

    kind = "blind"

    def answer(self, key: str, request: Request) -> Response:
        texts = option_texts(request)
        if (request.meta or {}).get("answer_format") == "open" and texts:   # open answers: the option's text
            return Response(key=key, text=max(texts.values(), key=len))
        answers = []
        for letters in _letters_per_question(request):
            shown = [x for x in letters if x in texts] or list(letters)
            if not shown:
                return Response(key=key, error_type="bad_input", error_message="request shows no options")
            answers.append(max(shown, key=lambda x: len(texts.get(x, ""))))  # max keeps the first on ties
        if self.generation.letter_probs and len(answers) == 1:   # a rule: all probability on its choice
            return Response(key=key, text=answers[0], letter_logprobs={answers[0]: 0.0})
        return Response(key=key, text=_format(answers))


def location_tokens(text: str) -> set[str]:
    """Canonical location words (top/bottom/left/right/center) in a phrase."""
    return {_LOCATION_WORDS[w] for w in re.findall(r"[a-z]+", text.lower()) if w in _LOCATION_WORDS}


def best_location_option(location: str, options: dict[str, str]) -> str | None:
    """The option whose location words best match ``location``: +1 per shared word, -0.5 per word only one
    side has; None when no option names a location or the phrase has none."""
    want = location_tokens(location or "")
    if not want:
        return None
    best, best_score = None, None
    for letter, text in options.items():
        have = location_tokens(text)
        if not have:
            continue
        score = len(want & have) - 0.5 * len(want ^ have)
        if best_score is None or score > best_score:
            best, best_score = letter, score
    return best


def yes_no_option(anomalous: bool, options: dict[str, str]) -> str | None:
    want = "yes" if anomalous else "no"
    for letter, text in options.items():
        if re.match(rf"\s*{want}\b", text.lower()):
            return letter
    return None


def _frame(meta: dict) -> tuple[int, int] | None:
    """The pixel frame a grounding question states (the query image as sent), when the request says it."""
    size = meta.get("image_size")
    return (int(size[0]), int(size[1])) if isinstance(size, list) and len(size) == 2 else None


class ExpertBackend(_Baseline):
    """The expert detector on its own (model = detector kind: ``builtin`` or ``oracle``).

    Needs the run's :class:`RunContext` (given to the constructor): its ``expert(kind)`` service, which is
    the enhancement pipeline's detector when the run uses the same one for hints.
    """

    kind = "expert"
    threaded = True
    ANSWERS = ("Anomaly Detection", "Defect Localization", GROUNDING)

    def __init__(self, model, generation, images, **options):
        super().__init__(model, generation, images, **options)
        self._service = None
        self._results: dict[str, object] = {}

    def answer_options(self) -> dict:
        return {"detector": self.model}

    @property
    def service_kind(self) -> str:
        return self.model

    def service(self):
        if self._service is None:
            if self.context.expert is None:
                raise MmadError("the expert baseline needs the run context (data root and question set)",
                                culprit="expert")
            self._service = self.context.expert(self.service_kind)
        return self._service

    def analyze(self, image_key: str):
        if image_key not in self._results:
            self._results[image_key] = self.service().analyze(image_key)
        return self._results[image_key]

    def answer(self, key: str, request: Request) -> Response:
        meta = request.meta if isinstance(request.meta, dict) else {}
        qtype, image = meta.get("type"), meta.get("image")
        abstain = Response(key=key, text="", extra={"abstain": True})
        if qtype not in self.ANSWERS or not image or len(request.qids) != 1:
            return abstain
        result = self.analyze(image)
        if qtype == GROUNDING:
            from ..enhance.expert.grounding import expert_box_reply

            return Response(key=key, text=expert_box_reply(result, meta.get("box_format", "pixels"), _frame(meta)),
                            extra={"score": float(result.score), "verdict": bool(result.verdict)})
        options = option_texts(request)
        extra = {"score": float(result.score), "threshold": float(result.threshold),
                 "verdict": bool(result.verdict), "location": getattr(result, "location", None),
                 "score_source": "detector score"}
        if qtype == "Anomaly Detection":
            letter = yes_no_option(bool(result.verdict), options)
        else:
            letter = best_location_option(getattr(result, "location", "") or "", options)
        if letter is None:
            return Response(key=key, text="", extra={"abstain": True, **extra})
        # a detector's answer is a decision: in likelihood mode all probability goes to it
        lps = {letter: 0.0} if self.generation.letter_probs else None
        return Response(key=key, text=letter, extra=extra, letter_logprobs=lps)


class DetectorBackend(ExpertBackend):
    """Any detector's own anomaly maps and image scores (``--model detector:DIR``, layout in
    :mod:`mmad_eval.enhance.expert.maps`), answering like the built-in expert. The folder's content
    fingerprint is part of the answer key, so new maps are asked again."""

    kind = "detector"

    def __init__(self, model, generation, images, **options):
        super().__init__(model, generation, images, **options)
        from ..enhance.expert.maps import MapsFolder

        self._fingerprint = MapsFolder(Path(model)).fingerprint()

    @property
    def service_kind(self) -> str:
        return f"maps:{self.model}"

    def answer_options(self) -> dict:
        return {"detector": "maps", "maps_fingerprint": self._fingerprint}
