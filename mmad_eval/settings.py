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
QUESTION_MODES = ("independent", "cumulative", "per-image", "ad-then-rest")
OPTION_ORDERS = ("original", "shuffle")
EXPERT_KINDS = ("builtin", "oracle", "anomalib", "misleading")     # expert detectors (enhance.expert)
EXPERTS = ("none", *EXPERT_KINDS)
MAPS_PREFIX = "maps:"        # expert "maps:DIR": a detector's own anomaly maps and scores (enhance.expert.maps)
HINT_STYLES = ("boxes", "contours", "overlay", "heatmap", "mask", "text")
IMAGE_FORMATS = ("png", "jpeg", "source")
IMAGE_DETAILS = ("low", "high", "auto", None)       # None: not sent
RESIZES = ("shrink", "fit-area", "qwen-smart", "square")
MIME_LABELS = ("encoded", "file-extension")
REFERENCE_LETTERS = ("last", "first", "list")
REFERENCE_SCOPES = ("segment", "reply")
OWN_PRESET = "mmad-eval"                             # our own protocol preset (the defaults)
ANSWER_MODES = ("generate", "likelihood")
AGENT_TOOLS = ("zoom", "detector", "references", "compare")   # tools an agent run may offer (enhance/tools.py)
TOOL_CALL_FORMATS = ("hermes", "json")   # how an in-process model writes tool calls (backends/tool_call_text.py)
ANSWER_FORMATS = ("options", "open")     # multiple choice (MMAD), or open-ended text judged later (mmad-eval judge)
# image perturbations of robustness runs (prompt/perturb.py): kind -> (lowest, highest) allowed value
PERTURBATIONS = {"blur": (0.0, 50.0), "motion": (0.0, 100.0), "lowlight": (0.05, 10.0), "noise": (0.0, 128.0),
                 "jpeg": (1.0, 100.0)}


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


def _compact(obj, optional: tuple[str, ...]) -> dict:
    """``asdict`` without the later-added fields that still hold their defaults (older records and cache keys
    stay the same)."""
    d = asdict(obj)
    for f in fields(obj):
        if f.name in optional and getattr(obj, f.name) == f.default:
            del d[f.name]
    return d


def parse_perturbations(spec: str) -> list[tuple[str, float]]:
    """``"blur=2,jpeg=30"`` -> ``[("blur", 2.0), ("jpeg", 30.0)]`` (in order); ConfigError naming the bad part."""
    out = []
    for part in (p.strip() for p in (spec or "").split(",")):
        if not part:
            continue
        kind, sep, value = part.partition("=")
        kind = kind.strip()
        if kind not in PERTURBATIONS or not sep:
            raise ConfigError(f"a perturbation is KIND=VALUE with KIND one of {', '.join(PERTURBATIONS)}",
                              culprit=part)
        try:
            v = float(value)
        except ValueError:
            raise ConfigError(f"{kind} needs a number", culprit=part) from None
        lo, hi = PERTURBATIONS[kind]
        if not lo <= v <= hi or (kind == "jpeg" and v != int(v)):
            raise ConfigError(f"{kind} must be {'a whole number ' if kind == 'jpeg' else ''}from {lo:g} to {hi:g}",
                              culprit=part)
        out.append((kind, v))
    return out


def canonical_perturbations(spec: str) -> str:
    """The recorded form of a perturbation list: ``"blur=2,jpeg=30"`` (numbers without trailing zeros)."""
    return ",".join(f"{k}={v:g}" for k, v in parse_perturbations(spec))


@dataclass(frozen=True)
class GenerationSettings:
    """Decoding settings, sent explicitly to every backend and recorded with the run.

    ``temperature`` None sends no temperature: the API's default, or the checkpoint's generation config
    (what MMAD's API and Qwen scripts do). ``refusal_keywords``/``refusal_tries``: a reply containing one
    of the keywords (case-insensitive) is asked again, up to ``refusal_tries`` tries in all; when every try
    contains one, the request fails as a refusal (MMAD's API scripts then record an empty answer).
    """

    temperature: float | None = 0.0
    max_tokens: int = 128
    seed: int | None = 0
    top_p: float | None = None
    logprobs: bool = False            # ask for option-letter log-probabilities where the backend can
    refusal_keywords: tuple[str, ...] = ()
    refusal_tries: int = 1
    answer_mode: str = "generate"     # "likelihood": the answer is the most probable shown option letter
    reasoning_effort: str | None = None   # sent to APIs that take it (o-series, gpt-5, reasoning servers)
    draw: int = 0                     # repeat index: draw K of a sampling model is another answer (own key)
    top_k: int | None = None          # None: no top-k cut; an official script's sampler may keep transformers' 50
    repetition_penalty: float | None = None   # None: 1.0 (none); some model scripts pass their own

    def __post_init__(self):
        _check_range(self, "temperature", 0, optional=True)
        _check_range(self, "draw", 0)
        _check_range(self, "max_tokens", 1)
        _check_range(self, "top_p", 0, 1, optional=True)
        _check_range(self, "refusal_tries", 1)
        _check_range(self, "top_k", 0, optional=True)
        _check_range(self, "repetition_penalty", 0, optional=True)
        _check(self, answer_mode=ANSWER_MODES)
        object.__setattr__(self, "refusal_keywords", tuple(self.refusal_keywords))

    @property
    def sent_seed(self) -> int | None:
        """The seed a backend sends: ``seed + draw`` (None when no seed is set), so each draw samples anew."""
        return None if self.seed is None else self.seed + self.draw

    @property
    def letter_probs(self) -> bool:
        """Should the backend return option-letter log-probabilities?"""
        return self.logprobs or self.answer_mode == "likelihood"

    def as_dict(self) -> dict:
        d = _compact(self, ("refusal_keywords", "refusal_tries", "answer_mode", "reasoning_effort",
                            "top_k", "repetition_penalty", "draw"))
        if "refusal_keywords" in d:
            d["refusal_keywords"] = list(d["refusal_keywords"])
        return d

    def refused(self, text: str | None) -> bool:
        """Does ``text`` contain one of the refusal keywords (the scripts' ``word in reply.lower()``)?"""
        low = (text or "").lower()
        return any(k in low for k in self.refusal_keywords)

    @classmethod
    def from_preset(cls, generation: dict, **overrides) -> "GenerationSettings":
        """Settings from a preset's ``generation`` table (unknown keys ignored) with ``overrides`` on top."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in generation.items() if k in known}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


@dataclass(frozen=True)
class ImageSettings:
    """How images are prepared for a model; recorded with the run (this changes scores).

    ``resize``: ``shrink`` (ours) shrinks to fit a ``max_side`` box, never enlarges; ``fit-area`` scales to
    fit the box up or down to ``int(w*s) x int(h*s)`` with area interpolation (MMAD's API and LLaVA
    scripts); ``qwen-smart`` rounds to multiples of 28 within ``min_pixels``..``max_pixels`` as
    qwen_vl_utils and Qwen2-VL's processor do; ``square`` resizes to ``max_side x max_side`` (InternVL's
    single 448 tile). ``mime_label``: ``encoded`` labels a data URL by its real format; ``file-extension``
    labels it by the source file's extension as MMAD's GPT-4o script does (".png" -> image/png although the
    bytes are JPEG). ``jpeg_roundtrip``: local models see the JPEG-decoded image (MMAD's LLaVA script).
    """

    max_side: int | None = None      # the box of shrink/fit-area, the side of square; None = as is
    format: str = "png"              # encoded payloads: "png", "jpeg", or "source" (each image in its own)
    jpeg_quality: int = 90
    detail: str | None = "auto"      # OpenAI "detail": low/high/auto; None = not sent
    resize: str = "shrink"
    min_pixels: int | None = None    # qwen-smart bounds (None: qwen_vl_utils' defaults)
    max_pixels: int | None = None
    mime_label: str = "encoded"
    jpeg_roundtrip: bool = False

    def __post_init__(self):
        _check(self, format=IMAGE_FORMATS, detail=IMAGE_DETAILS, resize=RESIZES, mime_label=MIME_LABELS)
        _check_range(self, "max_side", 1, optional=True)
        _check_range(self, "jpeg_quality", 1, 100)
        if self.resize in ("fit-area", "square") and self.max_side is None:
            raise ConfigError(f"resize {self.resize!r} needs max_side", culprit="ImageSettings.max_side")

    def as_dict(self) -> dict:
        return _compact(self, ("resize", "min_pixels", "max_pixels", "mime_label", "jpeg_roundtrip"))


@dataclass(frozen=True)
class ProtocolSettings:
    """How questions are asked and how MMAD's reference letter is read from a reply.

    ``reference_letter``/``reference_scope``/``closest_option`` define ``reference_parsed`` (the letter the
    MMAD-compatible score and the exported answers file use): the ``last`` or ``first`` standalone A-E of
    the answering ``segment`` (ours) or of the whole ``reply`` (MMAD's scripts), with difflib's closest
    option when there is none (``closest_option``). ``list`` is Gemini's alignment: the k-th letter of the
    reply answers the k-th question of the request, and an image whose request failed or whose reply has
    another number of letters is left out of the answers file.
    """

    prompt: str = "mmad"                 # jinja2 template set in prompts/ (prompts/<name>.j2)
    references: str = "random"           # which normal reference images to show (MMAD's published table: random;
                                         # CLI --templates, MMAD's word)
    shots: int = 1                       # how many normal reference images
    question_mode: str = "independent"   # one question per call (MMAD's open-model scripts)
    option_order: str = "original"
    option_seed: int = 0
    circular: bool = False               # ask every rotation of the options; right only if all are right
    reference_letter: str = "last"       # how MMAD's reference letter is read (see the class docstring)
    reference_scope: str = "segment"
    closest_option: bool = False
    grounding_prompt: str = "grounding"  # template for Defect Grounding questions (boxes, not letters)
    perturb: str = ""                    # image perturbations of a robustness run, e.g. "blur=2,jpeg=30"
    perturb_seed: int = 0                # seeds the random ones (noise, motion angle) with each image's hash
    perturb_references: bool = False     # perturb the normal reference images too (else the query only)
    answer_format: str = "options"       # "open": the question without options, a free-text answer (judged)
    reference_strip: bool = False        # strip the reply's outer whitespace before reading it (scripts that do)

    def __post_init__(self):
        _check(self, references=REFERENCE_SOURCES, question_mode=QUESTION_MODES, option_order=OPTION_ORDERS,
               reference_letter=REFERENCE_LETTERS, reference_scope=REFERENCE_SCOPES, answer_format=ANSWER_FORMATS)
        _check_range(self, "shots", 0)
        object.__setattr__(self, "perturb", canonical_perturbations(self.perturb))
        if self.answer_format == "open" and (self.question_mode != "independent" or self.circular):
            raise ConfigError("open answers are asked one question per request, without option rotations: use "
                              "--question-mode independent and no --circular", culprit="--answer-format open")

    def as_dict(self) -> dict:
        return _compact(self, ("reference_letter", "reference_scope", "closest_option", "perturb", "perturb_seed",
                               "perturb_references", "answer_format", "reference_strip", "grounding_prompt"))


@dataclass(frozen=True)
class EnhancementSettings:
    knowledge: str | None = None         # path to a knowledge file (ours or MMAD's domain_knowledge.json)
    expert: str = "none"
    hint: str = "boxes"
    embedder: str = "builtin"            # image embedding for references="retrieved": builtin or a local model folder

    def __post_init__(self):
        _check(self, hint=HINT_STYLES)
        if not (self.expert.startswith(MAPS_PREFIX) and len(self.expert) > len(MAPS_PREFIX)):
            _check(self, expert=EXPERTS)


@dataclass(frozen=True)
class AgentSettings:
    """Agent mode: the model may call inspection tools over several turns before it answers.

    ``tools`` is the set offered (in :data:`AGENT_TOOLS` order); ``max_turns`` bounds the model's replies per
    question (the last one is the answer, or no answer if it still calls tools); ``detector`` is the expert
    behind the ``detector`` tool (an expert kind or maps:DIR); ``zoom_side`` is the longer side of a zoomed
    crop in pixels; ``max_tool_calls`` bounds the tool calls run per reply (later ones are answered with an
    error: a runaway reply costs no more). Off (no tools) by default: then nothing of it is recorded.
    """

    tools: tuple[str, ...] = ()
    max_turns: int = 5
    detector: str = "builtin"
    zoom_side: int = 448
    max_tool_calls: int = 8

    def __post_init__(self):
        tools = tuple(dict.fromkeys(self.tools))
        for t in tools:
            if t not in AGENT_TOOLS:
                raise ConfigError(f"unknown agent tool {t!r}; choose from {', '.join(AGENT_TOOLS)}",
                                  culprit="AgentSettings.tools")
        object.__setattr__(self, "tools", tuple(t for t in AGENT_TOOLS if t in tools))
        _check_range(self, "max_turns", 1, 50)
        _check_range(self, "zoom_side", 16, 4096)
        _check_range(self, "max_tool_calls", 1, 64)
        if not (self.detector.startswith(MAPS_PREFIX) and len(self.detector) > len(MAPS_PREFIX)):
            _check(self, detector=EXPERT_KINDS)

    @property
    def enabled(self) -> bool:
        return bool(self.tools)

    def as_dict(self) -> dict:
        d = _compact(self, ("max_tool_calls",))
        d["tools"] = list(self.tools)
        return d


@dataclass(frozen=True)
class RunSettings:
    model: str                                                    # preset name or backend:model
    generation: GenerationSettings = field(default_factory=GenerationSettings)
    images: ImageSettings = field(default_factory=ImageSettings)
    protocol: ProtocolSettings = field(default_factory=ProtocolSettings)
    enhancements: EnhancementSettings = field(default_factory=EnhancementSettings)
    preset: str = OWN_PRESET                                      # the protocol preset (`mmad-eval protocols`)
    overrides: tuple[str, ...] = ()                               # preset settings replaced by explicit flags
    agent: AgentSettings = field(default_factory=AgentSettings)   # agent mode (off unless tools are offered)

    def __post_init__(self):
        if self.protocol.answer_format == "open" and self.generation.answer_mode != "generate":
            raise ConfigError("open answers are generated text: drop --answer-mode likelihood",
                              culprit="--answer-format open")
        if self.generation.answer_mode == "likelihood" and self.protocol.question_mode != "independent":
            raise ConfigError("likelihood answers need one question per request: use --question-mode "
                              "independent", culprit="--answer-mode likelihood")
        if self.agent.enabled and (self.generation.answer_mode != "generate"
                                   or self.protocol.question_mode != "independent"):
            raise ConfigError("agent mode answers one question per conversation with generated text: use "
                              "--question-mode independent and --answer-mode generate", culprit="--agent")
        if self.agent.enabled and self.protocol.answer_format == "open":
            raise ConfigError("agent mode's prompt asks for an option's letter, which open questions do not "
                              "have: drop --agent or --answer-format open", culprit="--agent")

    def as_dict(self) -> dict:
        d = {"model": self.model, "generation": self.generation.as_dict(), "images": self.images.as_dict(),
             "protocol": self.protocol.as_dict(), "enhancements": asdict(self.enhancements)}
        if self.preset != OWN_PRESET or self.overrides:
            d["preset"] = self.preset
            d["overrides"] = list(self.overrides)
        if self.agent.enabled:
            d["agent"] = self.agent.as_dict()
        return d
