"""End to end on the project's synthetic dataset: loader -> generator -> MMAD file -> audit."""
import pytest

from mmad_eval.questions.audit import audit
from mmad_eval.questions.generate import GenerateSettings, generate_questions
from mmad_eval.questions.mmad_io import load_mmad_json, write_mmad_json
from mmad_eval.questions.model import SUBTASKS
from mmad_eval.sources.detect import load_source

OPPOSITE = {"left": "right", "right": "left", "top": "bottom", "bottom": "top"}


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    from mmad_eval.sources.synth.generate import generate_synthetic

    out = tmp_path_factory.mktemp("synth")
    generate_synthetic(out, seed=0, categories=["bottle", "tile", "screw"], n_train=4, n_test_good=3,
                       n_per_defect=3, size=96)
    return out


def test_synthetic_set_end_to_end(synth, tmp_path):
    src = load_source(synth / "Synth-AD")
    res = generate_questions(src, synth / "knowledge.json", GenerateSettings(similar="none"))
    qs = res.questions
    assert len(qs.entries) == len(src.samples)
    assert {q.subtask for q in qs.questions()} == set(SUBTASKS)
    for s in src.samples:
        e = qs.entries[s.image]
        assert e.questions[0].type == "Anomaly Detection"
        if s.is_anomalous and s.mask:
            loc = [q for q in e.questions if q.type == "Defect Localization"]
            # the generator's own location phrase (meta) and ours agree on at least one word when both exist
            phrase = (s.meta or {}).get("location")
            said = set(loc[0].options[loc[0].answer].lower().rstrip(".").split()) if loc else set()
            if loc and phrase and loc[0].provenance["rule"].startswith("localization.object."):
                # object-relative answer: its side never contradicts the image side of the painted defect
                assert not {OPPOSITE[w] for w in phrase.lower().split() if w in OPPOSITE} & said, (phrase, said)
            elif loc and phrase:
                assert set(phrase.lower().split()) & said or \
                    loc[0].provenance["rule"].endswith(("several", "wide", "row", "col", "pair"))
    a = write_mmad_json(qs, tmp_path / "a.json")
    b = write_mmad_json(generate_questions(src, synth / "knowledge.json",
                                           GenerateSettings(similar="none")).questions, tmp_path / "b.json")
    assert a == b
    report = audit(load_mmad_json(tmp_path / "a.json"))
    assert report["duplicate_options"]["count"] == 0 and report["duplicate_questions"]["count"] == 0
