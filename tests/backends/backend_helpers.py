"""Helpers for backend tests (a uniquely named module: other test folders have their own conftest)."""
import asyncio

from mmad_eval.prompt.images import ImageRegistry, ImageSettings
from mmad_eval.prompt.message import ImagePart, Message, Request, TextPart


def make_registry(**settings) -> ImageRegistry:
    return ImageRegistry(ImageSettings(**settings))


def make_request(registry, text="Is there a defect?\nA. Yes\nB. No", images=(), letters=("A", "B"),
                 qid="q0", meta=None, system=None) -> Request:
    parts = [ImagePart(registry.add_file(p), role="query", label=p.name) for p in images]
    parts.append(TextPart(text))
    msgs = ((Message("system", (TextPart(system),)),) if system else ()) + (Message("user", tuple(parts)),)
    return Request(messages=msgs, qids=(qid,), options=(tuple(letters),), meta=meta or {})


def run_backend(backend, items):
    """Run ``generate`` and return {key: Response}; checks exactly one response per key."""
    got = {}

    def emit(r):
        assert r.key not in got, f"{r.key} emitted twice"
        got[r.key] = r

    asyncio.run(backend.generate(items, emit))
    assert set(got) == {k for k, _ in items}
    return got
