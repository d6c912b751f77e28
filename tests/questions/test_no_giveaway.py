"""A generated question never names its own answer (e.g. "What material is the leather mainly made of?" with
the answer "Leather"); checked with the label audit's independent give-away check."""
from mmad_eval.label_audit.labels import giveaway_flags
from mmad_eval.questions.generate import GenerateSettings, generate_questions
from mmad_eval.sources.detect import load_source
from mmad_eval.sources.synth.generate import generate_with_report


def test_object_questions_do_not_name_their_answer(tmp_path):
    generate_with_report(tmp_path, seed=0, categories=["leather", "wood", "bottle"], n_train=3, n_test_good=4,
                         n_per_defect=1, size=64, workers=1)
    result = generate_questions(load_source(tmp_path / "Synth-AD"), tmp_path / "knowledge.json",
                                GenerateSettings(similar="none"))
    texts = [q.text for q in result.questions.questions() if q.type == "Object Details"]
    assert any("material is the bottle" in t for t in texts)      # the rule still asks where it can
    assert not any("material is the leather" in t or "material is the wood" in t for t in texts)
    assert giveaway_flags(result.questions) == []
