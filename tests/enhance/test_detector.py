import numpy as np
import pytest

from mmad_eval.enhance.expert import Detector, DetectorSettings
from mmad_eval.enhance.expert.calibrate import VARIANTS, auroc, paste_defect
from mmad_eval.enhance.expert.memory import MemoryBank
from mmad_eval.enhance.expert.result import boxes_and_location, grid_phrase
from mmad_eval.errors import DataError

from expert_helpers import FAST


def test_map_peak_inside_blob_and_score_above_normals(fitted, texture_set):
    _, normals, blob, mask = texture_set
    amap, score = fitted.predict(blob)
    assert amap.shape == blob.shape[:2] and amap.dtype == np.float32
    peak = np.unravel_index(int(amap.argmax()), amap.shape)
    assert mask[peak], f"peak {peak} outside the painted blob"
    normal_scores = [fitted.predict(n)[1] for n in normals]
    assert score > max(normal_scores)
    assert score == pytest.approx(float(amap.max()), rel=0.05)


def test_threshold_calibrated_on_normals(fitted, texture_set):
    _, normals, blob, _ = texture_set
    below = sum(fitted.predict(n)[1] <= fitted.threshold for n in normals)
    assert below >= len(normals) - 2
    assert fitted.predict(blob)[1] > fitted.threshold
    lo, hi = fitted.normal_range
    assert lo <= hi == pytest.approx(fitted.threshold)
    assert fitted.calibration.variant in {v.name for v in VARIANTS}
    # a texture has no pose: every fixed-pose variant is tried, no rotation-invariant one
    assert not fitted.free_pose
    assert set(fitted.calibration.selection) == {v.name for v in VARIANTS if not v.rotation}


def test_boxes_cover_blob_and_location(fitted, texture_set):
    _, _, blob, mask = texture_set
    amap, _ = fitted.predict(blob)
    boxes, location = boxes_and_location(amap / fitted.threshold)
    assert 1 <= len(boxes) <= 2
    x0, y0, x1, y1 = boxes[0]
    ys, xs = np.nonzero(mask)
    cy, cx = ys.mean(), xs.mean()
    assert x0 <= cx <= x1 and y0 <= cy <= y1
    assert location == "top right"


def test_predict_accepts_other_sizes_and_grey(fitted, texture_set):
    refs = texture_set[0]
    grey = refs[0].mean(2).astype(np.uint8)
    big = np.kron(refs[1], np.ones((2, 2, 1), np.uint8))
    assert fitted.predict(grey)[0].shape == grey.shape
    assert fitted.predict(big)[0].shape == big.shape[:2]


def test_fixed_variant_and_alignment(texture_set):
    refs, _, blob, mask = texture_set
    det = Detector(DetectorSettings(side=96, max_bank=3000, variant="knn+align/var")).fit(refs[:4])
    assert det.calibration.variant == "knn+align/var" and det.align is not None
    amap, _ = det.predict(blob)
    assert mask[np.unravel_index(int(amap.argmax()), amap.shape)]


def test_needs_two_references(texture_set):
    with pytest.raises(DataError):
        Detector(FAST).fit(texture_set[0][:1])
    with pytest.raises(RuntimeError):
        Detector(FAST).predict(texture_set[0][0])


def test_box_rules_on_known_maps():
    amap = np.zeros((90, 90), np.float32)
    amap[5:15, 5:20] = 1.0       # biggest, top left
    amap[70:80, 70:75] = 0.9     # bottom right
    amap[40:42, 40:42] = 0.8     # third: dropped (at most 2 boxes)
    amap[60:62, 10:12] = 0.5     # below 2/3 of the max: not marked
    boxes, location = boxes_and_location(amap)
    assert boxes == [(5, 5, 19, 14), (70, 70, 74, 79)]
    assert location == "top left"
    assert boxes_and_location(np.zeros((10, 10), np.float32)) == ([], "")


@pytest.mark.parametrize("row,col,phrase", [
    (0, 0, "top left"), (0, 1, "top middle"), (0, 2, "top right"), (1, 0, "middle left"), (1, 1, "center"),
    (1, 2, "middle right"), (2, 0, "bottom left"), (2, 1, "bottom middle"), (2, 2, "bottom right")])
def test_grid_phrases(row, col, phrase):
    assert grid_phrase(row * 30 + 15, col * 40 + 20, 90, 120) == phrase
    amap = np.zeros((90, 120), np.float32)
    amap[row * 30 + 10: row * 30 + 20, col * 40 + 15: col * 40 + 25] = 1
    assert boxes_and_location(amap)[1] == phrase


def test_auroc_matches_pair_counting():
    rng = np.random.default_rng(0)
    labels = rng.random(60) < 0.4
    scores = np.round(rng.random(60), 1)            # many ties
    pos, neg = scores[labels], scores[~labels]
    pairs = (pos[:, None] > neg[None]).mean() + 0.5 * (pos[:, None] == neg[None]).mean()
    assert auroc(labels, scores) == pytest.approx(pairs)
    assert auroc([1, 1, 0, 0], [0.9, 0.8, 0.1, 0.2]) == 1.0
    assert np.isnan(auroc([1, 1], [0.1, 0.2]))


def test_memory_bank_exact_and_leave_one_out():
    rng = np.random.default_rng(1)
    parts = [rng.standard_normal((200, 6)).astype(np.float32) for _ in range(3)]
    bank = MemoryBank(parts, max_size=10000)
    q = np.concatenate([parts[0][:5], rng.standard_normal((5, 6)).astype(np.float32)])
    brute = np.sqrt(((q[:, None] - np.concatenate(parts)[None]) ** 2).sum(-1)).min(1)
    assert np.allclose(bank.distances(q), brute, atol=1e-3)
    assert np.allclose(bank.distances(q)[:5], 0, atol=1e-3)        # own patches are in the bank
    assert (bank.distances(q, exclude=0)[:5] > 0.1).all()            # ... and left out on request
    small = MemoryBank(parts, max_size=150)
    assert len(small) == 150 and set(np.unique(small.origin)) <= {0, 1, 2}


def test_paste_defect_changes_only_the_masked_area(texture_set):
    ref = texture_set[0][0].astype(np.float32) / 255
    for kind in range(5):
        bad, mask = paste_defect(ref, np.random.default_rng(kind), kind)
        assert mask.any() and mask.mean() < 0.2
        changed = np.abs(bad - ref).max(2) > 0.02
        assert changed[mask].mean() > 0.5
        assert changed[~mask].mean() < 0.05
