"""Object-relative Defect Localization on hand-made objects: a disk on a dark background."""
import numpy as np
import pytest

from qgen_fixtures import knowledge, write_png
from mmad_eval.questions.generate import GenerateSettings, generate_questions
from mmad_eval.questions.generate.object_zones import (EDGE_RHO, MIDDLE_RHO, OUTSIDE_RHO, SIDES, ZONE_PHRASES,
                                                        answer_zone, estimate_object, free_zones, place)
from mmad_eval.questions.generate.options import display
from mmad_eval.questions.mmad_io import write_mmad_json
from mmad_eval.sources.sample import AnnotatedSample, SourceSet

SIDE, CY, CX, R = 80, 40, 40, 30
ZONE_OF = {display(p, period=True): z for z, p in ZONE_PHRASES.items()}


def disk_image(cy=CY, cx=CX, r=R, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:SIDE, :SIDE]
    img = np.full((SIDE, SIDE, 3), 25.0) + rng.normal(0, 3, (SIDE, SIDE, 3))
    img[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = (200, 170, 60)
    return np.clip(img, 0, 255).astype(np.uint8)


def box(y0, y1, x0, x1):
    m = np.zeros((SIDE, SIDE), bool)
    m[y0:y1, x0:x1] = True
    return m


def true_zone(zone: str) -> np.ndarray:
    """The zone's pixels computed straight from the disk's known centre and radius (the test's oracle)."""
    yy, xx = np.mgrid[:SIDE, :SIDE]
    u, v = (xx + 0.5 - CX) / R, (yy + 0.5 - CY) / R
    rho = np.hypot(u, v)
    side = np.where(np.abs(v) >= np.abs(u), np.where(v < 0, 0, 2), np.where(u > 0, 1, 3))
    if zone == "middle":
        return rho < MIDDLE_RHO
    kind, _, s = zone.partition(":")
    lo = EDGE_RHO if kind == "edge" else MIDDLE_RHO
    ring = (rho >= lo) & (rho <= OUTSIDE_RHO)
    return ring & (side == SIDES.index(s)) if s else ring


DEFECTS = {"rim_left": box(34, 46, 11, 16),          # x 11-15: rho 0.82-0.98, on the left of the disk
           "centre": box(37, 43, 37, 43),            # the middle of the disk
           "rim_top": box(11, 15, 30, 50)}           # top edge


def build(root) -> SourceSet:
    """bottle (object) and tile (texture) share the same fixed disk; cup (object) moves between images."""
    samples, normals = [], {}
    for cat, shift in (("bottle", 0), ("tile", 0), ("cup", 14)):
        pool = []
        for i in range(5):
            p = f"DS/{cat}/train/good/{i:03d}.png"
            dx = shift * ((-1) ** i) * (i % 3)
            write_png(root / p, disk_image(cx=CX + dx, cy=CY - dx // 2, r=R - (shift and 8), seed=i))
            pool.append(p)
        normals[cat] = pool
        for name, mask in DEFECTS.items():
            img = disk_image(seed=9)
            img[mask] = (30, 30, 30)
            p, mp = f"DS/{cat}/test/crack/{name}.png", f"DS/{cat}/ground_truth/crack/{name}_mask.png"
            write_png(root / p, img)
            write_png(root / mp, mask.astype(np.uint8) * 255)
            samples.append(AnnotatedSample(image=p, dataset="DS", category=cat, is_anomalous=True,
                                           defect_type="crack", mask=mp))
    return SourceSet(root=root, dataset="DS", samples=samples, normals=normals)


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    return build(tmp_path_factory.mktemp("disk"))


def _generate(source, **kw):
    return generate_questions(source, knowledge(), GenerateSettings(similar="none", balance=False, **kw))


@pytest.fixture(scope="module")
def result(source):
    return _generate(source, object_regions=1.0)


def loc(result, cat, name):
    return next(q for q in result.questions.entries[f"DS/{cat}/test/crack/{name}.png"].questions
                if q.type == "Defect Localization")


def _distractors_avoid_mask(q, name):
    for letter, text in q.options.items():
        if letter != q.answer:
            assert not (true_zone(ZONE_OF[text]) & DEFECTS[name]).any(), text


def test_outline_of_a_fixed_object_is_the_disk():
    images = [disk_image(seed=i).astype(np.float32) for i in range(4)]
    shape, reason = estimate_object(np.mean(images, axis=0), images)
    assert shape is not None, reason
    yy, xx = np.mgrid[:SIDE, :SIDE]
    disk = (yy - CY) ** 2 + (xx - CX) ** 2 <= R * R
    assert (shape.mask & disk).sum() / (shape.mask | disk).sum() > 0.95
    assert shape.agreement > 0.95


def test_moving_object_and_texture_get_no_outline():
    moved = [disk_image(cx=CX + dx, r=20).astype(np.float32) for dx in (-14, 0, 14)]
    shape, reason = estimate_object(np.mean(moved, axis=0), moved)
    assert shape is None and "moves" in reason
    rng = np.random.default_rng(0)
    texture = [rng.uniform(0, 255, (SIDE, SIDE, 3)).astype(np.float32) for _ in range(3)]
    shape, reason = estimate_object(np.mean(texture, axis=0), texture)
    assert shape is None and reason


def test_rim_defect_is_on_the_edge_and_no_distractor_touches_it(result):
    q = loc(result, "bottle", "rim_left")
    assert q.provenance["rule"] == "localization.object.edge"
    assert q.options[q.answer] == "On the left edge of the object."
    assert len(q.options) == 4
    _distractors_avoid_mask(q, "rim_left")
    wrong = {t for letter, t in q.options.items() if letter != q.answer}
    assert not wrong & {"On the left part of the object.", "Around the edge of the object."}
    p = q.provenance["details"]["placement"]            # the measured values are recorded
    assert p["edges"]["left"] == 1.0 and p["middle"] == 0.0 and 0.8 <= p["rho_range"][0] < p["rho_range"][1] <= 1.0
    q = loc(result, "bottle", "rim_top")
    assert q.options[q.answer] == "On the top edge of the object."
    _distractors_avoid_mask(q, "rim_top")


def test_centre_defect_is_in_the_middle(result):
    q = loc(result, "bottle", "centre")
    assert q.provenance["rule"] == "localization.object.middle"
    assert q.options[q.answer] == "In the middle of the object."
    assert q.provenance["details"]["placement"]["middle"] == 1.0
    _distractors_avoid_mask(q, "centre")


def test_textures_and_moving_objects_keep_grid_phrases(result):
    for cat in ("tile", "cup"):                       # tile: kind texture; cup: its normals disagree
        for name in DEFECTS:
            q = loc(result, cat, name)
            assert q.provenance["rule"].startswith("localization.grid3x3."), (cat, name)
            assert not any(t.endswith("of the object.") for t in q.options.values())
    assert loc(result, "tile", "centre").options[loc(result, "tile", "centre").answer] == "Center of the image."


@pytest.mark.parametrize("name", sorted(DEFECTS))
def test_free_zones_are_exactly_the_zones_the_mask_misses(name):
    images = [disk_image(seed=i).astype(np.float32) for i in range(3)]
    shape, _ = estimate_object(np.mean(images, axis=0), images)
    free = set(free_zones(place(shape, DEFECTS[name])))
    assert free == {z for z in ZONE_PHRASES if not (true_zone(z) & DEFECTS[name]).any()}


def test_off_object_or_spread_defect_has_no_object_answer():
    images = [disk_image(seed=i).astype(np.float32) for i in range(3)]
    shape, _ = estimate_object(np.mean(images, axis=0), images)
    assert answer_zone(place(shape, box(0, 6, 0, 6))) is None            # background corner: off the object
    spread = box(38, 42, 12, 68)                                          # left edge to right edge, across
    assert answer_zone(place(shape, spread)) is None
    ring = np.hypot(*np.mgrid[:SIDE, :SIDE] - np.array([CY, CX])[:, None, None] + 0.5) / R
    zone = answer_zone(place(shape, (ring > 0.85) & (ring < 0.97)))
    assert zone == ("edge", "around")


def test_share_zero_keeps_grid_and_the_choice_is_seeded(source, tmp_path):
    grid = _generate(source, object_regions=0.0)
    assert all(q.provenance["rule"].startswith("localization.grid3x3.")
               for q in grid.questions.questions() if q.type == "Defect Localization")
    half = [_generate(source, object_regions=0.5, seed=s) for s in range(6)]
    forms = {loc(r, "bottle", n).provenance["rule"].split(".")[1] for r in half for n in DEFECTS}
    assert forms == {"grid3x3", "object"}
    a = write_mmad_json(half[0].questions, tmp_path / "a.json")
    b = write_mmad_json(_generate(source, object_regions=0.5, seed=0).questions, tmp_path / "b.json")
    assert a == b and (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
