import numpy as np
import pytest

from mmad_eval.enhance.expert import service as service_module
from mmad_eval.enhance.expert.service import ExpertService
from mmad_eval.errors import ConfigError, DataError, MissingExtraError

from expert_helpers import FAST


def test_builtin_result_fields_and_cache(data_root):
    root, qs = data_root
    service_module._FITTED.clear()
    svc = ExpertService(root, qs, settings=FAST)
    bad = svc.analyze("DS-MVTec/wood/image/stain/000.png")
    assert bad.kind == "builtin" and bad.verdict and bad.score > bad.threshold
    assert bad.anomaly_map.shape == (96, 96) and bad.anomaly_map.dtype == np.float32
    # the map is in threshold units: its maximum is the score divided by the threshold
    assert float(bad.anomaly_map.max()) == pytest.approx(bad.score / bad.threshold, rel=0.05)
    assert 1 <= len(bad.boxes) <= 2 and bad.location == "top right" and bad.references == 5
    assert svc.analyze("DS-MVTec/wood/image/stain/000.png") is bad          # cached per key
    good = svc.analyze("DS-MVTec/wood/image/good/000.png")
    assert good.score < bad.score
    assert svc.fits == 1                                                      # one fit per category
    svc.analyze("DS-MVTec/tile/image/good/000.png")
    assert svc.fits == 2


def test_services_of_one_process_share_fitted_detectors(data_root):
    """An evaluation, its ablation arms and the expert baseline fit each category once per process."""
    root, qs = data_root
    service_module._FITTED.clear()
    first, second = ExpertService(root, qs, settings=FAST), ExpertService(root, qs, settings=FAST)
    a = first.analyze("DS-MVTec/wood/image/stain/000.png")
    b = second.analyze("DS-MVTec/wood/image/stain/000.png")
    assert (first.fits, second.fits) == (1, 0) and a.score == pytest.approx(b.score)
    other = ExpertService(root, qs, settings=FAST, max_references=3)      # other references: its own fit
    other.analyze("DS-MVTec/wood/image/stain/000.png")
    assert other.fits == 1


def test_references_union_sorted_capped_without_queries(data_root):
    root, qs = data_root
    svc = ExpertService(root, qs, settings=FAST)
    refs = svc.references("DS-MVTec", "wood")
    assert refs == sorted(refs) and len(refs) == 5
    assert all("train/good" in r for r in refs)
    capped = ExpertService(root, qs, settings=FAST, max_references=3).references("DS-MVTec", "wood")
    assert len(capped) == 3 and set(capped) <= set(refs) and capped == sorted(capped)
    assert capped == ExpertService(root, qs, settings=FAST, max_references=3).references("DS-MVTec", "wood")


def test_errors(data_root, tmp_path):
    root, qs = data_root
    with pytest.raises(ConfigError):
        ExpertService(root, qs, kind="magic")
    svc = ExpertService(root, qs, settings=FAST)
    with pytest.raises(DataError):
        svc.analyze("DS-MVTec/wood/image/stain/999.png")        # not a query of the set
    # a missing template file is a DataError naming it, not a crash
    broken = ExpertService(tmp_path, qs, settings=FAST)
    with pytest.raises(DataError, match="train/good"):
        broken.analyze("DS-MVTec/wood/image/stain/000.png")


def test_anomalib_kind_fails_fast_without_the_extra(data_root):
    try:
        import anomalib  # noqa: F401
        pytest.skip("anomalib is installed here")
    except ImportError:
        pass
    root, qs = data_root
    svc = ExpertService(root, qs, kind="anomalib")
    with pytest.raises(MissingExtraError, match="anomalib"):
        svc.analyze("DS-MVTec/wood/image/stain/000.png")


def test_misleading_hint_is_another_querys_analysis_of_the_opposite_label(data_root):
    """A deliberately wrong hint: for a defective query, the analysis of a normal one (and vice versa)."""
    root, qs = data_root
    honest = ExpertService(root, qs, settings=FAST)
    wrong = ExpertService(root, qs, kind="misleading", settings=FAST)
    bad, good = "DS-MVTec/wood/image/stain/000.png", "DS-MVTec/wood/image/good/000.png"
    on_bad, on_good = wrong.analyze(bad), wrong.analyze(good)
    assert on_bad.kind == on_good.kind == "misleading"
    assert on_bad.score == pytest.approx(honest.analyze(good).score)       # the normal image's verdict
    assert on_good.score == pytest.approx(honest.analyze(bad).score)       # the defective image's marks
    assert on_good.verdict and not on_bad.verdict
    assert on_bad.anomaly_map.shape == honest.analyze(bad).anomaly_map.shape
    assert ExpertService(root, qs, kind="misleading", settings=FAST).analyze(bad).score == on_bad.score
