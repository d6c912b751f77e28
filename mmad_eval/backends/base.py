"""The backend contract: a list of keyed requests in, one Response per request out (emitted as each lands)."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Callable, Sequence

from ..errors import ConfigError
from ..prompt.images import ImageRegistry
from ..settings import GenerationSettings  # noqa: F401  (re-exported: part of the backend contract)
from ..prompt.message import Request


# Response.extra keys written to the store (the rest, e.g. endpoints and timings, are transport details)
STORED_EXTRA = ("finish_reason", "reasoning_tokens", "outside_topk", "letter_position", "abstain", "score",
                "threshold", "verdict", "location", "score_source", "tool_calls", "basis",
                "odd_usage",   # usage fields that were not counts (or out of range): left out or clamped
                "earlier")     # attempts and tokens of replies asked again (a refusal) before this one: billed too


def load_failure(what: str, model: str, e: BaseException) -> ConfigError:
    """One line for a checkpoint, processor or engine that a library could not load: the library's own first
    sentence (its lists of supported classes cut), naming the model."""
    text = " ".join(str(e).split())
    for cut in (" Model type should be one of", " Make sure that:"):
        text = text.split(cut)[0]
    return ConfigError(f"could not load the {what} ({type(e).__name__}: {text[:400]})", culprit=model)


@dataclass
class Response:
    """One request's outcome. Either ``text`` or ``error`` is set; errors are never stored as predictions."""

    key: str
    text: str | None = None
    error_type: str | None = None     # e.g. "rate_limit", "server_error", "timeout", "bad_request", "refusal"
    error_message: str | None = None
    attempts: int = 1
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_s: float | None = None
    letter_logprobs: dict[str, float] | None = None
    extra: dict = field(default_factory=dict)

    def stored_extra(self) -> dict:
        """The part of ``extra`` kept with the answer (see :data:`STORED_EXTRA`)."""
        return {k: self.extra[k] for k in STORED_EXTRA if self.extra.get(k) is not None}

    @property
    def ok(self) -> bool:
        return self.error_type is None and self.text is not None


Emit = Callable[[Response], None]


class Backend(ABC):
    """Adapter base. Subclasses convert :class:`Request` messages to their own format.

    ``generate`` receives every pending request at once so local engines can batch and API clients can
    keep many in flight; it must call ``emit`` once per request, as soon as that request is done.
    A backend with ``supports_tools`` answers requests that offer tools (``Request.tools``, agent mode) with
    text or with tool calls in ``Response.extra["tool_calls"]`` (a list of ``{"id", "name", "arguments"}``).
    A backend with ``lazy_items = True`` iterates ``items`` once, taking each request when it sends it (the
    engine then claims requests as they are taken, so several processes can share one run).
    """

    kind: str = "base"
    sees_images: bool = True
    lazy_items: bool = False
    supports_tools: bool = False     # can answer requests that offer tools (agent mode) with tool calls

    def __init__(self, model: str, generation: GenerationSettings, images: ImageRegistry,
                 context: "RunContext | None" = None, **options):
        self.model = model
        self.generation = generation
        self.images = images
        self.context = context or RunContext()   # what the run gives a backend beyond its requests
        self.options = options

    def identity(self) -> dict:
        """Everything about this backend that can change an answer (part of each request's cache key).

        Secrets (API keys) and pure transport settings (concurrency, URLs of replicas) are not included.
        """
        return {"backend": self.kind, "model": self.model, "generation": self.generation.as_dict(),
                "images": self.images.settings.as_dict() if self.sees_images else None,
                "options": self.answer_options()}

    def answer_options(self) -> dict:
        """Backend options that change answers (override to list them)."""
        return {}

    def describe(self) -> dict:
        """What to record in the run record: identity plus transport settings, never secrets."""
        return self.identity()

    @abstractmethod
    async def generate(self, items: Sequence[tuple[str, Request]], emit: Emit) -> None:
        """Answer ``(key, request)`` pairs, calling ``emit(Response)`` once per pair, from the event loop's
        thread. Answers emitted in one iteration of the loop are committed together right after it (see
        ``run/answer_writer.py``): yield to the loop (``await asyncio.sleep(0)``) after emitting before
        sending more, so a killed run asks again at most one request per worker."""

    def check_tools(self, tools: Sequence[str]) -> None:
        """Raise one clear ConfigError when this backend cannot offer ``tools`` (agent mode), before anything
        is asked; in-process backends check their chat template here."""

    def gpus_per_copy(self) -> float:
        """GPUs one copy of this backend uses (a Ray worker is given that many): none for API clients."""
        return 0.0

    def worker_options(self) -> dict:
        """Options that build this backend again in another process, maybe on another machine (``run --ray``):
        ``options``, plus what this process read from its own environment (an API key), which a remote
        worker does not have. Sent in memory to the workers only; never recorded."""
        return dict(self.options)

    def execution_report(self) -> dict:
        """How the last ``generate`` ran, for the run record (e.g. the Ray workers and retries)."""
        return {}

    def close(self) -> None:
        """Release engines, clients, GPU memory."""


@dataclass(frozen=True)
class RunContext:
    """What a run gives a backend beyond the requests, passed to its constructor (baselines use it).

    ``expert(kind)`` returns the run's expert service of that kind (shared with the enhancement pipeline
    when the run uses the same detector for hints), so backends never import the enhancement layer.
    """

    data_root: object = None                          # pathlib.Path of the data root
    questions: object = None                          # QuestionSet
    expert: Callable[[str], object] | None = None     # kind -> expert service (analyze(image_key))
    tools: tuple[str, ...] = ()                       # the tools the run offers (agent mode), else empty
    before_send: Callable[[], None] | None = None     # called just before each request leaves (a Ray worker's
                                                      # driver check: nothing is sent, so billed, once it died)

    def check_send(self) -> None:
        if self.before_send is not None:
            self.before_send()
