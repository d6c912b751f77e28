"""Every recorded knob of a run, and the choices each allows, defined once at the bottom of the package.

Each settings class checks its values on construction, so an unknown choice (``option_order="random"``,
``expert="bulitin"``) is a :class:`ConfigError` naming the field, never a silent default. Every other
package imports its choices from here (``enhance`` for expert kinds and hint styles, ``commands`` for CLI
choices), so a new choice is added in one place.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from .errors import ConfigError

REFERENCE_SOURCES = ("none", "random", "similar", "retrieved")   # normal reference images
QUESTION_MODES = ("independent", "cumulative", "per-image")
OPTION_ORDERS = ("original", "shuffle")
EXPERT_KINDS = ("builtin", "oracle", "anomalib", "misleading")     # expert detectors (enhance.expert)
EXPERTS = ("none", *EXPERT_KINDS)
HINT_STYLES = ("boxes", "contours", "overlay", "heatmap", "mask", "text")
IMAGE_FORMATS = ("png", "jpeg")
IMAGE_DETAILS = ("low", "high", "auto")


def _check(obj, **choices) -> None:
    """Raise a ConfigError naming the first field whose value is not one of its choices."""
    for name, allowed in choices.items():
        value = getattr(obj, name)
        if value not in allowed:
            raise ConfigError(f"unknown {name} {value!r}; choose one of {', '.join(map(str, allowed))}",
                              culprit=f"{type(obj).__name__}.{name}")


def _check_range(obj, name: str, low, high=None, optional: bool = False) -> None:
    value = getattr(obj, name)
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < low \
            or (high is not None and value > high):
        bound = f">= {low}" + (f" and <= {high}" if high is not None else "")
        raise ConfigError(f"{name} must be a number {bound}, got {value!r}", culprit=f"{type(obj).__name__}.{name}")


@dataclass(frozen=True)
class GenerationSettings:
    """Decoding settings, sent explicitly to every backend and recorded with the run."""

    temperature: float = 0.0
    max_tokens: int = 128
    seed: int | None = 0
    top_p: float | None = None
    logprobs: bool = False            # ask for option-letter log-probabilities where the backend can

    def __post_init__(self):
        _check_range(self, "temperature", 0)
        _check_range(self, "max_tokens", 1)
        _check_range(self, "top_p", 0, 1, optional=True)

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_preset(cls, generation: dict, **overrides) -> "GenerationSettings":
        """Settings from a preset's ``generation`` table (unknown keys ignored) with ``overrides`` on top."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in generation.items() if k in known}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


@dataclass(frozen=True)
class ImageSettings:
    """How images are prepared for a model; recorded with the run (this changes scores)."""

    max_side: int | None = None      # shrink to fit a box of this size (MMAD's GPT-4o script: 512); None = as is
    format: str = "png"              # "png" or "jpeg" for encoded payloads
    jpeg_quality: int = 90
    detail: str = "auto"             # OpenAI "detail": low/high/auto

    def __post_init__(self):
        _check(self, format=IMAGE_FORMATS, detail=IMAGE_DETAILS)
        _check_range(self, "max_side", 1, optional=True)
        _check_range(self, "jpeg_quality", 1, 100)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ProtocolSettings:
    prompt: str = "mmad"                 # jinja2 template set in prompts/ (prompts/<name>.j2)
    references: str = "random"           # which normal reference images to show (MMAD's published table: random;
                                         # CLI --templates, MMAD's word)
    shots: int = 1                       # how many normal reference images
    question_mode: str = "independent"   # one question per call (MMAD's open-model scripts)
    option_order: str = "original"
    option_seed: int = 0
    circular: bool = False               # ask every rotation of the options; right only if all are right

    def __post_init__(self):
        _check(self, references=REFERENCE_SOURCES, question_mode=QUESTION_MODES, option_order=OPTION_ORDERS)
        _check_range(self, "shots", 0)


@dataclass(frozen=True)
class EnhancementSettings:
    knowledge: str | None = None         # path to a knowledge file (ours or MMAD's domain_knowledge.json)
    expert: str = "none"
    hint: str = "boxes"
    embedder: str = "builtin"            # image embedding for references="retrieved": builtin or a local model folder

    def __post_init__(self):
        _check(self, expert=EXPERTS, hint=HINT_STYLES)


@dataclass(frozen=True)
class RunSettings:
    model: str                                                    # preset name or backend:model
    generation: GenerationSettings = field(default_factory=GenerationSettings)
    images: ImageSettings = field(default_factory=ImageSettings)
    protocol: ProtocolSettings = field(default_factory=ProtocolSettings)
    enhancements: EnhancementSettings = field(default_factory=EnhancementSettings)

    def as_dict(self) -> dict:
        return asdict(self)
