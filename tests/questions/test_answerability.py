"""Answerability: the generated synthetic set has no question with a second defensible option or an answer
value within the margin (checked from the masks, images and knowledge, not the generator's records), and
the check catches each rule's margin being taken away."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mmad_eval.questions.answerability import answerability, plausible_sizes, plausible_tones, read_region
from mmad_eval.questions.generate import GenerateSettings, generate_questions
from mmad_eval.questions.generate.margins import DEFAULT, Margins
from mmad_eval.questions.mmad_io import write_mmad_json
from mmad_eval.sources.detect import load_source
from mmad_eval.sources.knowledge import load_knowledge

FAMILIES = ("description.", "localization.grid3x3.", "localization.object.", "analysis.", "defect_type.",
            "object.classification", "object.parts", "object.shape", "object.materials", "object.colors")


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    from mmad_eval.sources.synth.generate import generate_synthetic

    root = tmp_path_factory.mktemp("answerability")
    generate_synthetic(root, seed=0, categories=["bottle", "capsule", "pill", "carpet", "wood", "pcb"], n_train=5,
                       n_test_good=3, n_per_defect=3, size=128)
    return root, load_source(root / "Synth-AD"), load_knowledge(root / "knowledge.json")


def _audit(synth, settings=None, margins=None):
    root, src, kn = synth
    res = generate_questions(src, kn, settings or GenerateSettings(similar="none"))
    return res, answerability(res.questions, root, kn, margins=margins)


def test_synthetic_set_has_exactly_one_defensible_option(synth):
    res, rep = _audit(synth)
    assert rep["total"]["checked"] >= 0.7 * len(res.questions), rep["unchecked"]
    for fam in FAMILIES:                                      # every rule family is really checked
        assert sum(r["checked"] for k, r in rep["rules"].items() if k.startswith(fam)) > 0, fam
    bad = {k: r for k, r in rep["rules"].items()
           if r["second_defensible"] or r["within_margin"] or r["answer_not_defensible"]}
    assert not bad, json.dumps(bad, indent=1)[:3000]
    # the margins are recorded with the questions
    q = next(q for q in res.questions.questions() if q.type == "Defect Description")
    assert q.provenance["margins"]["size_margin"] == DEFAULT.size_margin
    assert q.provenance["details"]["size_reference"] in ("object_outline", "image_outline", "image")


def test_without_margins_the_check_finds_near_boundary_values(synth):
    """Generate with every margin taken away, audit against the default margins: each measured rule has
    questions a person could answer two ways (the check can fail)."""
    loose = Margins(size_margin=1.0, elongation_margin=1.0, fill_margin=0.0, blob_margin=1.0, tone_margin=1.0,
                    grid_gap=0.0, zone_gap=0.0, round_max_elongation=3.0)
    _, rep = _audit(synth, GenerateSettings(similar="none", margins=loose), margins=DEFAULT)
    rules = rep["rules"]
    flagged = lambda fam: sum(r["second_defensible"] + r["within_margin"]  # noqa: E731
                              for k, r in rules.items() if k.startswith(fam))
    assert flagged("description.") > 0
    assert flagged("localization.grid3x3.") > 0


def test_knowledge_rules_without_contradiction_are_caught(synth, monkeypatch):
    from mmad_eval.questions.generate import analysis, defect_type, objects

    monkeypatch.setattr(analysis, "contradicted", lambda *a, **k: True)
    monkeypatch.setattr(analysis, "names_product", lambda *a, **k: None)
    monkeypatch.setattr(objects, "contradicted", lambda *a, **k: True)
    monkeypatch.setattr(objects, "same_product", lambda *a, **k: False)
    monkeypatch.setattr(defect_type, "names_product", lambda *a, **k: None)
    monkeypatch.setattr(defect_type, "contradicted", lambda *a, **k: True)
    _, rep = _audit(synth)
    for fam in ("analysis.", "object.shape", "object.colors", "defect_type."):
        assert sum(r["second_defensible"] for k, r in rep["rules"].items() if k.startswith(fam)) > 0, fam


def test_product_names():
    from mmad_eval.questions.generate.contradict import names_product, same_product

    assert same_product("circuit board", "printed circuit board") and not same_product("metal nut", "metal grid")
    assert names_product("The pill looks spoiled.", ["pill", "capsule"]) == "pill"
    assert names_product("Hygiene problem; the item must be rejected.", ["pill", "bottle"]) is None


def test_old_cell_names_overlap(synth, monkeypatch):
    """With the former cell names ("top" for the top-middle cell), "Top of the image." is also true of a
    defect in the top-left corner: the check reads it as the whole top band."""
    from mmad_eval.questions.generate import localization

    old = {0: "top left", 1: "top", 2: "top right", 3: "left", 4: "center", 5: "right", 6: "bottom left",
           7: "bottom", 8: "bottom right"}
    monkeypatch.setattr(localization, "cell_name", old.__getitem__)
    _, rep = _audit(synth, GenerateSettings(similar="none", object_regions=0.0))
    assert sum(r["second_defensible"] for k, r in rep["rules"].items() if k.startswith("localization.")) > 0


def test_readings_and_plausible_values():
    assert read_region("Top of the image.") == {0, 1, 2}
    assert read_region("Top left of the image.") == {0}
    assert read_region("Top middle and center of the image.") == {1, 4}
    assert read_region("Middle left of the image.") == {3}
    assert read_region("Along the right side.") == {2, 5, 8}
    m = DEFAULT
    assert plausible_sizes(0.009, m) == {"small", "medium"} and plausible_sizes(0.005, m) == {"small"}
    assert plausible_tones(-30, 20, m) == {"darker", "colour"} and plausible_tones(-30, 2, m) == {"darker"}


def test_audit_cli_prints_answerability(synth, tmp_path):
    root, src, kn = synth
    res = generate_questions(src, kn, GenerateSettings(similar="none"))
    qfile = root / "q.json"
    write_mmad_json(res.questions, qfile, with_provenance=True)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    r = subprocess.run([sys.executable, "-m", "mmad_eval", "audit", str(qfile), "--json", str(tmp_path / "a.json")],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "Answerability" in r.stdout and "2nd defensible" in r.stdout
    rep = json.loads((tmp_path / "a.json").read_text())["answerability"]
    assert rep["total"]["second_defensible"] == 0 and rep["total"]["checked"] > 0
