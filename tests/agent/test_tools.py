"""The inspection tools on their own: typed arguments checked, deterministic results, errors as text."""
import io
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from PIL import Image

from mmad_eval.enhance.tools import InspectionTools
from mmad_eval.questions.model import ImageEntry


class _Result:
    score, threshold, normal_range, verdict, kind = 2.5, 1.0, (0.2, 0.8), True, "builtin"
    boxes, location, references = [(10, 12, 30, 40)], "top left", 3
    anomaly_map = np.zeros((64, 80), np.float32)
    map_threshold, rendered = 1.0, {}


class _Expert:
    calls = 0

    def analyze(self, key):
        _Expert.calls += 1
        return _Result()


class _Retriever:
    def nearest(self, key, k):
        return [f"Synth/widget/train/good/{i}.png" for i in range(3)][:k]


@pytest.fixture(scope="module")
def tools(tmp_path_factory):
    root = tmp_path_factory.mktemp("tools")
    rng = np.random.default_rng(1)
    for rel, shape in [("Synth/widget/test/bad/0.png", (64, 80, 3))] + \
            [(f"Synth/widget/train/good/{i}.png", (32, 40, 3)) for i in range(3)]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8)).save(root / rel)
    t = InspectionTools(root, ("zoom", "detector", "references", "compare"), _Expert, _Retriever, zoom_side=128)
    return t, ImageEntry(key="Synth/widget/test/bad/0.png", questions=[])


def _size(png: bytes) -> tuple[int, int]:
    return Image.open(io.BytesIO(png)).size


def test_zoom_crops_and_enlarges_deterministically(tools):
    t, entry = tools
    a = t.call(entry, "zoom", json.dumps({"x1": 0, "y1": 0, "x2": 40, "y2": 20}))
    b = t.call(entry, "zoom", json.dumps({"x1": 40, "y1": 20, "x2": 0, "y2": 0}))    # corners in any order
    assert not a.error and a.images[0][0] == b.images[0][0] and _size(a.images[0][0]) == (128, 64)
    other = t.call(entry, "zoom", json.dumps({"x1": 40, "y1": 20, "x2": 80, "y2": 64}))
    assert other.images[0][0] != a.images[0][0] and "[40, 20, 80, 64]" in other.text


@pytest.mark.parametrize("args,why", [({"x1": 0, "y1": 0, "x2": 1, "y2": 50}, "empty"),
                                      ({"x1": 0, "y1": 0, "x2": "ten", "y2": 5}, "must be numbers"),
                                      ({"x1": 0, "y1": 0, "x2": True, "y2": 5}, "must be numbers"),
                                      ({"x1": 0, "y1": 0, "x2": 5}, "missing argument y2"),
                                      ({"x1": 100, "y1": 100, "x2": 200, "y2": 200}, "empty")])
def test_bad_boxes_are_errors_for_the_model(tools, args, why):
    t, entry = tools
    r = t.call(entry, "zoom", json.dumps(args))
    assert r.error and r.text.startswith("error:") and why in r.text and not r.images


@pytest.mark.parametrize("name,arguments,why", [("hammer", "{}", "no tool named"), ("zoom", "[1, 2]", "JSON object"),
                                                ("zoom", "{", "not valid JSON"), ("references", '{"k": 9}', "1 to 4"),
                                                ("references", '{"k": "2"}', "whole number")])
def test_calls_of_the_wrong_shape_are_errors(tools, name, arguments, why):
    t, entry = tools
    r = t.call(entry, name, arguments)
    assert r.error and why in r.text


def test_a_tool_not_offered_is_refused(tools):
    t, entry = tools
    narrow = InspectionTools(t.data_root, ("zoom",), _Expert, _Retriever)
    r = narrow.call(entry, "detector", "{}")
    assert r.error and "the tools are: zoom" in r.text


def test_detector_reports_score_box_and_a_heat_map(tools):
    t, entry = tools
    r = t.call(entry, "detector", "{}")
    facts = json.loads(r.text.rsplit("\n", 1)[1])
    assert facts == {"score": 2.5, "threshold": 1.0, "normal_range": [0.2, 0.8], "verdict": "defective",
                     "boxes": [[10, 12, 30, 40]], "location": "top left"}
    assert "likely defective" in r.text and len(r.images) == 1 and _size(r.images[0][0]) == (80, 64)


def test_references_skip_the_ones_already_shown(tools):
    t, entry = tools
    shown = ("Synth/widget/train/good/0.png",)
    r = t.call(entry, "references", '{"k": 2}', shown)
    assert [label for _, label in r.images] == ["Synth/widget/train/good/1.png", "Synth/widget/train/good/2.png"]
    one = t.call(entry, "references", '{"k": 1}')
    assert [label for _, label in one.images] == ["Synth/widget/train/good/0.png"] and "follows" in one.text


def test_compare_puts_the_same_region_side_by_side(tools):
    t, entry = tools
    r = t.call(entry, "compare", json.dumps({"x1": 0, "y1": 0, "x2": 40, "y2": 32}), ("Synth/widget/train/good/2.png",))
    w, h = _size(r.images[0][0])
    assert not r.error and w == 2 * 64 + 4 and h == 51 and "Synth/widget/train/good/2.png" in r.text


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(st.integers(-500, 500), st.floats(-1e3, 1e3), st.just(float("nan"))), min_size=4, max_size=4))
def test_any_box_gives_a_crop_inside_the_image_or_an_error(tools, box):
    t, entry = tools
    r = t.call(entry, "zoom", json.dumps(dict(zip(("x1", "y1", "x2", "y2"), box))))
    if r.error:
        assert r.text.startswith("error:") and not r.images
    else:
        x1, y1, x2, y2 = json.loads(r.text.split("region ")[1].split(" of")[0])
        assert 0 <= x1 < x2 <= 80 and 0 <= y1 < y2 <= 64 and max(_size(r.images[0][0])) == 128


@pytest.mark.parametrize("max_side,resize,frame", [(40, "shrink", (40, 32)), (50, "square", (50, 50))])
def test_under_max_side_box_coordinates_are_pixels_of_the_image_sent(tools, max_side, resize, frame):
    """The model sees the query at ``frame`` pixels (80 x 64 on disk): the boxes it gives the tools and the
    detector's boxes are in that frame; the crops are of the same region of the full-size image."""
    from mmad_eval.prompt.images import ImageSettings

    t, entry = tools
    small = InspectionTools(t.data_root, t.tools, _Expert, _Retriever, zoom_side=128,
                            images=ImageSettings(resize=resize, max_side=max_side))
    sx, sy = frame[0] / 80, frame[1] / 64
    full_box = (0, 0, 40, 32)
    sent_box = dict(zip(("x1", "y1", "x2", "y2"), (round(full_box[0] * sx), round(full_box[1] * sy),
                                                   round(full_box[2] * sx), round(full_box[3] * sy))))
    a = small.call(entry, "zoom", json.dumps(sent_box))
    b = t.call(entry, "zoom", json.dumps(dict(zip(("x1", "y1", "x2", "y2"), full_box))))
    assert not a.error and a.images[0][0] == b.images[0][0]
    assert f"[{sent_box['x1']}, {sent_box['y1']}, {sent_box['x2']}, {sent_box['y2']}]" in a.text
    c = small.call(entry, "compare", json.dumps(sent_box), ("Synth/widget/train/good/2.png",))
    d = t.call(entry, "compare", json.dumps(dict(zip(("x1", "y1", "x2", "y2"), full_box))),
               ("Synth/widget/train/good/2.png",))
    assert c.images[0][0] == d.images[0][0]
    facts = json.loads(small.call(entry, "detector", "{}").text.rsplit("\n", 1)[1])
    assert facts["boxes"] == [[round(10 * sx), round(12 * sy), round(30 * sx), round(40 * sy)]]
    out = small.call(entry, "zoom", json.dumps({"x1": frame[0], "y1": 0, "x2": frame[0] + 20, "y2": 10}))
    assert out.error and f"{frame[0]}x{frame[1]} query image" in out.text
