"""The inspection tools an agent run offers a model, as function specifications (names, descriptions, JSON
schemas of their arguments). What each tool does is :mod:`mmad_eval.enhance.tools`; how a backend sends the
specifications is its own business (OpenAI: ``tools=[{"type": "function", "function": spec}]``)."""
from __future__ import annotations

from pathlib import Path

import jinja2

from .render import PROMPT_DIR

AGENT_TEMPLATE = "agent_tools.j2"
LAST_TURN = "This is your last turn: answer now with the option's letter, without calling a tool."

_BOX = {"x1": "left edge", "y1": "top edge", "x2": "right edge", "y2": "bottom edge"}


def _box_parameters(extra: str = "") -> dict:
    props = {k: {"type": "integer", "description": f"{v} in pixels of the query image{extra}"}
             for k, v in _BOX.items()}
    return {"type": "object", "properties": props, "required": list(_BOX), "additionalProperties": False}


TOOL_SPECS: dict[str, dict] = {
    "zoom": {
        "name": "zoom",
        "description": "Look closer: returns the region (x1, y1)-(x2, y2) of the query image, cropped and enlarged.",
        "parameters": _box_parameters(),
    },
    "detector": {
        "name": "detector",
        "description": "Runs an anomaly detector fitted on normal images of this product on the query image: "
                       "returns its anomaly score with the normal range, its verdict, the most anomalous region "
                       "(a box in query-image pixels) and a heat-map overlay. It may be wrong.",
        "parameters": {"type": "object", "properties": {}, "additionalProperties": False},
    },
    "references": {
        "name": "references",
        "description": "Returns k more normal (defect-free) images of the same product, the most similar first.",
        "parameters": {"type": "object", "properties": {
            "k": {"type": "integer", "minimum": 1, "maximum": 4, "description": "how many images (1-4)"}},
            "required": ["k"], "additionalProperties": False},
    },
    "compare": {
        "name": "compare",
        "description": "Returns the same region of the query image and of a normal reference image side by side "
                       "(query left, reference right).",
        "parameters": _box_parameters(),
    },
}


def tool_specs(names) -> list[dict]:
    """The specifications of the named tools, in the order given."""
    return [TOOL_SPECS[n] for n in names]


def function_tools(names) -> list[dict]:
    """The named tools as OpenAI's ``tools`` list (``{"type": "function", "function": spec}``), which is also
    what chat templates read (transformers' and vLLM's ``tools=`` argument)."""
    return [{"type": "function", "function": spec} for spec in tool_specs(names)]


def agent_instruction(tools, size: tuple[int, int], max_turns: int, prompt_dir: Path | None = None) -> str:
    """The text appended to a question's prompt in agent mode (``prompts/agent_tools.j2``)."""
    folder = Path(prompt_dir) if prompt_dir and (Path(prompt_dir) / AGENT_TEMPLATE).is_file() else PROMPT_DIR
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(folder)), undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True, autoescape=False)
    return env.get_template(AGENT_TEMPLATE).render(tools=tool_specs(tools), width=size[0], height=size[1],
                                                   max_turns=max_turns).strip()
