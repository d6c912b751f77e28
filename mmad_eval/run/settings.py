"""Every protocol knob of a run as a typed, recorded setting (templates, shots, question mode, ...)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ..backends.base import GenerationSettings
from ..prompt.images import ImageSettings

TEMPLATE_SOURCES = ("none", "random", "similar", "retrieved")
QUESTION_MODES = ("independent", "cumulative", "per-image")
OPTION_ORDERS = ("original", "shuffle")
EXPERTS = ("none", "builtin", "oracle", "anomalib", "misleading")
HINT_STYLES = ("boxes", "contours", "overlay", "heatmap", "mask", "text")


@dataclass(frozen=True)
class ProtocolSettings:
    prompt: str = "mmad"                 # jinja2 template set in prompts/ (prompts/<name>.j2)
    templates: str = "random"            # which normal references to show (MMAD's published table: random)
    shots: int = 1                       # how many normal references
    question_mode: str = "independent"   # one question per call (MMAD's open-model scripts)
    option_order: str = "original"
    option_seed: int = 0
    circular: bool = False               # ask every rotation of the options; right only if all are right


@dataclass(frozen=True)
class EnhancementSettings:
    knowledge: str | None = None         # path to a knowledge file (ours or MMAD's domain_knowledge.json)
    expert: str = "none"
    hint: str = "boxes"
    embedder: str = "builtin"            # image embedding for templates="retrieved": builtin or a local model folder


@dataclass(frozen=True)
class RunSettings:
    model: str                                                    # preset name or backend:model
    generation: GenerationSettings = field(default_factory=GenerationSettings)
    images: ImageSettings = field(default_factory=ImageSettings)
    protocol: ProtocolSettings = field(default_factory=ProtocolSettings)
    enhancements: EnhancementSettings = field(default_factory=EnhancementSettings)
    parser: str = "cascade"

    def as_dict(self) -> dict:
        return asdict(self)
