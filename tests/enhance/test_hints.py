import io

import numpy as np
import pytest
from PIL import Image

from mmad_eval.enhance.expert.result import ExpertResult
from mmad_eval.enhance.expert.service import ExpertService
from mmad_eval.enhance.hints import STYLES, render_hint
from mmad_eval.errors import ConfigError

from expert_helpers import FAST

KEY = "DS-MVTec/wood/image/stain/000.png"


@pytest.fixture(scope="module")
def builtin(data_root):
    root, qs = data_root
    return ExpertService(root, qs, settings=FAST).analyze(KEY)


def _copy(result):     # a fresh result object, so the per-result render cache cannot hide differences
    return ExpertResult(**{k: v for k, v in vars(result).items() if k != "rendered"})


def _pixels(png):
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def test_renderings_deterministic_and_distinct(data_root, builtin):
    root, _ = data_root
    images = {}
    for style in STYLES:
        png, text = render_hint(_copy(builtin), root / KEY, style)
        png2, text2 = render_hint(_copy(builtin), root / KEY, style)
        assert png == png2 and text == text2
        if style == "text":
            assert png is None
        else:
            assert png.startswith(b"\x89PNG") and _pixels(png).shape == (96, 96, 3)
            images[style] = png
    assert len(set(images.values())) == len(images)        # every image style looks different


def test_boxes_are_red_at_the_border(data_root, builtin):
    root, _ = data_root
    px = _pixels(render_hint(_copy(builtin), root / KEY, "boxes")[0])
    x0, y0, x1, y1 = builtin.boxes[0]
    red = (px[..., 0] == 255) & (px[..., 1] == 0) & (px[..., 2] == 0)
    assert red[y0, x0:x1 + 1].all() and red[y0:y1 + 1, x1].all()
    inside = red[y0 + 3:y1 - 2, x0 + 3:x1 - 2]
    assert not inside.any()
    original = np.asarray(Image.open(root / KEY).convert("RGB"))
    far = ~np.zeros(red.shape, bool)
    far[max(0, y0 - 3):y1 + 4, max(0, x0 - 3):x1 + 4] = False
    assert (px[far] == original[far]).all()


def test_mask_and_contours_mark_the_region(data_root, builtin):
    root, _ = data_root
    mask = _pixels(render_hint(_copy(builtin), root / KEY, "mask")[0])
    assert set(np.unique(mask)) == {0, 255}
    assert (mask[..., 0] == 255).mean() < 0.2
    contour = _pixels(render_hint(_copy(builtin), root / KEY, "contours")[0])
    red = (contour[..., 0] == 255) & (contour[..., 1] == 0)
    assert red.any() and not red[mask[..., 0] == 0].any()   # the outline lies on the marked region


def test_builtin_text(data_root, builtin):
    root, _ = data_root
    _, text = render_hint(_copy(builtin), root / KEY, "text")
    x0, y0, x1, y1 = builtin.boxes[0]
    assert text.startswith("An inspection model compared this image with 5 normal samples")
    assert f"anomaly score {builtin.score:.2f}" in text and f"threshold {builtin.threshold:.2f}" in text
    assert "verdict: likely defective" in text and "top right" in text
    assert f"[{x0}, {y0}, {x1}, {y1}]" in text and "96x96" in text
    assert text.endswith("may be wrong.")
    _, boxes_text = render_hint(_copy(builtin), root / KEY, "boxes")
    assert "red boxes" in boxes_text


def test_oracle_text(data_root):
    root, qs = data_root
    svc = ExpertService(root, qs, kind="oracle")
    _, bad = render_hint(svc.analyze(KEY), root / KEY, "overlay")
    assert "ground-truth defect mask" in bad and "top right" in bad and "may be wrong" not in bad
    good_key = "DS-MVTec/wood/image/good/000.png"
    png, good = render_hint(svc.analyze(good_key), root / good_key, "boxes")
    assert "empty" in good and np.array_equal(_pixels(png), np.asarray(Image.open(root / good_key).convert("RGB")))


def test_unknown_style(data_root, builtin):
    root, _ = data_root
    with pytest.raises(ConfigError):
        render_hint(builtin, root / KEY, "sparkles")
