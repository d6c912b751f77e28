"""The one typed request every backend receives: ordered text and image parts, images by content hash."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import Union


@dataclass(frozen=True)
class TextPart:
    text: str


@dataclass(frozen=True)
class ImagePart:
    """An image identified by the SHA-256 of its source bytes; ``role`` is template/query/hint."""

    sha256: str
    role: str = "query"
    label: str = ""          # display name (path relative to the data root, or a hint's name); never absolute


Part = Union[TextPart, ImagePart]


@dataclass(frozen=True)
class ToolCall:
    """A tool call a model made (agent mode): the id it gave, the tool's name, its arguments as JSON text."""

    id: str
    name: str
    arguments: str

    def as_dict(self) -> dict:
        return {"id": self.id, "name": self.name, "arguments": self.arguments}


@dataclass(frozen=True)
class Message:
    role: str                     # "system", "user", "assistant" or "tool" (a tool's result, agent mode)
    parts: tuple[Part, ...]
    tool_calls: tuple[ToolCall, ...] = ()    # an assistant message's tool calls
    tool_call_id: str = ""                   # the call a "tool" message answers

    @property
    def text(self) -> str:
        return "".join(p.text for p in self.parts if isinstance(p, TextPart))

    def images(self) -> list[ImagePart]:
        return [p for p in self.parts if isinstance(p, ImagePart)]


@dataclass(frozen=True)
class Request:
    """What is asked of a backend for one (or, in cumulative/per-image modes, several) question(s)."""

    messages: tuple[Message, ...]
    qids: tuple[str, ...]                       # question ids this request answers
    options: tuple[tuple[str, ...], ...] = ()   # per qid: the option letters shown (for parsing/logprobs)
    meta: dict = field(default_factory=dict, compare=False, hash=False)  # e.g. question type for baselines
    tools: tuple[str, ...] = ()                 # tools the model may call (agent mode; prompt/tools.py)

    def content(self) -> list:
        """A JSON-able form of the messages (images as hashes): part of the request's cache key. Tool calls,
        tool results and the offered tools appear only when present, so other requests keep their keys."""
        out = []
        for m in self.messages:
            d = {"role": m.role, "parts": [{"text": p.text} if isinstance(p, TextPart)
                                           else {"image": p.sha256, "role": p.role} for p in m.parts]}
            if m.tool_calls:
                d["tool_calls"] = [c.as_dict() for c in m.tool_calls]
            if m.tool_call_id:
                d["tool_call_id"] = m.tool_call_id
            out.append(d)
        if self.tools:
            out.append({"role": "tools", "parts": [], "tools": list(self.tools)})
        return out

    @cached_property
    def content_json(self) -> str:
        """``content()`` as the JSON text stored with the answer; made once, when the request is keyed (before
        sending), so storing an answer encodes nothing."""
        return json.dumps(self.content())

    def key(self, backend_identity: dict) -> str:
        """SHA-256 of everything that determines the answer: backend identity, settings, messages."""
        content = self.content()
        if "content_json" not in self.__dict__:                            # the cached_property's slot
            self.__dict__["content_json"] = json.dumps(content)
        blob = json.dumps({"backend": backend_identity, "messages": content}, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()

    def images(self) -> tuple[ImagePart, ...]:
        """Every image part, in order (found once per request: backends ask for them several times)."""
        found = self.__dict__.get("_images")
        if found is None:
            found = self.__dict__["_images"] = tuple(p for m in self.messages for p in m.images())
        return found
