"""The one-line description of a run, read from its record."""
from mmad_eval.run.describe import backend_summary, describe_run


def _record(**over):
    rec = {"model_spec": {"backend": "random", "model": "random", "name": "random"},
           "settings": {"model": "random", "generation": {}, "protocol": {"references": "random", "shots": 1},
                        "enhancements": {"expert": "none", "knowledge": None}},
           "questions": {"file": "questions.json", "count": 743, "selected": 743, "sha256": "54e22c9a9955" + "0" * 52},
           "slice": {"limit": None, "subtasks": [], "datasets": [], "categories": []}}
    for k, v in over.items():
        rec[k] = v
    return rec


def test_a_baseline_is_described_by_what_it_is():
    line = describe_run(_record())
    assert line == ("random: Seeded random choice among the shown options (chance level) · protocol mmad-eval"
                    " · answers generated · 1 reference image · all 743 questions of questions.json (sha256 54e22c9a9955)")


def test_preset_answer_mode_help_and_sample_are_named():
    rec = _record(model_spec={"backend": "openai", "model": "gpt-4o-2024-11-20", "name": "openai:gpt-4o-2024-11-20"},
                  settings={"model": "gpt-4o", "preset": "gpt4o-api",
                            "generation": {"answer_mode": "likelihood"},
                            "protocol": {"references": "none", "shots": 0},
                            "enhancements": {"expert": "builtin", "knowledge": "k.json"}},
                  questions={"file": "mmad.json", "count": 39672, "selected": 40, "known_as": "MMAD mmad.json (test)"},
                  slice={"limit": 40, "subtasks": [], "datasets": ["VisA"], "subset": {"name": "triad"}})
    line = describe_run(rec)
    assert line == ("gpt-4o-2024-11-20 via the openai backend · protocol gpt4o-api · answers by likelihood · no reference image"
                    " + domain knowledge + expert hints (builtin) · 40 of 39,672 questions (limit 40; datasets VisA;"
                    " subset triad) of MMAD mmad.json (test)")


def test_expert_and_unknown_backends():
    assert describe_run(_record(model_spec={"backend": "expert", "model": "oracle", "name": "expert:oracle"})).startswith(
        "expert:oracle: The expert detector on its own ·")         # no preset: the backend's own summary
    assert describe_run(_record(model_spec={"backend": "openai", "model": "gpt-4o", "name": "gpt-4o"})).startswith(
        "gpt-4o: OpenAI GPT-4o")                                     # a preset: its description
    assert backend_summary("no-such-backend") is None
    assert describe_run({"name": "bare"}).startswith("bare · protocol mmad-eval · answers generated")
