"""An optional LLM judge for replies the rule cascade cannot parse (off by default).

The judge sees the options and the reply (no image) and must name the option the reply chooses, or
"None". Its answer is parsed with the bare/explicit rules only and must be one of the shown letters.
Every call is logged (``LLMJudge.log`` and the ``mmad_eval.judge`` logger) and cached by request key, so a
rescoring never asks twice. The cache is one callable: ``cache(key)`` returns the stored judge text or
None, ``cache(key, text)`` stores it. The default keeps a dict in memory; failed calls are not cached.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Callable, Sequence

from ..backends.base import Backend, Response
from ..prompt.message import Message, Request, TextPart
from .cascade import LETTERS, parse_reply

log = logging.getLogger("mmad_eval.judge")

JUDGE_VERSION = "judge-1"
SYSTEM = ("You check which option a multiple-choice answer chose. Reply with the option's letter only. "
          "If the answer chooses no option, several options, or refuses, reply with None.")

Cache = Callable[..., "str | None"]


def memory_cache() -> Cache:
    store: dict[str, str] = {}

    def cache(key: str, text: str | None = None) -> str | None:
        if text is not None:
            store[key] = text
        return store.get(key)
    return cache


@dataclass
class JudgeCall:
    key: str
    reply: str
    judge_text: str | None
    letter: str | None
    cached: bool
    error: str | None = None


class LLMJudge:
    """Callable as ``judge(reply, options) -> letter | None``; pass it to :func:`parse_reply`."""

    def __init__(self, backend: Backend, cache: Cache | None = None):
        self.backend = backend
        self.cache = cache or memory_cache()
        self.log: list[JudgeCall] = []

    def request(self, reply: str, options: dict[str, str]) -> Request:
        opts = "\n".join(f"{k}. {v}" for k, v in options.items())
        user = f"Options:\n{opts}\n\nAnswer to check:\n{reply}\n\nWhich option letter did the answer choose?"
        return Request(messages=(Message("system", (TextPart(SYSTEM),)), Message("user", (TextPart(user),))),
                       qids=("judge",), options=(tuple(options),), meta={"judge": JUDGE_VERSION})

    def __call__(self, reply: str, options: dict[str, str]) -> str | None:
        return self.judge_many([(reply, options)])[0]

    def judge_many(self, items: Sequence[tuple[str, dict[str, str]]]) -> list[str | None]:
        """Judge several replies; the uncached ones go to the backend in one ``generate`` call."""
        identity = self.backend.identity()
        reqs = [self.request(reply, options) for reply, options in items]
        keys = [r.key(identity) for r in reqs]
        texts = {k: self.cache(k) for k in keys}
        todo = {k: r for k, r in zip(keys, reqs) if texts[k] is None}
        fresh: dict[str, Response] = {}
        if todo:
            asyncio.run(self.backend.generate(list(todo.items()), lambda r: fresh.__setitem__(r.key, r)))
        for k, resp in fresh.items():
            if resp.ok:
                texts[k] = resp.text
                self.cache(k, resp.text)
        out = []
        for key, (reply, options) in zip(keys, items):
            text, resp = texts.get(key), fresh.get(key)
            letter = parse_reply(text, {})[0] if text else None
            letter = letter if letter in options and letter in LETTERS else None
            call = JudgeCall(key=key, reply=reply, judge_text=text, letter=letter, cached=key not in todo,
                             error=None if resp is None or resp.ok else f"{resp.error_type}: {resp.error_message}")
            self.log.append(call)
            log.info("judge %s %s -> %r (%r)", key[:12], "cached" if call.cached else "asked", letter, text)
            out.append(letter)
        return out
