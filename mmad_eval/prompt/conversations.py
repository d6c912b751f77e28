"""Conversation templates shipped with protocol presets: the chat format an official script wraps its text in,
where a checkpoint's own chat template differs (prompts/conversations/<name>.j2, Jinja for transformers'
``apply_chat_template``). A backend that applies one checks that the checkpoint's processor handles images as
the script did, and refuses otherwise.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError
from .render import PROMPT_DIR


@dataclass(frozen=True)
class Conversation:
    name: str
    processors: tuple[str, ...]   # transformers processor classes whose image handling matches the script's
    architectures: tuple[str, ...]   # config architectures of the covered checkpoints (engines without a processor)
    covers: str                   # the checkpoints it reproduces, for the refusal line

    def template(self) -> str:
        return (PROMPT_DIR / "conversations" / f"{self.name}.j2").read_text(encoding="utf-8")


CONVERSATIONS = {c.name: c for c in (
    Conversation("llava_v1", ("LlavaProcessor",), ("LlavaForConditionalGeneration", "LlavaLlamaForCausalLM"),
                 "LLaVA-1.5 checkpoints (one resized, centre-cropped 336-px image per <image>, as the script's "
                 "CLIP preprocess gives; v1.6/NeXT/OneVision processors tile instead)"),
    Conversation("internvl2_chat", ("InternVLProcessor",), ("InternVLChatModel", "InternVLForConditionalGeneration"),
                 "InternVL checkpoints in transformers' InternVL format (one 448-px tile per image)"),
)}


def get_conversation(name: str) -> Conversation:
    if name not in CONVERSATIONS:
        raise ConfigError(f"no conversation template of that name; known: {', '.join(CONVERSATIONS)}", culprit=name)
    return CONVERSATIONS[name]


def check_processor(name: str, processor, model: str) -> None:
    """Refuse a checkpoint whose processor would not see the images as the conversation's script did."""
    conv = get_conversation(name)
    kind = type(processor).__name__
    if kind not in conv.processors:
        _refuse(conv, f"processor is {kind}", model)


def check_architecture(name: str, config, model: str) -> None:
    """The same check from a checkpoint's config (``architectures``), for engines that load their own processor."""
    conv = get_conversation(name)
    found = tuple(getattr(config, "architectures", None) or ())
    if not set(found) & set(conv.architectures):
        _refuse(conv, f"architecture is {', '.join(found) or 'not stated'}", model)


def _refuse(conv: Conversation, what: str, model: str) -> None:
    raise ConfigError(f"the {conv.name} conversation covers {conv.covers}; this checkpoint's {what}, so its images "
                      "would differ from the script's: use the preset with a covered checkpoint", culprit=model)
