"""Box IoU, matching, mIoU and the box parser: hand-computed cases and hypothesis properties."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmad_eval.parse.boxes import parse_boxes
from mmad_eval.questions.grounding import from_format, mask_boxes, to_format
from mmad_eval.score.grounding import box_iou, image_miou, match_boxes, pixel_iou

coord = st.floats(min_value=-500, max_value=500, allow_nan=False, allow_infinity=False)


@st.composite
def boxes(draw):
    x1, y1 = draw(coord), draw(coord)
    return (x1, y1, x1 + draw(st.floats(0.5, 300)), y1 + draw(st.floats(0.5, 300)))


def test_iou_hand_computed():
    # two 10x10 boxes overlapping in a 5x10 strip: 50 / (100 + 100 - 50)
    assert box_iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(1 / 3)
    # a 2x2 box inside a 4x4 one: 4 / 16
    assert box_iou((1, 1, 3, 3), (0, 0, 4, 4)) == pytest.approx(0.25)
    assert box_iou((0, 0, 1, 1), (2, 2, 3, 3)) == 0.0          # disjoint
    assert box_iou((0, 0, 2, 2), (2, 0, 4, 2)) == 0.0          # touching edges only


def test_miou_hand_computed_with_unmatched_boxes():
    true = [(0, 0, 10, 10), (20, 20, 30, 30)]
    # one exact box, one half-overlapping box (IoU 1/3), one stray box: (1 + 1/3 + 0) / 3
    pred = [(5, 0, 15, 10), (20, 20, 30, 30), (50, 50, 60, 60)]
    assert image_miou(pred, true) == pytest.approx((1 + 1 / 3) / 3)
    # one box for two: (1 + 0) / 2
    assert image_miou([(20, 20, 30, 30)], true) == pytest.approx(0.5)
    assert image_miou([], true) == 0.0
    assert image_miou([], []) == 1.0


def test_hungarian_beats_greedy():
    # greedy would give p0 the best pair (t0, 0.6) and leave p1 with t1 (0); the optimal matching pairs
    # p0-t1 and p1-t0 for a larger total
    true = [(0, 0, 10, 10), (8, 0, 18, 10)]
    pred = [(2, 0, 12, 10), (0, 0, 9, 10)]
    pairs = {(p, t) for p, t, _ in match_boxes(pred, true)}
    total = sum(i for *_, i in match_boxes(pred, true))
    greedy = box_iou(pred[0], true[0]) + box_iou(pred[1], true[1])
    assert total >= greedy and len(pairs) == 2


def test_pixel_iou_of_box_union_against_mask():
    mask = np.zeros((10, 10), bool)
    mask[2:4, 2:6] = True                       # 8 pixels
    assert pixel_iou([(2, 2, 6, 4)], mask) == 1.0
    assert pixel_iou([(2, 2, 6, 6)], mask) == pytest.approx(8 / 16)
    assert pixel_iou([], mask) == 0.0


@settings(derandomize=True, max_examples=200)
@given(boxes(), boxes())
def test_iou_symmetric_and_bounded(a, b):
    assert box_iou(a, b) == pytest.approx(box_iou(b, a))
    assert 0.0 <= box_iou(a, b) <= 1.0


@settings(derandomize=True, max_examples=200)
@given(boxes(), boxes(), st.floats(-200, 200), st.floats(-200, 200))
def test_iou_identity_and_translation(a, b, dx, dy):
    assert box_iou(a, a) == 1.0

    def move(x):
        return (x[0] + dx, x[1] + dy, x[2] + dx, x[3] + dy)
    assert box_iou(move(a), move(b)) == pytest.approx(box_iou(a, b), abs=1e-6)


@settings(derandomize=True, max_examples=100)
@given(st.lists(boxes(), min_size=1, max_size=4), st.lists(boxes(), min_size=1, max_size=4))
def test_miou_bounded_and_one_for_identical_sets(pred, true):
    assert 0.0 <= image_miou(pred, true) <= 1.0 + 1e-9
    assert image_miou(true, true) == pytest.approx(1.0)


def test_blob_rule_ignores_specks_and_merges_touching_boxes():
    mask = np.zeros((100, 100), bool)
    mask[10:30, 10:30] = True          # 400 px
    mask[60:70, 60:70] = True          # 100 px: kept (25 % of the largest)
    mask[90, 90] = True                # a 1-px speck: ignored (< 5 %)
    assert mask_boxes(mask) == [(10, 10, 30, 30), (60, 60, 70, 70)]
    ell = np.zeros((20, 20), bool)
    ell[0:10, 0:2] = True
    ell[8:10, 0:10] = True             # an L: its box is (0, 0, 10, 10)
    ell[2:6, 4:8] = True               # its own component inside the L's box: merged into it
    assert mask_boxes(ell) == [(0, 0, 10, 10)]
    assert mask_boxes(np.zeros((5, 5), bool)) == []


def test_norm1000_round_trip():
    assert to_format((64, 32, 128, 96), "norm1000", (128, 128)) == [500, 250, 1000, 750]
    assert from_format([500, 250, 1000, 750], "norm1000", (128, 64)) == (64.0, 16.0, 128.0, 48.0)
    assert to_format((1.4, 2, 3, 4), "pixels", (10, 10)) == [1, 2, 3, 4]


@pytest.mark.parametrize("reply, boxes, rule", [
    ("[[10, 20, 30, 40]]", [(10, 20, 30, 40)], "json"),
    ("[10, 20, 30, 40]", [(10, 20, 30, 40)], "json"),
    ('```json\n[{"bbox_2d": [1, 2, 3, 4], "label": "scratch"}, {"bbox_2d": [5, 6, 7, 8]}]\n```',
     [(1, 2, 3, 4), (5, 6, 7, 8)], "json"),
    ('{"boxes": [[30, 40, 10, 20]]}', [(10, 20, 30, 40)], "json"),       # corners put in order
    ("<|box_start|>(12,34),(56,78)<|box_end|>", [(12, 34, 56, 78)], "qwen-tokens"),
    ("defect at (1, 2),(3, 4) and (5,6),(7,8)", [(1, 2, 3, 4), (5, 6, 7, 8)], "qwen-tokens"),
    ("The defect is at [10, 20, 30, 40] and (50.5, 60, 70, 80).", [(10, 20, 30, 40), (50.5, 60, 70, 80)], "prose"),
    ("<think>maybe [0, 0, 1, 1]</think>[[2, 2, 4, 4]]", [(2, 2, 4, 4)], "json"),
    ("[]", [], "empty"),
])
def test_parser_reads(reply, boxes, rule):
    assert parse_boxes(reply) == (boxes, rule)


@pytest.mark.parametrize("reply", ["", None, "no defect visible", "[1, 2, 3]", "{'a': 1}", "B"])
def test_parser_failures(reply):
    assert parse_boxes(reply) == (None, "unparsed")


@settings(derandomize=True, max_examples=100)
@given(st.lists(st.tuples(*[st.integers(0, 4000)] * 4), min_size=1, max_size=6),
       st.sampled_from(["{}", "```json\n{}\n```", "Here you go: {} done.", '{{"boxes": {}}}']))
def test_parser_reads_back_any_written_json(raw, wrapper):
    boxes = [(min(a, c), min(b, d), max(a, c), max(b, d)) for a, b, c, d in raw]
    import json

    got, rule = parse_boxes(wrapper.format(json.dumps([list(b) for b in boxes])))
    assert rule == "json" and got == [tuple(float(v) for v in b) for b in boxes]


def test_run_level_scores_hand_computed(tmp_path):
    """Three images: an exact box, a box overlapping 1/3, a failed request; norm1000 replies converted."""
    import json

    from PIL import Image

    from mmad_eval.answers import AnswerRecord
    from mmad_eval.questions.grounding import GROUNDING, GroundingTruth
    from mmad_eval.score.grounding import score_grounding

    mask = np.zeros((100, 200), np.uint8)
    mask[0:10, 0:10] = 255
    Image.fromarray(mask).save(tmp_path / "m.png")
    truth = GroundingTruth("norm1000", (200, 100), ((0.0, 0.0, 10.0, 10.0),), "m.png").to_json()

    def rec(i, parsed, error=None):
        return AnswerRecord(image=f"D/c/test/x/{i}.png", index=0, type=GROUNDING, options={}, answer=truth,
                            reply=None if error else "r", error=error, parsed=parsed)
    records = [rec(0, json.dumps([[0, 0, 50, 100]])),             # (0, 0, 10, 10) in pixels: IoU 1
               rec(1, json.dumps([[25, 0, 75, 100]])),            # (5, 0, 15, 10): IoU 1/3
               rec(2, None, error="server_error: 500")]
    s = score_grounding(records, tmp_path, n_boot=0)
    assert s.summary["mIoU"] == pytest.approx(100 * (1 + 1 / 3) / 3)
    assert s.summary["Acc@0.1"] == pytest.approx(200 / 3) and s.summary["Acc@0.5"] == pytest.approx(100 / 3)
    assert s.summary["pixel IoU"] == pytest.approx(100 * (1 + 50 / 150) / 3)
    assert s.summary["errors"] == pytest.approx(100 / 3) and s.summary["parse failures"] == 0
