"""Free-pose objects (rotation-invariant patch memory) and the incremental pasted-defect distances."""
import numpy as np
import pytest
from scipy import ndimage

from mmad_eval.enhance.expert import Detector, DetectorSettings
from mmad_eval.enhance.expert.calibrate import paste_defect
from mmad_eval.enhance.expert.features import free_pose, orientation_stats
from mmad_eval.enhance.expert.memory import MemoryBank

SIDE = 96


def rod(angle_deg: float, rng: np.random.Generator, blob: tuple[int, int] | None = None):
    """A ribbed bright rod on a dark, slightly noisy background, rotated by ``angle_deg`` about the centre;
    optionally a dark spot painted at ``blob`` (row, col) after rotation. Returns (uint8 image, mask)."""
    yy, xx = np.mgrid[0:SIDE, 0:SIDE].astype(np.float32)
    t = np.deg2rad(angle_deg)
    u = (xx - SIDE / 2) * np.cos(t) + (yy - SIDE / 2) * np.sin(t)
    v = -(xx - SIDE / 2) * np.sin(t) + (yy - SIDE / 2) * np.cos(t)
    body = ((np.abs(u) < 34) & (np.abs(v) < 7)).astype(np.float32)
    body = ndimage.gaussian_filter(body, 0.8)
    ribs = 0.75 + 0.25 * np.sin(u * 1.6)
    lum = 0.15 + 0.02 * rng.standard_normal((SIDE, SIDE)).astype(np.float32) + body * 0.7 * ribs
    mask = np.zeros((SIDE, SIDE), bool)
    if blob is not None:
        mask = np.hypot(yy - blob[0], xx - blob[1]) < 4
        lum[mask] = 0.2
    rgb = np.clip(np.stack([lum, lum * 0.97, lum * 0.92], -1), 0, 1)
    return (rgb * 255).astype(np.uint8), mask


@pytest.fixture(scope="module")
def rods():
    rng = np.random.default_rng(3)
    refs = [rod(a, rng)[0] for a in (0, 12, 27, 45, 63, 80, 98, 117, 135, 152)]
    return refs, rng


def test_free_pose_is_told_from_fixed_pose_and_textures(rods, texture_set):
    refs, rng = rods
    as_float = [r.astype(np.float32) / 255 for r in refs]
    assert free_pose(as_float)
    fixed = [rod(5 * (i % 2), rng)[0].astype(np.float32) / 255 for i in range(6)]
    coherence, agreement = orientation_stats(fixed)
    assert coherence > 0.15 and agreement > 0.95 and not free_pose(fixed)
    assert not free_pose([t.astype(np.float32) / 255 for t in texture_set[0]])


def test_rotation_invariant_memory_finds_blob_on_a_rotated_rod(rods):
    refs, rng = rods
    # a pose between the references' (their orientations are 0-152 degrees, 9-19 degrees apart)
    t = np.deg2rad(-160)
    cy, cx = SIDE / 2 + 20 * np.sin(t), SIDE / 2 + 20 * np.cos(t)
    query, mask = rod(-160, rng, blob=(int(round(cy)), int(round(cx))))
    normal, _ = rod(-140, rng)
    plain = Detector(DetectorSettings(side=SIDE, max_bank=4000, variant="knn")).fit(refs)
    rot = Detector(DetectorSettings(side=SIDE, max_bank=4000, variant="knn+rot")).fit(refs)
    rot_map, rot_score = rot.predict(query)
    assert mask[np.unravel_index(int(rot_map.argmax()), rot_map.shape)]
    assert rot_score > rot.predict(normal)[1]
    # the plain memory separates the defective from the normal rod far less well
    plain_margin = plain.predict(query)[1] / plain.predict(normal)[1]
    assert rot_score / rot.predict(normal)[1] > plain_margin
    auto = Detector(DetectorSettings(side=SIDE, max_bank=4000)).fit(refs)
    assert auto.free_pose
    assert all(not ("pos" in n or "align" in n) for n in auto.calibration.selection)
    assert any("rot" in n for n in auto.calibration.selection)


def test_incremental_pasted_defect_distances_equal_full_recomputation(texture_set):
    refs = texture_set[0]
    det = Detector(DetectorSettings(side=SIDE, max_bank=3000, variant="knn+pos")).fit(refs[:5])
    rgb = refs[1].astype(np.float32) / 255
    _, base = det._raw(rgb, ["knn_pos"], exclude=1)
    for kind in range(5):
        bad, _ = paste_defect(rgb, np.random.default_rng(kind), kind)
        fast, cache = det._raw(bad, ["knn_pos"], exclude=1, base=base)
        full, full_cache = det._raw(bad, ["knn_pos"], exclude=1)
        np.testing.assert_allclose(cache["knn_pos"][1], full_cache["knn_pos"][1], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(fast["knn_pos"], full["knn_pos"], rtol=1e-5, atol=1e-5)


def test_updated_distances_searches_only_changed_rows():
    rng = np.random.default_rng(0)
    parts = [rng.standard_normal((300, 5)).astype(np.float32) for _ in range(3)]
    bank = MemoryBank(parts)
    base_q = rng.standard_normal((50, 5)).astype(np.float32)
    base_d = bank.distances(base_q, exclude=2)
    q = base_q.copy()
    q[[3, 17]] += 5.0
    calls = []
    original = bank.distances
    bank.distances = lambda x, exclude=None: calls.append(len(x)) or original(x, exclude)
    got = bank.updated_distances(q, base_q, base_d, exclude=2)
    assert calls == [2]
    np.testing.assert_allclose(got, original(q, exclude=2), rtol=1e-6, atol=1e-5)
