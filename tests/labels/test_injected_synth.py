"""Injected errors on a small generated synthetic set are found (the bench, bench/bench_label_audit.py,
measures precision and recall at a larger size); the clean set raises no image/mask flag."""
from mmad_eval.label_audit import audit_labels
from mmad_eval.questions.generate import GenerateSettings, generate_questions
from mmad_eval.sources.detect import load_source
from mmad_eval.sources.synth.generate import generate_with_report
from mmad_eval.testing.label_errors import inject


def test_injected_errors_are_found_and_the_clean_set_is_quiet(tmp_path):
    generate_with_report(tmp_path, seed=3, categories=["bottle", "carpet", "pill", "pcb"], n_train=6,
                         n_test_good=4, n_per_defect=3, size=160, workers=1)
    qs = generate_questions(load_source(tmp_path / "Synth-AD"), tmp_path / "knowledge.json",
                            GenerateSettings(seed=3)).questions
    checks = ("image_category", "reference_category", "localization", "label_mask", "duplicate_image")
    clean = audit_labels(qs, tmp_path, checks=checks)
    assert clean.flags == []
    bad, truth = inject(qs, tmp_path, 4, seed=3)
    found = audit_labels(bad, tmp_path, checks=checks).flags
    images = lambda check: {f["target"]["images"][0] for f in found if f["check"] == check}  # noqa: E731
    assert images("image_category") == set(truth["moved"])
    assert images("reference_category") == set(truth["moved"])
    assert images("label_mask") == set(truth["flipped"])
    assert {f"{f['target']['images'][0]}#{f['target']['question']}" for f in found
            if f["check"] == "localization"} == set(truth["localization"])
