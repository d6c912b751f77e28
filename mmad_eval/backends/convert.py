"""The one place where a typed :class:`Request` becomes each backend's chat format, and where token
log-probabilities become option-letter scores.

* OpenAI: ``{"role", "content": [{"type": "text"}, {"type": "image_url", "image_url": {"url", "detail"}}]}``
  with images as data URLs (encoded once per image by the registry).
* transformers: ``{"type": "image", "image": PIL}`` parts, read by ``processor.apply_chat_template``.
* vLLM (in-process ``LLM.chat``): ``{"type": "image_pil", "image_pil": PIL}`` parts (no base64 round trip;
  see ``CustomChatCompletionContentPILImageParam`` in vllm/entrypoints/chat_utils.py).

Agent mode's turns: OpenAI gets an assistant message with ``tool_calls`` (arguments as JSON text) and
``{"role": "tool", "tool_call_id", "content"}`` results. The in-process backends hand the same messages to
a chat template, which reads arguments as a mapping (transformers' convention, which vLLM also converts to):
there the arguments are a dict (``{}`` when the model's arguments were not a JSON object: the tool's error
result tells it so), the content a string, and each tool result also names its tool (``name``), which some
templates print. Images a tool returns follow its results in a user message in every format.

Text-only messages become a plain string content, which every chat template accepts.
"""
from __future__ import annotations

import json
import math
from typing import Callable, Iterable

from ..prompt.images import ImageRegistry
from ..prompt.message import ImagePart, Message, Request, TextPart


def _convert(messages: Iterable[Message], image_part: Callable[[ImagePart], dict],
             tool_message: Callable[[Message, dict], dict] | None = None) -> list[dict]:
    out, names = [], {}                       # names: call id -> tool name (for templates that print it)
    for m in messages:
        if m.tool_calls or m.role == "tool":
            names.update((c.id, c.name) for c in m.tool_calls)
            out.append((tool_message or _tool_message)(m, names))
            continue
        if not m.images():
            out.append({"role": m.role, "content": m.text})
            continue
        content = [{"type": "text", "text": p.text} if isinstance(p, TextPart) else image_part(p)
                   for p in m.parts if not (isinstance(p, TextPart) and p.text == "")]
        out.append({"role": m.role, "content": content})
    return out


def _tool_message(m: Message, names: dict | None = None) -> dict:
    """An assistant message with its tool calls, or a tool's (text) result, in OpenAI's chat format (which the
    chat templates of tool-calling models read too). Images a tool returns travel in a user message after it."""
    if m.role == "tool":
        return {"role": "tool", "tool_call_id": m.tool_call_id, "content": m.text}
    return {"role": "assistant", "content": m.text or None,
            "tool_calls": [{"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                           for c in m.tool_calls]}


def _arguments_object(arguments: str) -> dict:
    """A call's arguments as the mapping chat templates read (``{}`` when they are not a JSON object)."""
    try:
        value = json.loads(arguments)
    except (ValueError, RecursionError, TypeError):
        return {}
    return value if isinstance(value, dict) else {}


def _template_tool_message(m: Message, names: dict) -> dict:
    """A tool-calling assistant message, or a tool's result, as in-process chat templates read them."""
    if m.role == "tool":
        return {"role": "tool", "tool_call_id": m.tool_call_id, "name": names.get(m.tool_call_id, ""),
                "content": m.text}
    return {"role": "assistant", "content": m.text,
            "tool_calls": [{"id": c.id, "type": "function",
                            "function": {"name": c.name, "arguments": _arguments_object(c.arguments)}}
                           for c in m.tool_calls]}


def to_openai(request: Request, images: ImageRegistry,
              image_url: Callable[[str], str] | None = None) -> list[dict]:
    """OpenAI chat-completions ``messages`` with data-URL images (or ``image_url(sha)``) at the configured
    detail."""
    detail = images.settings.detail
    url_of = image_url or images.data_url

    def part(p: ImagePart) -> dict:
        url = {"url": url_of(p.sha256)}
        if detail:
            url["detail"] = detail
        return {"type": "image_url", "image_url": url}

    return _convert(request.messages, part)


def to_hf(request: Request, images: ImageRegistry) -> list[dict]:
    """transformers chat messages with PIL images (``apply_chat_template`` loads them as given)."""
    return _convert(request.messages, lambda p: {"type": "image", "image": images.pil(p.sha256)},
                    _template_tool_message)


def to_vllm(request: Request, images: ImageRegistry) -> list[dict]:
    """vLLM ``LLM.chat`` conversation with ``image_pil`` parts."""
    return _convert(request.messages, lambda p: {"type": "image_pil", "image_pil": images.pil(p.sha256)},
                    _template_tool_message)


def request_letters(request: Request) -> tuple[str, ...]:
    """Option letters of a single-question request; empty when the request answers several questions
    (a letter distribution for the first generated token is only meaningful for one question)."""
    if len(request.qids) == 1 and request.options:
        return tuple(request.options[0])
    return ()


def _norm_token(token: str) -> str:
    t = token.strip().strip("()[].:*").strip()
    return t.upper() if len(t) == 1 else ""


def letter_logprobs(top: Iterable[tuple[str, float]], letters: Iterable[str]) -> dict[str, float] | None:
    """Map first-token ``(token, logprob)`` alternatives to option letters.

    Tokens that spell the same letter (``"A"``, ``" A"``, ``"(A"``, ``"a"``) are pooled with log-sum-exp,
    as they are disjoint events. Letters that never appear among the alternatives are left out (their
    probability is below the last listed alternative). None when no alternative is an option letter.
    """
    wanted = {x.upper(): x for x in letters}
    pooled: dict[str, list[float]] = {}
    for token, lp in top:
        norm = _norm_token(token)
        if norm in wanted and lp is not None and math.isfinite(lp):
            pooled.setdefault(wanted[norm], []).append(float(lp))
    if not pooled:
        return None
    out = {}
    for letter, lps in pooled.items():
        m = max(lps)
        out[letter] = m + math.log(sum(math.exp(v - m) for v in lps))
    return out
