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


def test_zero_references_is_an_error_and_one_to_four_are_given(root):
    entry = ImageEntry(key=QUERY, questions=[])
    for k in (0, -1, 5):
        r = _tools(root, None).call(entry, "references", json.dumps({"k": k}))
        assert r.error and "from 1 to 4" in r.text and not r.images
    assert len(_tools(root, None).call(entry, "references", '{"k": 2}').images) == 2


@pytest.mark.parametrize("box", [(0, 0, 32, 24), (20, 10, 60, 44)])
def test_compare_shows_the_query_crop_left_and_the_same_region_of_a_smaller_reference_right(tmp_path, box):
    """The reference is the query at half size (a smooth picture): its half of the pair matches the query's."""
    yy, xx = np.mgrid[0:48, 0:64]
    picture = np.stack([xx * 4, yy * 5, (xx + yy) * 2], axis=-1).astype(np.uint8)
    for rel, img in [(QUERY, Image.fromarray(picture)), (REFS[0], Image.fromarray(picture).resize((32, 24)))]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        img.save(tmp_path / rel)
    entry = ImageEntry(key=QUERY, questions=[])
    args = json.dumps(dict(zip(("x1", "y1", "x2", "y2"), box)))
    pair = _pixels(_tools(tmp_path, None).call(entry, "compare", args).images[0][0])
    zoom = InspectionTools(tmp_path, ("zoom",), None, None, zoom_side=32).call(entry, "zoom", args)
    left = _pixels(zoom.images[0][0])
    h, w = left.shape[:2]
    assert pair.shape[:2] == (h, 2 * w + 4)
    assert np.array_equal(pair[:, :w], left)                            # the query's crop, at the top left
    assert (pair[:, w:w + 4] == 255).all()                              # the white gap
    assert np.abs(pair[:, w + 4:] - left).mean() < 6                    # the same region of the reference


@pytest.mark.parametrize("names", [("zoom", "detector", "references", "compare"), ("compare", "zoom")])
def test_tool_specifications_are_closed_schemas_in_the_order_asked(names):
    """What the API is told: no tool accepts an argument it does not name; boxes need all four corners."""
    from mmad_eval.prompt.tools import tool_specs

    specs = tool_specs(names)
    assert [s["name"] for s in specs] == list(names)
    for s in specs:
        params = s["parameters"]
        assert params["type"] == "object" and params["additionalProperties"] is False, s["name"]
        assert set(params.get("required", [])) == set(params["properties"]), s["name"]
    boxes = [s for s in specs if s["name"] in ("zoom", "compare")]
    assert boxes and all(s["parameters"]["required"] == ["x1", "y1", "x2", "y2"] for s in boxes)


@pytest.mark.parametrize("max_turns, size", [(3, (64, 48)), (5, (100, 80))])
def test_the_agent_instruction_comes_from_a_prompt_folder_only_when_it_holds_the_template(tmp_path, max_turns, size):
    from mmad_eval.prompt.tools import AGENT_TEMPLATE, agent_instruction

    default = agent_instruction(("zoom", "detector"), size, max_turns)
    assert f"at most {max_turns - 1} rounds" in default and f"{size[0]}x{size[1]} pixels" in default
    assert agent_instruction(("zoom", "detector"), size, max_turns, tmp_path) == default   # no template there
    lines = default.splitlines()                          # one line a tool, no blank line from the loop's tags
    assert [line.split(":")[0] for line in lines[1:3]] == ["- zoom", "- detector"] and "" not in lines
    (tmp_path / AGENT_TEMPLATE).write_text("Tools:\n  {% for t in tools %}\n- {{ '<' ~ t.name ~ '>' }}\n  {% endfor %}\n"
                                           "turns {{ max_turns }}\n")    # block tags indented: trimmed whole
    assert agent_instruction(("zoom", "detector"), size, max_turns, tmp_path) == \
        f"Tools:\n- <zoom>\n- <detector>\nturns {max_turns}"          # plain text: nothing HTML-escaped


def test_the_references_range_told_to_the_model_is_the_range_the_tool_accepts(root):
    from mmad_eval.prompt.tools import TOOL_SPECS

    k = TOOL_SPECS["references"]["parameters"]["properties"]["k"]
    entry = ImageEntry(key=QUERY, questions=[])
    for n in range(-1, 7):
        accepted = not _tools(root, None).call(entry, "references", json.dumps({"k": n})).error
        assert accepted == (k["minimum"] <= n <= k["maximum"]), n
    assert (k["minimum"], k["maximum"]) == (1, 4)


class _Detected:
    """What an expert's analysis holds (the fields the detector tool and its heat map read)."""

    def __init__(self, score, lo, hi):
        self.score, self.threshold, self.normal_range, self.verdict, self.kind = score, 0.5, (lo, hi), score > 0.5, "builtin"
        self.boxes, self.location, self.references = [(4, 6, 20, 30)], "top left", 2
        self.anomaly_map = np.zeros((48, 64), np.float32)
        self.map_threshold, self.rendered = 1.0, {}


@pytest.mark.parametrize("score, lo, hi", [(0.123456789, 0.0123456, 0.4444449), (2.71828182, 0.33333333, 0.66666666)])
def test_detector_facts_are_rounded_to_four_decimals(root, score, lo, hi):
    class Expert:
        def analyze(self, key):
            return _Detected(score, lo, hi)

    tools = InspectionTools(root, ("detector",), Expert, None)
    r = tools.call(ImageEntry(key=QUERY, questions=[]), "detector", "{}")
    facts = json.loads(r.text.rsplit("\n", 1)[1])
    assert facts["score"] == round(score, 4) and facts["normal_range"] == [round(lo, 4), round(hi, 4)]
    assert f"normal images score {round(lo, 4)} to {round(hi, 4)}" in r.text and not r.error


@pytest.mark.parametrize("content", [b"not a picture", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40])
def test_a_tool_whose_image_cannot_be_read_answers_an_error_counted_as_invalid(tmp_path, content):
    bad = "Synth/widget/test/bad/broken.png"
    (tmp_path / bad).parent.mkdir(parents=True)
    (tmp_path / bad).write_bytes(content)
    r = _tools(tmp_path, None).call(ImageEntry(key=bad, questions=[]), "zoom", json.dumps({"x1": 0, "y1": 0, "x2": 9,
                                                                                          "y2": 9}))
    assert r.error and r.text.startswith("error: the tool zoom failed:") and not r.images
