"""Label audit: which images the label-vs-mask check flags, at its thresholds' edges (issue 25)."""
import numpy as np
import pytest
from PIL import Image

from mmad_eval.label_audit.labels import giveaway_flags, label_flags
from mmad_eval.label_audit.masks import MaskCache, normal_pools, pool
from mmad_eval.questions.model import ImageEntry, Question, QuestionSet

YN = {"A": "Yes", "B": "No"}


def _mask(root, rel, pixels):
    arr = np.zeros((40, 60), dtype=np.uint8)
    for y, x in pixels:
        arr[y, x] = 255
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(root / rel)
    return rel


def _entry(key, mask="", answer="A"):
    return ImageEntry(key, [Question(key, 0, "Anomaly Detection", "Is there a defect?", dict(YN), answer)],
                      mask_path=mask)


def _flags(root, entries):
    return {f["target"]["images"][0]: f["message"] for f in label_flags(QuestionSet({e.key: e for e in entries}),
                                                                        MaskCache(root))}


@pytest.mark.parametrize("with_masks, flagged", [(9, True), (8, False)])
def test_a_missing_mask_is_flagged_only_where_nine_in_ten_defective_images_have_one(tmp_path, with_masks, flagged):
    entries = [_entry(f"D/c/bad/{i}.png", _mask(tmp_path, f"D/c/gt/{i}.png", [(5, 5)])) for i in range(with_masks)]
    entries += [_entry(f"D/c/bad/{i}.png") for i in range(with_masks, 10)]
    flags = _flags(tmp_path, entries)
    assert ("D/c/bad/9.png" in flags) is flagged
    if flagged:
        assert flags["D/c/bad/9.png"].startswith("a defective image without a mask (9 of 10 defective images of D")


def test_empty_masks_masked_normals_and_answers_against_the_label(tmp_path):
    entries = [_entry("D/c/bad/1.png", _mask(tmp_path, "D/c/gt/1.png", [])),
               _entry("D/c/good/2.png", _mask(tmp_path, "D/c/gt/2.png", [(39, 59)]), answer="B"),
               _entry("D/c/bad/3.png", _mask(tmp_path, "D/c/gt/3.png", [(0, 0)]), answer="B"),
               _entry("D/c/good/4.png", answer="A"), _entry("D/c/good/5.png", answer="B"),
               _entry("D/c/bad/6.png", _mask(tmp_path, "D/c/gt/6.png", [(1, 1)]))]
    flags = label_flags(QuestionSet({e.key: e for e in entries}), MaskCache(tmp_path))
    by_key = {f["target"]["images"][0]: f for f in flags}
    assert set(by_key) == {"D/c/bad/1.png", "D/c/good/2.png", "D/c/bad/3.png", "D/c/good/4.png"}
    assert by_key["D/c/bad/1.png"]["message"] == "a defective image whose mask is empty"
    assert by_key["D/c/good/2.png"]["message"] == "a normal image with a non-empty mask"
    assert by_key["D/c/good/2.png"]["evidence"]["mask_pixels_at_working_size"] == 1
    assert by_key["D/c/bad/3.png"]["fix"] == {"action": "correct_answer", "answer_text": "Yes.",
                                              "why": "the key and the mask agree on the label"}
    assert by_key["D/c/good/4.png"]["fix"]["answer_text"] == "No."
    assert by_key["D/c/bad/3.png"]["target"] == {"images": ["D/c/bad/3.png"], "question": 0,
                                                 "types": ["Anomaly Detection"]}


def test_pooling_keeps_every_defect_pixel():
    mask = np.zeros((300, 517), dtype=bool)
    mask[299, 516] = True
    mask[0, 0] = True
    pooled = pool(mask)
    assert max(pooled.shape) <= 128 and pooled.shape == (60, 104)       # factor ceil(517/128) = 5
    assert pooled[-1, -1] and pooled[0, 0] and pooled.sum() == 2
    small = np.eye(128, dtype=bool)
    assert pool(small) is small
    assert pool(np.ones((129, 3), dtype=bool)).shape == (65, 2)


def test_normal_pools_prefer_the_sets_references():
    e1 = ImageEntry("D/c/bad/1.png", [], similar_templates=["D/c/good/r1.png"], random_templates=["D/c/good/r0.png"])
    e2 = ImageEntry("D/c/good/2.png", [])
    e3 = ImageEntry("D/k/good/3.png", [])
    assert normal_pools(QuestionSet({e.key: e for e in (e1, e2, e3)})) == {
        "D/c": ["D/c/good/r0.png", "D/c/good/r1.png"], "D/k": ["D/k/good/3.png"]}


def test_giveaway_questions():
    def q(text, options, answer="A", qtype="Defect Classification"):
        return Question("D/c/bad/1.png", 0, qtype, text, options, answer)
    opts = {"A": "Crack", "B": "Scratch", "C": "Hole"}
    qs = [q("Which crack type of defect?", opts), q("Which defect type?", opts),
          q("Crack or scratch defect?", opts), q("Crack?", opts), q("Is the crack defect here?", opts, qtype="Anomaly Detection"),
          q("Which crack?", {"A": "Crack", "B": "Hole"})]
    flags = giveaway_flags(QuestionSet({"D/c/bad/1.png": ImageEntry("D/c/bad/1.png", qs)}))
    assert [f["evidence"]["question"] for f in flags] == ["Which crack type of defect?", "Crack?"]
    assert flags[0]["evidence"]["shared_words"] == ["crack"]


def test_the_audit_summary_records_its_thresholds(tmp_path):
    from mmad_eval.label_audit import audit_labels
    from mmad_eval.label_audit.masks import WORK_SIDE

    qs = QuestionSet({"D/c/bad/1.png": _entry("D/c/bad/1.png")})
    summary = audit_labels(qs, tmp_path, checks=("giveaway",)).summary
    assert summary["thresholds"]["mask_side"] == WORK_SIDE == 128
    assert summary["checks"] == ["giveaway"] and summary["images"] == 1 and summary["questions"] == 1


def test_an_image_without_a_readable_mask_reports_zero_mask_pixels(tmp_path):
    (tmp_path / "D/c/gt").mkdir(parents=True)
    (tmp_path / "D/c/gt/broken.png").write_bytes(b"not a png")
    entries = [_entry("D/c/good/1.png", answer="A"), _entry("D/c/bad/2.png", "D/c/gt/broken.png", answer="B")]
    flags = {f["target"]["images"][0]: f["evidence"] for f in label_flags(QuestionSet({e.key: e for e in entries}),
                                                                         MaskCache(tmp_path))}
    assert (flags["D/c/good/1.png"]["mask"], flags["D/c/good/1.png"]["mask_pixels_at_working_size"]) == ("none", 0)
    assert (flags["D/c/bad/2.png"]["mask"], flags["D/c/bad/2.png"]["mask_pixels_at_working_size"]) == ("unreadable", 0)
    assert "D/c/gt/broken.png" in flags["D/c/bad/2.png"]["mask_error"]


@pytest.mark.parametrize("shape", [(60, 90), (90, 45)])
def test_a_category_s_object_outline_is_taken_at_the_mask_s_own_height_and_width(tmp_path, shape):
    from mmad_eval.label_audit.masks import Outlines

    h, w = shape
    paths = []
    for i in range(3):
        img = np.full((h, w, 3), 20, np.uint8)
        img[h // 4:3 * h // 4, w // 4:3 * w // 4] = 200 + i          # a bright object in the middle
        paths.append(f"D/c/train/good/{i}.png")
        (tmp_path / paths[-1]).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(tmp_path / paths[-1])
    outline = Outlines(tmp_path, {"D/c": paths}).get("D/c", shape)
    assert outline is not None and outline.mask.shape == shape
    assert outline.mask[h // 2, w // 2] and not outline.mask[2, 2]
