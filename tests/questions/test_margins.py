"""Each rule's margin: a value near a boundary is not asked on that attribute, tone values exclude each
other, localization distractors keep a gap from the defect, knowledge distractors are contradicted."""
import numpy as np

from qgen_fixtures import SIDE, disk_mask
from mmad_eval.questions.generate.contradict import contradicted, part_contradicted
from mmad_eval.questions.generate.description import (Extent, certain_shape, certain_size, certain_tone,
                                                       phrase)
from mmad_eval.questions.generate.localization import free_regions, region_phrase
from mmad_eval.questions.generate.margins import DEFAULT, Margins
from mmad_eval.questions.generate.masks import Tone, measure
from mmad_eval.questions.generate.object_zones import estimate_object, free_zones, place

M = DEFAULT


def test_size_near_a_boundary_is_not_asked():
    assert certain_size(0.009, M)[0] is None and "0.01" in certain_size(0.009, M)[1]   # x1.1 of 1 %
    assert certain_size(0.011, M)[0] is None
    assert certain_size(0.005, M)[0] == "small" and certain_size(0.02, M)[0] == "medium-sized"
    assert certain_size(0.0005, M)[0] == "tiny" and certain_size(0.2, M)[0] == "large"
    assert certain_size(0.0065, M)[0] == "small" and certain_size(0.0068, M)[0] is None   # 0.01 / 1.5
    wider = Margins(size_margin=2.0)
    assert certain_size(0.006, wider)[0] is None


def test_size_is_relative_to_the_product():
    """The same 1 % of the image is small on a full-frame texture, medium on a product filling a third."""
    rel_image = 0.005 / Extent(1.0, "image").area_frac
    rel_object = 0.005 / Extent(0.25, "object_outline").area_frac
    assert certain_size(rel_image, M)[0] == "small" and certain_size(rel_object, M)[0] == "medium-sized"


def test_tone_values_exclude_each_other():
    assert certain_tone(Tone(-40, 2, "normal_mean"), M)[0] == "darker"
    assert certain_tone(Tone(40, 2, "normal_mean"), M)[0] == "brighter"
    assert certain_tone(Tone(-3, 30, "normal_mean"), M)[0] == "colour"
    assert certain_tone(Tone(2, 2, "normal_mean"), M)[0] == "same"
    assert certain_tone(Tone(-40, 30, "normal_mean"), M)[0] is None     # darker AND coloured: no tone value
    assert certain_tone(Tone(-13, 2, "normal_mean"), M)[0] is None      # just past the step: within margin
    assert certain_tone(Tone(-2, 11, "normal_mean"), M)[0] is None
    assert certain_tone(None, M)[0] is None


def test_shape_margins():
    stats = measure(disk_mask(30, 30, 10) > 0)
    assert certain_shape(stats, M)[0] == "round"
    line = np.zeros((SIDE, SIDE), bool)
    line[30:32, 5:55] = True
    assert certain_shape(measure(line), M)[0] == "elongated"
    ell = np.zeros((SIDE, SIDE), bool)
    ell[26:34, 10:36] = True                           # axis ratio about 3.2: within x1.25 of 3
    assert certain_shape(measure(ell), M)[0] is None
    two = (disk_mask(10, 10, 4) > 0) | (disk_mask(45, 45, 4) > 0)
    assert certain_shape(measure(two), M)[0] is None   # two marks: neither one mark nor scattered


def test_phrase_leaves_uncertain_attributes_out():
    assert phrase(None, "round", "darker") == "A round mark darker than the normal surface."
    assert phrase("small", None, None) == "A small mark."
    assert phrase(None, "elongated", None) == "An elongated mark."


def test_grid_distractors_keep_a_gap_from_the_defect():
    m = np.zeros((SIDE, SIDE), bool)
    m[5:15, 16:19] = True                              # top-left cell, 1-3 px from the top-middle cell
    stats = measure(m, gap=M.grid_gap)
    assert region_phrase(stats)[0] == "top left" and set(stats.touched) == {0}
    assert 1 in stats.near
    free = free_regions(stats, "cell")
    assert not any(t.lower().startswith("top middle") for t in free)
    wide_open = free_regions(measure(m, gap=0.0), "cell")
    assert any(t.lower().startswith("top middle") for t in wide_open)


def test_object_zones_keep_a_gap():
    side = 80
    yy, xx = np.mgrid[:side, :side]
    img = np.full((side, side, 3), 25.0)
    img[(yy - 40) ** 2 + (xx - 40) ** 2 <= 900] = (200, 170, 60)
    shape, _ = estimate_object(img, [img, img])
    defect = np.zeros((side, side), bool)
    defect[40:44, 52:55] = True                         # just inside rho 0.5 on the right: middle
    tight, loose = place(shape, defect, 0.0), place(shape, defect, M.zone_gap)
    assert "part:right" in free_zones(tight) and "part:right" not in free_zones(loose)


def test_knowledge_distractors_must_be_contradicted():
    assert not contradicted("shape", ["flat board"], "flat grained surface", "texture")    # the case
    assert contradicted("shape", ["flat board"], "cylindrical", "texture")
    assert not contradicted("shape", ["round"], "oval", "object")
    assert contradicted("shape", ["round"], "square mesh", "object")
    assert not contradicted("colors", ["amber", "brown"], "orange")
    assert contradicted("colors", ["amber", "brown"], "blue")
    assert not contradicted("colors", ["light gray"], "white")
    assert not contradicted("materials", ["wool", "synthetic fibre"], "fabric")
    assert contradicted("materials", ["glass"], "steel")
    assert not contradicted("colors", ["green"], "chartreuse")                           # unknown: never used
    assert not contradicted("cause", ["The bottle was hit or dropped."], "A knock against a hard object.")
    assert contradicted("cause", ["The bottle was hit or dropped."], "Dirt or debris from the production line.")
    assert not contradicted("effect", ["The item may break apart."], "A local dent or hole that weakens the material.")
    assert part_contradicted(["rim", "neck"], ["A glass bottle"], "thread")
    assert not part_contradicted(["rim", "neck"], ["A glass bottle"], "body")             # fits any product
    assert not part_contradicted(["rim", "neck"], ["A bottle with a screw cap"], "cap")   # its texts mention it
