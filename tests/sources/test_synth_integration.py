"""The loader reads the built-in synthetic generator's real output (Synth-AD tree, knowledge, metadata)."""
import warnings

import pytest

from mmad_eval.sources.detect import detect_layout, load_source
from mmad_eval.sources.imagecheck import read_mask

synth = pytest.importorskip("mmad_eval.sources.synth.generate")


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    synth.generate_synthetic(out, categories=["bottle", "carpet"], n_train=3, n_test_good=1, n_per_defect=1,
                             size=64, workers=1)
    return out


def test_synthetic_tree_loads_with_knowledge_and_metadata(synth_dir):
    folder = synth_dir / "Synth-AD"
    assert detect_layout(folder) == "mvtec"
    with warnings.catch_warnings():
        warnings.simplefilter("error")            # nothing skipped: no warning at all
        s = load_source(folder)
    assert s.skipped == [] and s.knowledge_path == synth_dir / "knowledge.json"
    assert s.categories() == ["bottle", "carpet"]
    assert all(len(v) == 3 for v in s.normals.values())
    bad = [x for x in s.samples if x.is_anomalous]
    assert bad and all(x.meta.get("location") and x.meta.get("bbox") for x in bad)
    assert all(x.defect_kind in ("structural", "logical") for x in bad)
    assert all(x.meta["defect_type"] == x.defect_type for x in bad)
    with_mask = [x for x in bad if x.mask]
    assert with_mask and all(read_mask(s.root / x.mask).any() for x in with_mask)
