"""Tool calls written in generated text (in-process backends), read in the format the run names.

An OpenAI-compatible server parses tool calls itself; an in-process model (``hf:``, ``vllm:``) only writes
text, and the chat template taught it a format. The format is a recorded setting (``tool_call_format``, a
backend option set by a model preset or ``--tool-call-format``), never guessed from the model's name:

* ``hermes``: ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` blocks, as Qwen2.5, Qwen3 and
  vLLM's ``--tool-call-parser hermes`` write and read them (an unclosed last block, e.g. cut by the token
  limit, counts too);
* ``json``: the whole reply (maybe in a Markdown code fence) is one call object or a list of them (JSON
  with no object holding ``name`` or ``arguments`` is an answer, e.g. ``{"answer": "B"}``).

The calls come back as the OpenAI path stores them (``{"id", "name", "arguments"}``, arguments as JSON text).
A call that cannot be read (not JSON, no name, arguments not an object) is kept with what it has (name ``""``
or the name, the raw text as arguments), so the agent loop answers it with an error and counts it invalid.
Reading never raises, whatever the text.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from ..settings import TOOL_CALL_FORMATS  # noqa: F401  (the choices, defined once)

CALL_KEYS = {"name", "arguments", "parameters"}   # a JSON object with one of these is meant as a call
MAX_FIELD = 200                          # characters kept of an id or a name (as the OpenAI path keeps)
_HERMES = re.compile(r"<tool_call>(.*?)(?:</tool_call>|\Z)", re.DOTALL)
_FENCE = re.compile(r"\A```[a-zA-Z]*\s*\n?(.*?)\n?```\Z", re.DOTALL)


@dataclass
class ReadReply:
    """A reply split into the text outside tool calls and the calls (empty when it answered)."""

    content: str
    calls: list[dict] = field(default_factory=list)


def _load(text: str):
    """JSON value of ``text``, or None (also for nesting too deep for Python's parser)."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def _call(i: int, body: str, value) -> dict:
    """One call from a parsed JSON value; the raw ``body`` as arguments when it is not a well-formed call."""
    call = {"id": f"call_{i}", "name": "", "arguments": body}
    if not isinstance(value, dict):
        return call
    name = value.get("name")
    if isinstance(name, str):
        call["name"] = name[:MAX_FIELD]
    args = value.get("arguments", value.get("parameters", {}))
    if isinstance(args, str):                 # some models write the arguments as JSON text
        args = _load(args) if args.strip() else {}
    if isinstance(name, str) and name and isinstance(args, dict):
        call["arguments"] = json.dumps(args)
    return call


def read_hermes(text: str) -> ReadReply:
    blocks = list(_HERMES.finditer(text))
    if not blocks:
        return ReadReply(text)
    calls = [_call(i, m.group(1).strip(), _load(m.group(1).strip())) for i, m in enumerate(blocks)]
    return ReadReply(_HERMES.sub("", text).strip(), calls)


def read_json(text: str) -> ReadReply:
    body = text.strip()
    fenced = _FENCE.match(body)
    if fenced:
        body = fenced.group(1).strip()
    if not (body.startswith("{") or (body.startswith("[") and body[1:].lstrip().startswith("{"))):
        return ReadReply(text)
    value = _load(body)
    objects = value if isinstance(value, list) else [value]
    if value is not None and not any(isinstance(v, dict) and CALL_KEYS & set(v) for v in objects):
        return ReadReply(text)                  # JSON, but no call in it (e.g. {"answer": "B"}): an answer
    if isinstance(value, list):
        return ReadReply("", [_call(i, json.dumps(v), v)
                              for i, v in enumerate(value)] or [_call(0, body, None)])
    return ReadReply("", [_call(0, body, value)])


READERS = {"hermes": read_hermes, "json": read_json}


def read_tool_calls(text: str, fmt: str) -> ReadReply:
    """``text`` split into content and calls in format ``fmt`` (one of :data:`TOOL_CALL_FORMATS`)."""
    return READERS[fmt](text if isinstance(text, str) else "")


def write_tool_calls(calls: list[dict], fmt: str, content: str = "") -> str:
    """The text a model writes for ``calls`` (``{"name", "arguments"}`` with arguments as a dict or JSON text)
    in format ``fmt``: what :func:`read_tool_calls` reads back (tests, scripted models)."""
    objs = [{"name": c["name"], "arguments": c["arguments"] if isinstance(c["arguments"], dict)
             else json.loads(c["arguments"])} for c in calls]
    if fmt == "hermes":
        return (content + "".join(f"\n<tool_call>\n{json.dumps(o)}\n</tool_call>" for o in objs)).strip()
    return json.dumps(objs[0] if len(objs) == 1 else objs)
