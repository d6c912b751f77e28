"""RobustMAD's file format read unchanged: run with built-in baselines, scored per robustness category."""
from __future__ import annotations

import json

import pytest

from mmad_eval.cli import main
from mmad_eval.errors import DataError
from mmad_eval.parse.stage import load_parsed_runs
from mmad_eval.questions.mmad_io import load_mmad_json
from robustmad_files import CATEGORIES, robustmad_file


def test_loader_maps_images_questions_and_reference(synth, tmp_path):
    path = robustmad_file(synth / "data", tmp_path / "RobustMAD_MCQ.json", n_images=3)
    qs = load_mmad_json(path)
    raw = json.loads(path.read_text())["images"]
    assert list(qs.entries) == [r["image_path"] for r in raw]
    entry = qs.entries[raw[1]["image_path"]]
    assert entry.random_templates == [raw[1]["reference_image_path"]]
    assert [q.type for q in entry.questions] == list(CATEGORIES)
    q = entry.questions[2]
    assert q.options == raw[1]["questions"][2]["options"] and q.answer == raw[1]["questions"][2]["answer"]
    assert q.extra["question_id"] == raw[1]["questions"][2]["question_id"] and len(q.options) == 5
    assert entry.extra["difficulty"] == "general" and entry.extra["anomaly"] == raw[1]["anomaly"]


def test_bad_answer_names_the_record(synth, tmp_path):
    path = robustmad_file(synth / "data", tmp_path / "bad.json", n_images=2)
    data = json.loads(path.read_text())
    data["images"][1]["questions"][3]["answer"] = "F"
    path.write_text(json.dumps(data))
    with pytest.raises(DataError, match=r"answer 'F' is not one of the options") as e:
        load_mmad_json(path)
    assert "[images][1][questions][3]" in str(e.value)


def test_run_with_baselines_and_score_per_category(synth, tmp_path, capsys):
    path = robustmad_file(synth / "data", synth / "data" / "RobustMAD_MCQ.json")
    out = tmp_path / "runs"
    for model in ("random", "blind"):
        assert main(["run", "--questions", str(path), "--model", model, "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["score", str(out), "--bootstrap", "50", "--json", str(tmp_path / "s.json")]) == 0
    printed = capsys.readouterr().out
    assert all(c in printed for c in CATEGORIES)
    scores = json.loads((tmp_path / "s.json").read_text())
    raw = json.loads(path.read_text())["images"]
    for run in load_parsed_runs(out):
        assert not run.answers and len(run.other_types) == 4 * len(raw)
        assert all(a.error is None for a in run.other_types)
        rows = scores[run.name]["by_type"]
        for j, cat in enumerate(CATEGORIES):       # hand count: right when the model's letter is the answer
            truth = [r["questions"][j]["answer"] for r in raw]
            if run.name == "blind":                # longest option text: always C
                assert rows[cat]["correct"] == truth.count("C")
            assert rows[cat]["n"] == len(raw)
        assert rows["All"]["n"] == 4 * len(raw)
        assert rows["All"]["correct"] == sum(rows[c]["correct"] for c in CATEGORIES)
        lo, hi = rows["All"]["ci"]
        assert lo <= rows["All"]["accuracy"] <= hi
    html = tmp_path / "r.html"
    assert main(["report", str(out), "--out", str(html)]) == 0
    text = html.read_text()
    assert 'id="other-types"' in text and all(c in text for c in CATEGORIES)
    # the reference image is shown before the query (shots 1 with random templates)
    run = load_parsed_runs(out)[0]
    content = next(iter(run.prompts.values()))
    roles = [p["role"] for m in content for p in m["parts"] if "image" in p]
    assert roles == ["template", "query"]


def test_subtasks_selects_a_robustness_category(synth, tmp_path):
    path = robustmad_file(synth / "data", tmp_path / "RobustMAD_MCQ.json", n_images=4)
    out = tmp_path / "runs"
    assert main(["run", "--questions", str(path), "--model", "random", "--out", str(out), "--quiet", "--shots", "0",
                 "--data-root", str(synth / "data"), "--subtasks", CATEGORIES[2].lower()]) == 0
    run = load_parsed_runs(out)[0]
    assert {a.type for a in run.other_types} == {CATEGORIES[2]} and len(run.other_types) == 4
    assert all(a.error is None for a in run.other_types)
    content = next(iter(run.prompts.values()))
    assert [p["role"] for m in content for p in m["parts"] if "image" in p] == ["query"]
