"""Defect Localization answers against the mask (label_audit/localization.py, spatial.py) at the edges the
evidence and the verdict depend on: the 3x3 grid shares, "in several places" (three blobs in three cells),
"across most of the image" against a narrow defect (a tenth of the image), the middle band of a half
(issue 25)."""
import numpy as np
import pytest
from PIL import Image

from mmad_eval.label_audit import spatial
from mmad_eval.label_audit.localization import check_entry
from mmad_eval.label_audit.masks import MaskCache, Outlines
from mmad_eval.questions.model import ImageEntry, Question

H, W = 60, 90                      # a mask of 3x3 cells of 20x30 pixels
KEY = "D/widget/test/bad/0.png"


def _verdict(tmp_path, mask: np.ndarray, options: dict, answer="A"):
    (tmp_path / "D/widget/gt").mkdir(parents=True, exist_ok=True)
    Image.fromarray(mask.astype(np.uint8) * 255).save(tmp_path / "D/widget/gt/0.png")
    entry = ImageEntry(KEY, [Question(KEY, 0, "Defect Localization", "Where?", options, answer)],
                       mask_path="D/widget/gt/0.png")
    return check_entry(entry, MaskCache(tmp_path), Outlines(tmp_path, {}))


def _cells(*cells, rows=slice(4, 16), cols=slice(5, 25)):
    """A mask with one blob inside each named cell (0 = top left, 8 = bottom right)."""
    m = np.zeros((H, W), bool)
    for c in cells:
        r, k = divmod(c, 3)
        m[r * 20 + rows.start:r * 20 + rows.stop, k * 30 + cols.start:k * 30 + cols.stop] = True
    return m


@pytest.mark.parametrize("cell", [8, 5])
def test_a_wrong_answer_s_evidence_gives_the_mask_s_cells_and_box(tmp_path, cell):
    v = _verdict(tmp_path, _cells(cell), {"A": "top left", "B": "bottom right"})
    (flag,) = v.flags
    ev = flag["evidence"]["mask"]
    assert ev["grid_shares"] == [1.0 if i == cell else 0.0 for i in range(9)]
    r, k = divmod(cell, 3)
    assert ev["bbox"] == [round((k * 30 + 5) / W, 3), round((r * 20 + 4) / H, 3), round((k * 30 + 25) / W, 3),
                          round((r * 20 + 16) / H, 3)]
    assert ev["area_frac"] == round(12 * 20 / (H * W), 4)
    assert flag["message"].startswith("the answer 'top left' names a region holding 0% of the defect")


@pytest.mark.parametrize("cells, flagged", [((0, 4, 8), True), ((0, 8), False), ((0, 1, 2, 8), True)])
def test_several_places_holds_a_defect_of_three_blobs_in_three_cells(tmp_path, cells, flagged):
    """A distractor "in several places" is flagged (it also describes the defect) from three blobs on."""
    v = _verdict(tmp_path, _cells(*cells), {"A": "top left", "B": "in several places"})
    assert bool(v.flags) is flagged
    if flagged:
        assert v.flags[0]["message"] == "distractor(s) 'in several places' hold 100% of the defect"
        assert v.flags[0]["evidence"]["blobs"] == len(cells)


@pytest.mark.parametrize("rows, flagged", [(slice(0, 20), False), (slice(0, 19), True), (slice(0, 10), True)])
def test_across_most_of_the_image_is_wrong_for_a_defect_under_a_tenth_of_the_image_in_two_cells(tmp_path, rows,
                                                                                                 flagged):
    m = np.zeros((H, W), bool)
    m[rows, 0:27] = True                       # 20 rows x 27 = 540 pixels = 10 % of 60 x 90, in one cell
    v = _verdict(tmp_path, m, {"A": "across most of the image", "B": "bottom right"})
    assert bool(v.flags) is flagged
    if flagged:
        assert v.flags[0]["message"].startswith("the answer 'across most of the image' names a region holding 0%")


@pytest.mark.parametrize("y0, y1, share", [(20, 40, 1.0), (16, 20, 1.0), (12, 14, 0.0), (46, 50, 0.0), (44, 45, 1.0)])
def test_the_middle_of_a_half_is_its_middle_band(y0, y1, share):
    """"the middle of the left half": rows from a quarter to three quarters of the height (60 rows: 15-44)."""
    parsed = spatial.parse("the middle of the left half")
    m = np.zeros((H, W), bool)
    m[y0:y1, 5:20] = True
    assert spatial.shares(parsed, m, spatial.Frames.for_mask((H, W)), 0.0, broad=False)["image"] == share


@pytest.mark.parametrize("extra_cell, flagged", [(True, True), (False, False)])
def test_across_most_of_the_image_holds_a_defect_over_seven_cells_and_a_third_of_the_image(tmp_path, extra_cell,
                                                                                           flagged):
    m = np.zeros((H, W), bool)
    m[:40, :] = True                                     # the top two rows of cells: six cells
    if extra_cell:
        m[45:55, 5:25] = True                            # and a seventh, bottom left
    v = _verdict(tmp_path, m, {"A": "top left", "B": "across most of the image"})
    assert bool(v.flags) is flagged
    if flagged:
        assert v.flags[0]["message"] == "distractor(s) 'across most of the image' hold 100% of the defect"


@pytest.mark.parametrize("in_answer, answer_wrong", [(2, False), (1, True)])
def test_an_answer_holding_two_percent_of_the_defect_is_not_called_wrong(tmp_path, in_answer, answer_wrong):
    m = np.zeros((H, W), bool)
    m[0, :in_answer] = True                              # top left
    m[45:45 + 7, 65:65 + 14] = True                      # 98 pixels bottom right
    m[52, 65:65 + 2 - in_answer] = True                  # 100 pixels in all
    assert m.sum() == 100
    v = _verdict(tmp_path, m, {"A": "top left", "B": "bottom right"})
    (flag,) = v.flags
    if answer_wrong:
        assert flag["message"] == "the answer 'top left' names a region holding 1% of the defect"
        assert flag["fix"] == {"action": "correct_answer", "answer_text": "bottom right",
                               "why": "'bottom right' holds most of the defect"}
    else:
        assert flag["message"] == "distractor(s) 'bottom right' hold 98% of the defect"
        assert flag["fix"]["action"] == "exclude" and "a distractor also describes" in flag["fix"]["why"]


@pytest.mark.parametrize("cells, flagged", [((0, 1), True), ((0, 1, 2), False), ((4,), True)])
def test_a_narrow_defect_touches_at_most_two_cells(tmp_path, cells, flagged):
    """Small blobs (under a tenth of the image): in one or two cells "across most of the image" is wrong."""
    mask = _cells(*cells, rows=slice(4, 10), cols=slice(5, 15))       # 60 pixels a cell: 1 % of the image
    v = _verdict(tmp_path, mask, {"A": "across most of the image", "B": "bottom right"})
    assert bool(v.flags) is flagged
    if flagged:
        assert v.flags[0]["message"].startswith("the answer 'across most of the image' names a region holding 0%")


@pytest.mark.parametrize("cells, flagged", [((4,), True), ((0, 8), False)])
def test_an_answer_in_several_places_is_wrong_for_a_single_blob(tmp_path, cells, flagged):
    v = _verdict(tmp_path, _cells(*cells), {"A": "in several places", "B": "top right"})
    assert bool(v.flags) is flagged
    if flagged:
        assert v.flags[0]["message"] == "the answer 'in several places' names a region holding 0% of the defect"


@pytest.mark.parametrize("phrase, lo, hi, share", [("the right half", 0.3, 0.45, 0.0), ("the right half", 0.55, 0.7, 1.0),
                                                   ("the left half", 0.55, 0.7, 0.0), ("the left half", 0.3, 0.45, 1.0),
                                                   ("the bottom half", 0.3, 0.45, 0.0)])
def test_a_half_starts_or_ends_at_the_middle_of_the_frame(phrase, lo, hi, share):
    parsed = spatial.parse(phrase)
    m = np.zeros((H, W), bool)
    if "bottom" in phrase:
        m[int(lo * H):int(hi * H), 10:80] = True
    else:
        m[10:50, int(lo * W):int(hi * W)] = True
    assert spatial.shares(parsed, m, spatial.Frames.for_mask((H, W)), 0.0, broad=False)["image"] == share
