"""Each generation rule on hand-made masks and knowledge."""
import numpy as np
import pytest

from qgen_fixtures import SIDE, box_mask, build_source, disk_mask, knowledge
from mmad_eval.questions.generate import GenerateSettings, generate_questions
from mmad_eval.questions.generate.description import shape_of, size_of, tone_of
from mmad_eval.questions.generate.localization import region_phrase
from mmad_eval.questions.generate.masks import cell_name, measure, tone
from mmad_eval.questions.generate.options import norm


def q_of(result, name, qtype):
    entry = next(e for k, e in result.questions.entries.items() if f"/{name}.png" in k)
    return next(q for q in entry.questions if q.type == qtype)


@pytest.fixture(scope="module")
def result(small_source):
    return generate_questions(small_source, knowledge(), GenerateSettings(similar="none"))


def test_top_left_blob_answer_and_distractors_avoid_it(result):
    q = q_of(result, "tl_blob", "Defect Localization")
    assert q.options[q.answer] == "Top left of the image."
    touched = set(q.provenance["details"]["touched"])
    for letter, text in q.options.items():
        if letter != q.answer:
            assert not any(text.lower().startswith(t + " ") for t in touched), text
            assert "top left" not in text.lower()


def test_distractors_never_touch_the_mask():
    m = np.zeros((SIDE, SIDE), bool)
    m[0:25, 0:25] = True                       # touches top left, top, left, center
    stats = measure(m)
    assert set(stats.touched) == {0, 1, 3, 4}
    phrase, form = region_phrase(stats)
    assert phrase == "top left" and form == "cell"   # 400/625 of the area is in the top-left cell


def test_tiny_mask_straddling_two_cells_takes_dominant_cell():
    m = np.zeros((SIDE, SIDE), bool)
    m[14:21, 5:8] = True                       # rows 14-19 top (6 rows), row 20 middle (1 row)
    stats = measure(m)
    assert set(stats.touched) == {0, 3}
    assert region_phrase(stats) == ("top left", "cell")
    m[14:24, 5:8] = True                       # 6 rows top, 4 rows middle: 60/40 names both
    assert region_phrase(measure(m)) == ("top left and middle left", "pair")


def test_two_blobs_named_together(result):
    q = q_of(result, "two_blobs", "Defect Localization")
    assert q.options[q.answer] == "Top left and bottom right of the image."
    touched = set(q.provenance["details"]["touched"])
    for letter, text in q.options.items():               # distractors (in any form) avoid both blobs' cells
        if letter != q.answer:
            named = text.lower().removesuffix(" of the image.").split(" and ")
            assert not touched & set(named), text


def test_several_places_for_scattered_blobs():
    m = np.zeros((SIDE, SIDE), bool)
    for cy, cx in ((8, 8), (30, 30), (51, 51), (8, 51)):
        m |= disk_mask(cy, cx, 3) > 0
    stats = measure(m)
    assert stats.blobs == 4 and region_phrase(stats) == ("in several places", "several")
    assert shape_of(stats) == "scattered"


def test_shape_elongated_vs_round_vs_irregular():
    assert shape_of(measure(box_mask(30, 32, 5, 55) > 0)) == "elongated"
    assert shape_of(measure(disk_mask(30, 30, 10) > 0)) == "round"
    ell = np.zeros((SIDE, SIDE), bool)
    ell[10:40, 10:14] = True
    ell[36:40, 10:40] = True                   # an L shape: neither thin enough nor filling its ellipse
    assert shape_of(measure(ell)) == "irregular"


def test_size_relative_to_image():
    assert size_of(measure(disk_mask(30, 30, 1) > 0)) == "tiny"
    assert size_of(measure(disk_mask(30, 30, 3) > 0)) == "small"
    assert size_of(measure(disk_mask(30, 30, 6) > 0)) == "medium-sized"
    assert size_of(measure(disk_mask(30, 30, 15) > 0)) == "large"


def test_tone_darker_brighter_colour_vs_normal_mean_and_ring():
    mask = disk_mask(30, 30, 6) > 0
    ref = np.full((SIDE, SIDE, 3), 120.0, np.float32)
    img = ref.copy()
    img[mask] = 40
    assert tone_of(tone(img, mask, ref)) == "darker"
    img[mask] = 220
    assert tone_of(tone(img, mask, None)) == "brighter" and tone(img, mask, None).reference == "ring"
    img[mask] = (160, 100, 100)                # about the same luminance, redder
    assert tone_of(tone(img, mask, ref)) == "colour"
    assert tone_of(tone(ref.copy(), mask, ref)) == "same"


def test_description_distractors_change_exactly_one_attribute(result):
    for name in ("tl_blob", "br_line", "center_big", "two_blobs", "straddle"):
        q = q_of(result, name, "Defect Description")
        d = q.provenance["details"]
        correct = q.options[q.answer]
        assert d["tone"] in {"darker", "brighter"}
        for letter, text in q.options.items():
            if letter != q.answer:
                diff = set(norm(text).split()) ^ set(norm(correct).split())
                assert diff and len([w for w in diff if w in norm(correct).split()]) <= 2, (text, correct)
    assert q_of(result, "tl_blob", "Defect Description").provenance["details"]["tone"] == "darker"
    assert q_of(result, "br_line", "Defect Description").provenance["details"]["tone"] == "brighter"
    assert q_of(result, "br_line", "Defect Description").provenance["details"]["shape"] == "elongated"


def test_defect_classification_distractors(result):
    q = q_of(result, "tl_blob", "Defect Classification")
    assert q.options[q.answer] == "Contamination"
    others = {t for L, t in q.options.items() if L != q.answer}
    # same-category types come first: the bottle's other two types are both there
    assert {"Large break", "Scratch"} <= others
    assert "Dirt" not in others                                     # a synonym of the answer


def test_synonym_of_answer_never_offered(tmp_path):
    kn = knowledge()
    kn.categories["bottle"].defects["scratch"].synonyms = ["contamination"]   # deliberately clashing
    src = build_source(tmp_path, n_normal=1)
    res = generate_questions(src, kn, GenerateSettings(similar="none"))
    q = q_of(res, "tl_blob", "Defect Classification")
    assert "Scratch" not in q.options.values()


def test_analysis_from_knowledge(result):
    q = q_of(result, "center_big", "Defect Analysis")
    field = q.provenance["details"]["asked"]
    kn = knowledge().categories["cup"].defects["crack"]
    assert q.options[q.answer].rstrip(".").lower() == getattr(kn, field).lower()
    assert len(set(q.options.values())) == len(q.options) >= 3


def test_placement_by_label(result):
    defect_types = {"Defect Classification", "Defect Localization", "Defect Description", "Defect Analysis"}
    object_types = {"Object Classification", "Object Structure", "Object Details"}
    for key, e in result.questions.entries.items():
        types = {q.type for q in e.questions}
        assert e.questions[0].type == "Anomaly Detection"
        ad = e.questions[0]
        if "/good/" in key:
            assert not types & defect_types and types & object_types
            assert ad.options[ad.answer] == "No." and e.mask_path == ""
        else:
            assert types >= defect_types and not types & object_types
            assert ad.options[ad.answer] == "Yes." and e.mask_path.endswith("_mask.png")
            assert all(q.text.startswith("There is a defect in the object.") for q in e.questions[1:])


def test_object_questions_only_where_knowledge_has_the_field(result):
    bottle = next(e for k, e in result.questions.entries.items() if "bottle/test/good" in k)
    tile = next(e for k, e in result.questions.entries.items() if "tile/test/good" in k)
    oc = next(q for q in bottle.questions if q.type == "Object Classification")
    assert oc.options[oc.answer] == "Glass bottle"
    assert list(oc.options.values()).index("Ceramic cup") >= 0               # the similar category is used
    assert [q.rule for q in []] == []
    tile_rules = {q.provenance["rule"] for q in tile.questions}
    assert "object.parts" not in tile_rules and "object.shape" not in tile_rules   # tile has neither
    count = next(q for q in bottle.questions if q.provenance["rule"] == "object.count")
    assert count.options[count.answer] == "1"
    assert sorted(int(v) for v in count.options.values()) == list(range(0, 4))


def test_templates_seeded_from_pool_and_never_the_query(result, small_source):
    for key, e in result.questions.entries.items():
        cat = key.split("/")[1]
        assert len(e.random_templates) == 4 and set(e.random_templates) <= set(small_source.normals[cat])
        assert key not in e.random_templates and e.similar_templates == []


def test_no_duplicate_options_anywhere(result):
    for q in result.questions.questions():
        assert len({norm(t) for t in q.options.values()}) == len(q.options), q
        assert q.answer in q.options
        assert q.provenance["seed"] == 0 and q.provenance["rule"]


def test_cell_names():
    assert [cell_name(i) for i in range(9)] == ["top left", "top middle", "top right", "middle left", "center",
                                               "middle right", "bottom left", "bottom middle", "bottom right"]
