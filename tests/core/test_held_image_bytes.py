"""Images made in memory (perturbed, hints, tool crops) are held up to a bound; the others are spilled to an
anonymous temporary file in the run's folder and read back byte for byte: a run's memory does not grow with
its number of images, and its requests, answers and stored images stay the same."""
import hashlib
import io
import json
import os
import random
import sqlite3

import pytest
from hypothesis import given, settings, strategies as st
from PIL import Image

from mmad_eval.cli import main
from mmad_eval.prompt import image_cache
from mmad_eval.prompt.image_cache import HeldBytes
from mmad_eval.prompt.images import ImageRegistry, ImageSettings
from mmad_eval.testing.openai_server import FakeOpenAIServer, image_urls


def _png(i: int, side: int = 64) -> bytes:
    img = Image.frombytes("RGB", (side, side), random.Random(i).randbytes(side * side * 3))   # ~12 KB as PNG
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


@pytest.mark.parametrize("bound", [30_000, 100_000])
def test_registered_bytes_stay_within_the_bound_and_come_back_identical(tmp_path, bound):
    pngs = [_png(i) for i in range(30)]
    reg = ImageRegistry(ImageSettings(max_side=32, format="jpeg"), max_held_bytes=bound)
    reg.spill_dir = tmp_path
    free = ImageRegistry(ImageSettings(max_side=32, format="jpeg"), max_held_bytes=1 << 40)
    shas = [reg.add_bytes(p) for p in pngs]
    assert [free.add_bytes(p) for p in pngs] == shas
    biggest = max(map(len, pngs))
    assert reg.held_bytes <= bound + biggest and free.held_bytes == sum(map(len, pngs))
    assert reg.spilled_bytes == sum(map(len, pngs)) - reg.held_bytes > 0
    assert [reg.source_bytes(s) for s in shas] == pngs                     # read back from the spill file
    assert [reg.data_url(s) for s in reversed(shas)] == [free.data_url(s) for s in reversed(shas)]
    assert [reg.prepared_size(s) for s in shas] == [free.prepared_size(s) for s in shas]
    assert os.listdir(tmp_path) == []                                      # anonymous: nothing left behind
    reg.forget_bytes(shas[:3])
    with pytest.raises(KeyError):
        reg.source_bytes(shas[0])


@settings(max_examples=60, derandomize=True, deadline=None)
@given(st.integers(1, 400), st.lists(st.tuples(st.booleans(), st.integers(0, 11)), max_size=60))
def test_held_bytes_behave_as_a_dict_whatever_the_bound(bound, steps):
    """Adds and reads in any order, under any bound: every read gives what was added."""
    held, expected = HeldBytes(bound), {}
    blobs = [bytes([i]) * (i * 17 + 1) for i in range(12)]
    for add, i in steps:
        sha = hashlib.sha256(blobs[i]).hexdigest()
        if add:
            held.add(sha, blobs[i])
            expected[sha] = blobs[i]
        assert held.get(sha) == expected.get(sha)
        assert held.memory_bytes <= bound + max(map(len, blobs))
    assert all(held.get(s) == b for s, b in expected.items())


def test_a_spill_that_fails_keeps_the_bytes_in_memory(tmp_path):
    held = HeldBytes(10, spill_dir=tmp_path / "missing-folder")
    held.add("a" * 64, b"x" * 8)
    held.add("b" * 64, b"y" * 8)                   # pushes "a" out: its spill fails (no such folder)
    assert held.get("a" * 64) == b"x" * 8 and held.spilled_bytes == 0 and held.memory_bytes == 16


def _synth(tmp_path):
    from mmad_eval.questions.generate import GenerateSettings, generate_questions
    from mmad_eval.questions.mmad_io import write_mmad_json
    from mmad_eval.sources.detect import load_source
    from mmad_eval.sources.synth import generate_synthetic

    root = generate_synthetic(tmp_path / "data", categories=["bottle"], n_train=3, n_test_good=3, n_per_defect=1,
                              size=96, workers=1)
    result = generate_questions(load_source(root / "Synth-AD"), root / "knowledge.json",
                                GenerateSettings(similar="none"))
    write_mmad_json(result.questions, root / "questions.json")
    return root / "questions.json"


def test_a_perturbed_run_with_a_tiny_bound_stores_exactly_what_an_unbounded_one_does(tmp_path, monkeypatch):
    """With a bound of one image, almost every perturbed image is spilled and read back (for its request and
    for the store): the requests, answers and stored images are byte for byte those of an unbounded run."""
    q = _synth(tmp_path)
    tables, sent = [], []
    for bound, out in ((1 << 40, tmp_path / "free"), (1, tmp_path / "tiny")):
        monkeypatch.setattr(image_cache, "DEFAULT_HELD_BYTES", bound)
        with FakeOpenAIServer() as srv:
            assert main(["run", "--questions", str(q), "--model", "openai:fake-vlm", "--base-url", srv.base_url,
                         "--out", str(out), "--perturb", "noise=8", "--perturb-references", "--quiet"]) == 0
            sent.append(sorted(json.dumps(image_urls(b)) for b in srv.requests))
        with sqlite3.connect(out / "mmad-eval.sqlite") as db:
            tables.append((sorted(db.execute("SELECT sha, path, data FROM images")),
                           sorted(db.execute("SELECT key, content, status, text FROM requests"))))
        assert [p for p in os.listdir(out) if "images" in p] == []
    assert tables[0] == tables[1] and sent[0] == sent[1] and len(sent[0]) == 28
    images = tables[0][0]
    assert sum(1 for _, path, data in images if path is None and data) >= 8      # perturbed PNGs were stored
