"""`mmad-eval generate` exposes the generator's knobs: object-relative localization share and balancing."""
import json

import pytest

from mmad_eval.cli import main
from mmad_eval.sources.synth import generate_synthetic


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    return generate_synthetic(tmp_path_factory.mktemp("gen"), categories=["bottle", "pill"], n_train=6, n_test_good=2,
                              n_per_defect=4, size=128, workers=1)


def _rules(path):
    data = json.loads(path.read_text())
    return [q["provenance"]["rule"] for e in data.values() for q in e["conversation"]
            if q["type"] == "Defect Localization"]


def test_object_regions_flag(synth, tmp_path):
    grid, obj = tmp_path / "grid.json", tmp_path / "obj.json"
    base = ["generate", str(synth / "Synth-AD"), "--similar", "none"]
    assert main(base + ["--out", str(grid), "--object-regions", "0"]) == 0
    assert main(base + ["--out", str(obj), "--object-regions", "1"]) == 0
    assert _rules(grid) and not any(r.startswith("localization.object") for r in _rules(grid))
    assert any(r.startswith("localization.object") for r in _rules(obj))


def test_no_balance_keeps_every_question(synth, tmp_path):
    balanced, raw = tmp_path / "b.json", tmp_path / "r.json"
    base = ["generate", str(synth / "Synth-AD"), "--similar", "none", "--object-regions", "0"]
    assert main(base + ["--out", str(balanced)]) == 0
    assert main(base + ["--out", str(raw), "--no-balance"]) == 0
    count = lambda p: sum(len(e["conversation"]) for e in json.loads(p.read_text()).values())  # noqa: E731
    assert count(raw) > count(balanced)            # balancing leaves some questions out here


def test_margin_flag_is_recorded_and_checked(synth, tmp_path, capsys):
    out = tmp_path / "m.json"
    base = ["generate", str(synth / "Synth-AD"), "--similar", "none"]
    assert main(base + ["--out", str(out), "--margin", "size_margin=2", "--margin", "grid-gap=0.06"]) == 0
    qs = [q for e in json.loads(out.read_text()).values() for q in e["conversation"]]
    dd = [q for q in qs if q["type"] == "Defect Description"]
    assert dd and all(q["provenance"]["margins"]["size_margin"] == 2.0 for q in dd)
    assert all(q["provenance"]["margins"]["grid_gap"] == 0.06 for q in qs
               if q["provenance"]["rule"].startswith("localization.grid"))
    for bad, words in (("no_such=1", "NAME=VALUE"), ("size_margin=0.5", "at least 1"), ("lum_step=x", "not a number")):
        assert main(base + ["--out", str(tmp_path / "x.json"), "--margin", bad]) == 2
        assert words in capsys.readouterr().err
