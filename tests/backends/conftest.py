"""Shared helpers for backend tests: small PNG images on disk, a registry, requests built from text."""
import asyncio

import pytest
from PIL import Image

from mmad_eval.prompt.images import ImageRegistry, ImageSettings
from mmad_eval.prompt.message import ImagePart, Message, Request, TextPart


@pytest.fixture(scope="session")
def image_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("imgs")
    paths = []
    for i, colour in enumerate([(200, 30, 30), (30, 200, 30), (30, 30, 200)]):
        p = d / f"img{i}.png"
        img = Image.new("RGB", (40, 32), colour)
        img.putpixel((i, i), (255, 255, 255))
        img.save(p)
        paths.append(p)
    return paths


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
