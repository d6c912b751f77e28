"""The label audit's checks on hand-made cases (label_fixtures.py) and on phrases mapped to regions."""
import numpy as np
import pytest

from label_fixtures import EXPECTED, build
from mmad_eval.label_audit import audit_labels, spatial
from mmad_eval.questions.jsonl_io import load_questions


@pytest.fixture(scope="module")
def handmade(tmp_path_factory):
    root = tmp_path_factory.mktemp("handmade")
    path = build(root)
    qs = load_questions(path)
    return root, path, qs, audit_labels(qs, root)


def test_every_planted_error_is_flagged_and_nothing_else(handmade):
    *_, result = handmade
    got = {(f["check"], f["target"]["images"][0]) for f in result.flags}
    assert got == EXPECTED
    assert all(f["status"] == "suspect" and f["evidence"] and f["fix"]["action"] for f in result.flags)


def test_misfiled_image_names_the_category_it_looks_like_with_a_margin(handmade):
    *_, result = handmade
    f = next(f for f in result.flags if f["check"] == "image_category")
    ev = f["evidence"]
    assert ev["category"] == "DS/pill" and ev["nearest_category"] == "DS/nut"
    assert ev["margin"] == pytest.approx(ev["affinity_nearest"] - ev["affinity_own"], abs=1e-3)
    assert ev["margin"] > 0.1
    ref = next(f for f in result.flags if f["id"] == "reference_category:DS/pill/test/good/000.png")
    assert ref["evidence"]["references_look_like"] == "DS/pill" and len(ref["evidence"]["references_wrong"]) == 5
    assert ref["fix"]["action"] == "replace_references" and ref["fix"]["category"] == "DS/nut"
    one = next(f for f in result.flags if f["id"] == "reference_category:DS/bottle/test/good/001.png")
    assert one["evidence"]["references_wrong"] == ["DS/nut/train/good/004.png"]
    assert one["evidence"]["query_looks_like"] == "DS/bottle" and one["fix"]["category"] == "DS/bottle"


def test_rim_break_answered_center_is_flagged_with_the_options_holding_it(handmade):
    *_, result = handmade
    f = next(f for f in result.flags if f["check"] == "localization")
    assert f["target"] == {"images": ["DS/bottle/test/broken/000.png"], "question": 1,
                           "types": ["Defect Localization"]}
    opts = f["evidence"]["options"]
    assert max(opts["C"]["share_broad"].values()) < 0.02             # "Around the center": untouched
    assert min(opts["B"]["share_narrow"].values()) > 0.7             # "Around the edges" holds it
    assert min(opts["A"]["share_narrow"].values()) > 0.6             # "At the bottom" too: ambiguous
    assert f["fix"]["action"] == "exclude" and f["fix"]["candidates"] == ["At the bottom", "Around the edges"]


def test_part_names_are_unchecked_not_judged(handmade):
    *_, result = handmade
    assert [u["qid"] for u in result.unchecked] == ["DS/nut/test/bent/000.png#1"]
    assert "leg" in result.unchecked[0]["reason"]
    assert result.summary["localization"] == {"questions": 3, "unchecked": 1}


def test_label_flags_say_which_side_disagrees(handmade):
    *_, result = handmade
    by_image = {f["target"]["images"][0]: f for f in result.flags if f["check"] == "label_mask"}
    ad = by_image["DS/bottle/test/broken/001.png"]
    assert ad["evidence"]["answer_says"] == "normal" and ad["evidence"]["mask"] == "defect"
    assert ad["fix"] == {"action": "correct_answer", "answer_text": "Yes.", "why": ad["fix"]["why"]}
    assert by_image["DS/bottle/test/broken/002.png"]["evidence"]["mask"] == "empty"
    assert by_image["DS/nut/test/good/001.png"]["evidence"]["mask_pixels_at_working_size"] > 0


def test_re_encoded_copy_is_a_duplicate(handmade):
    root, *_ , result = handmade
    f = next(f for f in result.flags if f["check"] == "duplicate_image")
    assert f["evidence"]["duplicate_of"] == "DS/nut/test/good/000.png"
    assert "pixels" in f["evidence"]["how"]
    assert (root / "DS/nut/test/good/000.png").read_bytes() != (root / "DS/nut/test/good/002.png").read_bytes()


def test_checks_can_be_chosen_and_a_missing_image_is_reported_not_fatal(handmade, tmp_path):
    root, path, qs, _ = handmade
    only = audit_labels(qs, root, checks=("label_mask",))
    assert {f["check"] for f in only.flags} == {"label_mask"}
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    (copy / "DS/pill/test/good/001.png").unlink()
    (copy / "DS/bottle/ground_truth/broken/003_mask.png").unlink()
    r = audit_labels(load_questions(copy / "mmad.json"), copy)
    assert "DS/pill/test/good/001.png" in r.errors and "DS/bottle/test/broken/003.png" in r.errors
    assert ("image_category", "DS/pill/test/good/000.png") in {(f["check"], f["target"]["images"][0]) for f in r.flags}


# -- phrases -> regions ----------------------------------------------------------------------------
@pytest.mark.parametrize("phrase,unchecked", [
    ("On the middle leg.", "leg"), ("On the surface.", "surface"), ("Near the neck", "neck"),
    ("In the image", "no spatial word"),
])
def test_phrases_without_locatable_words_are_unchecked(phrase, unchecked):
    assert unchecked in spatial.parse(phrase, "transistor").unchecked


def _share(phrase, mask, broad=True, category="", frames=None):
    frames = frames or spatial.Frames.for_mask(mask.shape)
    return spatial.shares(spatial.parse(phrase, category), mask, frames, 0.0, broad=broad)["image"]


def _blob(y0, y1, x0, x1, side=90):
    m = np.zeros((side, side), bool)
    m[y0:y1, x0:x1] = True
    return m


def test_grid_phrases_and_their_combinations():
    top_left = _blob(5, 20, 5, 20)
    assert _share("Top left corner of the image", top_left) == 1.0
    assert _share("Upper left", top_left) == 1.0
    assert _share("Bottom right", top_left) == 0.0
    assert _share("Top left and bottom right", top_left) == 1.0
    assert _share("Along the top", top_left) == 1.0
    assert _share("Around the edges", top_left) == 1.0
    assert _share("Center of the image", top_left) == 0.0
    centre = _blob(40, 50, 40, 50)
    assert _share("In the middle", centre) == 1.0 and _share("Around the edges", centre) == 0.0
    assert _share("Across the middle", _blob(40, 50, 2, 10)) == 1.0      # a row, not the centre cell
    assert _share("Down the middle", _blob(2, 10, 40, 50)) == 1.0        # a column
    assert _share("In the left half", _blob(10, 80, 30, 40)) == 1.0


def test_bare_side_word_is_a_row_when_checking_an_answer_and_a_cell_when_checking_a_distractor():
    corner = _blob(5, 20, 5, 20)                      # top-left cell
    assert _share("At the top", corner, broad=True) == 1.0
    assert _share("At the top", corner, broad=False) == 0.0


def test_object_frame_uses_the_outline():
    side = 90
    yy, xx = np.mgrid[:side, :side]
    r = np.hypot(yy - 45, xx - 45)

    class Shape:                                       # what object_zones.estimate_object returns
        mask = r <= 30
        rho = (r / 30).astype(np.float32)

    frames = spatial.Frames.for_mask((side, side), Shape)
    rim_bottom = (r > 25) & (r <= 31) & (yy > 70)
    assert spatial.shares(spatial.parse("around the edge of the object"), rim_bottom, frames, 0.0)["object"] == 1.0
    assert spatial.shares(spatial.parse("in the middle of the bottle", "bottle"), rim_bottom, frames, 0.0) == \
        {"object": 0.0}
    both = spatial.shares(spatial.parse("Around the center"), rim_bottom, frames, 0.0)
    assert both == {"image": 0.0, "object": 0.0}
    left_edge = spatial.shares(spatial.parse("on the left edge of the object"), rim_bottom, frames, 0.0, broad=False)
    assert left_edge["object"] == 0.0                 # the bottom quadrant is not the left edge


def test_mask_paths_relative_to_the_category_folder_are_found(handmade, tmp_path):
    """Some MMAD copies give mask_path relative to <dataset>/<category>/: both forms must be read."""
    import json
    import shutil

    root, path, *_ = handmade
    copy = tmp_path / "nested"
    shutil.copytree(root, copy)
    data = json.loads((copy / "mmad.json").read_text())
    for key, e in data.items():
        if e["mask_path"]:
            e["mask_path"] = e["mask_path"].split("/", 2)[2]          # drop "DS/<category>/"
    (copy / "mmad.json").write_text(json.dumps(data))
    r = audit_labels(load_questions(copy / "mmad.json"), copy, checks=("localization", "label_mask"))
    assert r.errors == {}
    assert {(f["check"], f["target"]["images"][0]) for f in r.flags} == {
        x for x in EXPECTED if x[0] in ("localization", "label_mask")}
