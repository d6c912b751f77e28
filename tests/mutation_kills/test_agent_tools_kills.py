"""The inspection tools of agent mode (enhance/tools.py) in a robustness run: the query is always shown as
the model sees it (perturbed), the normal images only when the run perturbs references too (issue 25)."""
import io
import json

import numpy as np
import pytest
from PIL import Image

from mmad_eval.enhance.tools import InspectionTools
from mmad_eval.questions.model import ImageEntry

QUERY, REFS = "Synth/widget/test/bad/0.png", [f"Synth/widget/train/good/{i}.png" for i in range(2)]


class _Retriever:
    def nearest(self, key, k):
        return REFS[:k]


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("tools-perturbed")
    rng = np.random.default_rng(7)
    for rel in [QUERY, *REFS]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(40, 220, (48, 64, 3), dtype=np.uint8)).save(root / rel)
    return root


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)


def _tools(root, perturb, references=False):
    return InspectionTools(root, ("zoom", "references", "compare"), None, lambda: _Retriever(), zoom_side=64,
                           perturb=perturb, perturb_references=references)


@pytest.mark.parametrize("spec", ["lowlight=4", "noise=30"])
def test_references_stay_clean_unless_the_run_perturbs_them_and_the_query_never_does(root, spec):
    entry = ImageEntry(key=QUERY, questions=[])
    clean, only_query, both = _tools(root, None), _tools(root, (spec, 0)), _tools(root, (spec, 0), True)
    ref = lambda t: _pixels(t.call(entry, "references", '{"k": 1}').images[0][0])     # noqa: E731
    assert np.array_equal(ref(only_query), ref(clean))
    assert np.abs(ref(both) - ref(clean)).mean() > 2
    box = json.dumps({"x1": 0, "y1": 0, "x2": 32, "y2": 24})
    zoom = lambda t: _pixels(t.call(entry, "zoom", box).images[0][0])                   # noqa: E731
    assert np.abs(zoom(only_query) - zoom(clean)).mean() > 2
    assert np.array_equal(zoom(only_query), zoom(both))
    pair = lambda t: _pixels(t.call(entry, "compare", box).images[0][0])                # noqa: E731
    half = pair(clean).shape[1] // 2 + 2                                  # the reference, right of the gap
    assert np.array_equal(pair(only_query)[:, half:], pair(clean)[:, half:])
    assert np.abs(pair(only_query)[:, :half - 4] - pair(clean)[:, :half - 4]).mean() > 2


@pytest.mark.parametrize("box", [{"x1": 30, "y1": 0, "x2": 31, "y2": 40}, {"x1": 0, "y1": 20, "x2": 50, "y2": 21},
                                 {"x1": 63, "y1": 5, "x2": 90, "y2": 30}])
def test_a_box_narrower_than_two_pixels_away_from_the_origin_is_an_error(root, box):
    entry = ImageEntry(key=QUERY, questions=[])
    for name in ("zoom", "compare"):
        r = _tools(root, None).call(entry, name, json.dumps(box))
        assert r.error and "the box is empty inside the 64x48 query image" in r.text and not r.images
    wider = {**box, "x2": box["x1"] + 2} if box["x2"] - box["x1"] < 2 else {**box, "y2": box["y1"] + 2}
    if box["x2"] <= 64:
        assert not _tools(root, None).call(entry, "zoom", json.dumps(wider)).error
