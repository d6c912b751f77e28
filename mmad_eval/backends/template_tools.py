"""Agent mode on in-process backends (transformers, vLLM): tools through the chat template, calls out of text.

The tools go to the chat template as ``tools=`` (OpenAI's function list, which transformers'
``apply_chat_template`` and vLLM's ``LLM.chat`` both take); the reply is generated text, read in the run's
``tool_call_format`` (:mod:`.tool_call_text`). A template that ignores ``tools`` would leave the model with
a format it was never shown: :func:`check_renders_tools` renders a probe conversation once and refuses such
a template with one line before anything is asked.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Callable, Sequence

from ..errors import ConfigError
from ..prompt.message import Request
from ..settings import TOOL_CALL_FORMATS
from .base import Response
from .tool_call_text import read_tool_calls

PROBE_NAME = "mmad_eval_probe_tool"
PROBE_TOOLS = [{"type": "function", "function": {
    "name": PROBE_NAME, "description": "a probe: does the chat template render the tools it is given?",
    "parameters": {"type": "object", "properties": {}}}}]
PROBE_CONVERSATION = [{"role": "user", "content": "Is there a defect?"}]


def tool_call_format(options: dict, kind: str) -> str | None:
    """The ``tool_call_format`` backend option, checked (None when not set)."""
    fmt = options.get("tool_call_format")
    if fmt is not None and fmt not in TOOL_CALL_FORMATS:
        raise ConfigError(f"unknown tool_call_format {fmt!r} for the {kind} backend; choose one of "
                          f"{', '.join(TOOL_CALL_FORMATS)}", culprit="tool_call_format")
    return fmt


def format_options(fmt: str | None, tools: Sequence[str]) -> dict:
    """What the format adds to a backend's answer options: only in a run that offers tools, so every other
    run keeps its answer keys when a preset names a format."""
    return {"tool_call_format": fmt} if fmt and tools else {}


def check_renders_tools(render: Callable[[list, list], str], model: str, fmt: str | None, kind: str) -> None:
    """One clear error unless a format is named and the chat template prints the tools it is given."""
    if not fmt:
        raise ConfigError(f"the {kind} backend reads tool calls out of the generated text: name the format the "
                          f"model writes them in with --tool-call-format ({' or '.join(TOOL_CALL_FORMATS)}; "
                          "hermes for Qwen2.5/Qwen3-style <tool_call> blocks) or a preset's tool_call_format",
                          culprit=model)
    try:
        text = render(PROBE_CONVERSATION, PROBE_TOOLS)
    except Exception as e:  # noqa: BLE001 - a template that fails on tools is a template without tool support
        raise ConfigError(f"the chat template failed to render tools ({type(e).__name__}: {e}); give one that "
                          "does with the chat_template backend option", culprit=model) from None
    if PROBE_NAME not in str(text):
        raise ConfigError("the chat template ignores the tools it is given, so the model would never see how to "
                          "call them: give a template that renders tools (chat_template backend option), or run "
                          "without --agent", culprit=model)


def by_tools(items: Sequence[tuple[str, Request]]) -> list[list[tuple[str, Request]]]:
    """Items grouped by the tools their requests offer (a chat template call takes one tool list)."""
    groups: dict[tuple, list] = defaultdict(list)
    for item in items:
        groups[item[1].tools].append(item)
    return list(groups.values())


def with_tool_calls(response: Response, request: Request, fmt: str | None) -> Response:
    """A generated reply of a request that offers tools, split into its text and the calls it makes."""
    if not (fmt and request.tools and response.ok):
        return response
    read = read_tool_calls(response.text, fmt)
    if read.calls:
        response.text = read.content
        response.extra["tool_calls"] = read.calls
    return response
