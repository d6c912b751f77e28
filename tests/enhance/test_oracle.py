import numpy as np
import pytest

from mmad_eval.enhance.expert.oracle import oracle_result, resolve_mask
from mmad_eval.enhance.expert.service import ExpertService
from mmad_eval.errors import DataError
from mmad_eval.questions.model import ImageEntry

from expert_helpers import save_png


@pytest.mark.parametrize("category", ["wood", "tile"])   # mask relative to the root / to <dataset>/<category>/
def test_oracle_uses_the_mask(data_root, texture_set, category):
    root, qs = data_root
    mask = texture_set[3]
    res = ExpertService(root, qs, kind="oracle").analyze(f"DS-MVTec/{category}/image/stain/000.png")
    assert res.kind == "oracle" and res.score == 1.0 and res.verdict
    assert np.array_equal(res.anomaly_map > 0.5, mask)
    ys, xs = np.nonzero(mask)
    assert res.boxes == [(xs.min(), ys.min(), xs.max(), ys.max())]
    assert res.location == "top right"


def test_oracle_normal_image_is_empty(data_root):
    root, qs = data_root
    res = ExpertService(root, qs, kind="oracle").analyze("DS-MVTec/wood/image/good/000.png")
    assert res.score == 0.0 and not res.verdict and res.boxes == [] and res.location == ""
    assert res.anomaly_map.shape == (96, 96) and not res.anomaly_map.any()


def test_oracle_errors(data_root, tmp_path):
    root, _ = data_root
    key = "DS-MVTec/wood/image/stain/000.png"
    with pytest.raises(DataError, match="mask not found"):
        resolve_mask(root, ImageEntry(key, [], mask_path="mask/stain/404_mask.png"))
    with pytest.raises(DataError):
        resolve_mask(root, ImageEntry(key, [], mask_path="../../etc/passwd"))
    save_png(root / "DS-MVTec/wood/mask/stain/small_mask.png", np.zeros((10, 10), np.uint8))
    with pytest.raises(DataError, match="differs"):
        oracle_result(root, ImageEntry(key, [], mask_path="mask/stain/small_mask.png"))
