"""Read bounding boxes from a model's reply to a Defect Grounding question.

Tried in order; the first rule that finds a box wins (``rule`` names it):

1. ``qwen-tokens``: Qwen-style ``<|box_start|>(x1,y1),(x2,y2)<|box_end|>`` (token markers optional when
   two coordinate pairs follow each other as ``(x1,y1),(x2,y2)``);
2. ``json``: the reply's JSON (in a code fence or bare; the longest ``[...]``/``{...}`` that parses): a box
   ``[x1, y1, x2, y2]``, a list of boxes, or objects with ``bbox_2d``/``bbox``/``box``/``boxes`` keys,
   nested at any depth;
3. ``prose``: every ``[a, b, c, d]`` or ``(a, b, c, d)`` group of four numbers in the text (also taken
   when it finds more boxes than the JSON rule: a box in brackets and another in parentheses).

An explicit empty list (``[]``) with no box anywhere reads as "no defect" (``rule`` ``empty``: zero boxes,
scored like any other wrong answer on a defective image). Nothing readable is a parse failure (None),
which scores as a failure. A box whose corners come swapped (x2 < x1) is put in order; the reply of a
reasoning model is read after its thinking (:func:`.reasoning.answer_text`).
"""
from __future__ import annotations

import json
import re

_NUM = r"[-+]?\d+(?:\.\d+)?"
_QWEN = re.compile(rf"(?:<\|box_start\|>)?\s*\(\s*({_NUM})\s*,\s*({_NUM})\s*\)\s*,\s*\(\s*({_NUM})\s*,\s*"
                   rf"({_NUM})\s*\)\s*(?:<\|box_end\|>)?")
_FOUR = re.compile(rf"[\[(]\s*({_NUM})\s*,\s*({_NUM})\s*,\s*({_NUM})\s*,\s*({_NUM})\s*[\])]")
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.S)
_BOX_KEYS = ("bbox_2d", "bbox", "box", "boxes", "bboxes", "bounding_box", "bounding_boxes")
_THINK = re.compile(r"<think>.*?</think>", re.S | re.I)

Box = tuple[float, float, float, float]


def _ordered(values) -> Box:
    x1, y1, x2, y2 = (float(v) for v in values)
    return (min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))


def _is_box(value) -> bool:
    return (isinstance(value, list) and len(value) == 4
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value))


def boxes_in_json(value) -> list[Box]:
    """Every box in a parsed JSON value, in document order."""
    if _is_box(value):
        return [_ordered(value)]
    found: list[Box] = []
    if isinstance(value, dict):
        keyed = [k for k in value if str(k).lower() in _BOX_KEYS]
        for k in keyed or list(value):
            found += boxes_in_json(value[k])
    elif isinstance(value, list):
        for item in value:
            found += boxes_in_json(item)
    return found


def _json_candidates(text: str) -> list[str]:
    """Fenced blocks first, then every bracketed span from an opening bracket to each later closing one,
    longest first."""
    out = [m.group(1).strip() for m in _FENCE.finditer(text)]
    starts = [i for i, c in enumerate(text) if c in "[{"]
    for i in starts[:50]:
        close = "]" if text[i] == "[" else "}"
        ends = [j for j in range(len(text) - 1, i, -1) if text[j] == close]
        out += [text[i:j + 1] for j in ends[:20]]
    return out


def _from_json(text: str) -> tuple[list[Box], bool] | None:
    """(boxes, saw an empty list) of the first candidate that parses as JSON; None when none does."""
    for cand in _json_candidates(text):
        try:
            value = json.loads(cand)
        except ValueError:
            continue
        if isinstance(value, (list, dict)):
            return boxes_in_json(value), value == [] or value == {"boxes": []}
    return None


def parse_boxes(reply: str | None) -> tuple[list[Box] | None, str]:
    """(boxes in the reply's own coordinates, rule); (None, "unparsed") when no rule reads it."""
    if not reply or not reply.strip():
        return None, "unparsed"
    text = _THINK.sub(" ", reply)
    if "</think>" in text.lower():
        text = text[text.lower().rfind("</think>") + len("</think>"):]
    qwen = [_ordered(m.groups()) for m in _QWEN.finditer(text)]
    if qwen:
        return qwen, "qwen-tokens"
    parsed = _from_json(text)
    prose = [_ordered(m.groups()) for m in _FOUR.finditer(text)]
    if parsed and parsed[0] and len(parsed[0]) >= len(prose):
        return parsed[0], "json"
    if prose:
        return prose, "prose"
    if parsed is not None and parsed[1]:
        return [], "empty"
    return None, "unparsed"
