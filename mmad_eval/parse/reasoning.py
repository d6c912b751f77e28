"""Replies of reasoning models: ``<think>...</think>`` blocks, ``<answer>X</answer>`` tags, and replies cut
by the token limit before any answer.

:func:`answer_text` is what the letter parser reads: the content of the last ``<answer>`` tag when there
is one, else the text after the last ``</think>``, else the reply. The reasoning is never searched for a
letter: a reply that opens ``<think>`` and never closes it, ends with its reasoning, or never closes its
``<answer>`` tag holds no answer.
"""
from __future__ import annotations

import re

TRUNCATED = "truncated"
NO_ANSWER = "no_answer"
TRUNCATED_ADVICE = "the reply was cut by the token limit before its answer; raise --max-tokens"
_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.S | re.I)
_THINK = re.compile(r"<think>.*?</think>", re.S | re.I)


def reasoning_of(text: str | None) -> str:
    """The text inside ``<think>`` blocks (an unclosed one runs to the end)."""
    if not text:
        return ""
    parts = [m[len("<think>"):-len("</think>")] for m in _THINK.findall(text)]
    tail = _THINK.sub("", text)
    if re.search(r"<think>", tail, re.I):
        parts.append(re.split(r"<think>", tail, flags=re.I)[-1])
    return "\n".join(p.strip() for p in parts)


def answer_text(text: str | None) -> str | None:
    """The part of a reply that holds its answer; None when the reasoning never ended."""
    if text is None:
        return None
    tags = _ANSWER.findall(text)
    if tags:
        return tags[-1].strip()
    lower = text.lower()
    closed = "</think>" in lower
    tail = text[lower.rfind("</think>") + len("</think>"):] if closed else text
    if "<think>" in tail.lower() or "<answer>" in tail.lower():
        return None                               # opened and never closed: no answer was written
    if closed and not tail.strip():
        return None                               # reasoning only
    return tail


def parse_reasoned(text: str, options, finish_reason: str | None, parse) -> tuple[str | None, str]:
    """(letter, rule) of a reply through ``parse(answer_text, options)``; ``"truncated"`` when the token limit
    cut it before an answer could be read, ``"no_answer"`` when its reasoning never ended otherwise."""
    answer = answer_text(text)
    if answer is None:
        return None, TRUNCATED if finish_reason == "length" else NO_ANSWER
    letter, rule = parse(answer, options)
    if letter is None and finish_reason == "length":
        return None, TRUNCATED
    return letter, rule


def is_truncated(text: str | None, finish_reason: str | None) -> bool:
    """Did the token limit stop the reply before it gave an answer?"""
    return finish_reason == "length" and (answer_text(text) is None or not (text or "").strip())
