"""RobustMAD's open-ended file (RobustMAD_OE.json) runs unchanged: asked with --answer-format open, each answer
judged against the file's own reference answer; without --answer-format open, one line says what to do."""
from __future__ import annotations

import json

import pytest

from mmad_eval.cli import main
from mmad_eval.questions.mmad_io import load_mmad_json
from mmad_eval.run.judging import Rubric, judged_path
from mmad_eval.run.load import load_run
from mmad_eval.testing.openai_server import FakeOpenAIServer, prompt_text
from robustmad_files import CATEGORIES, robustmad_file

DIMS = [d for d, _ in Rubric.load().dimensions]


def model_and_judge(body):
    """As the judge (its prompt has a reference answer): 5 when the answer is the reference, else 2. As the
    model: the reference's words for the first category's question, something else for the others."""
    text = prompt_text(body)
    if "Reference answer: " in text:
        ref = text.split("Reference answer: ")[1].split("\n")[0]
        answer = text.split("Model's answer: ")[1].split("\n")[0]
        return json.dumps(dict.fromkeys(DIMS, 5 if ref == answer else 2))
    product = text.split("Question 0 about the ")[1].split("?")[0] if "Question 0 about the " in text else None
    return f"The {product} is shown." if product else "I cannot tell."


def test_open_ended_file_loads_as_open_questions(synth, tmp_path):
    path = robustmad_file(synth / "data", tmp_path / "RobustMAD_OE.json", open_ended=True, n_images=3)
    raw = json.loads(path.read_text())["images"]
    qs = load_mmad_json(path)
    entry = qs.entries[raw[1]["image_path"]]
    assert [q.type for q in entry.questions] == list(CATEGORIES)
    q = entry.questions[2]
    assert q.options == {} and q.answer == raw[1]["questions"][2]["answer"] and q.text == raw[1]["questions"][2]["question"]
    assert q.extra["question_id"] == raw[1]["questions"][2]["question_id"]


def test_open_ended_file_runs_open_and_is_judged_against_its_reference(synth, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key-not-secret")
    path = robustmad_file(synth / "data", tmp_path / "RobustMAD_OE.json", open_ended=True, n_images=4)
    raw = json.loads(path.read_text())["images"]
    out = tmp_path / "runs"
    base = ["run", "--questions", str(path), "--model", "openai:fake", "--out", str(out), "--quiet",
            "--data-root", str(synth / "data")]
    with FakeOpenAIServer(responder=model_and_judge) as srv:
        capsys.readouterr()
        assert main([*base, "--base-url", srv.base_url]) == 2
        err = capsys.readouterr().err
        assert "--answer-format open" in err and path.name in err and "Traceback" not in err
        assert len(err.strip().splitlines()) == 1 and srv.count == 0
        assert main([*base, "--base-url", srv.base_url, "--answer-format", "open"]) == 0
        assert srv.count == 4 * len(raw)
        assert main(["judge", str(out), "--judge", "openai:judge", "--base-url", srv.base_url, "--quiet"]) == 0
    run = load_run(out)
    assert len(run.answers) == 4 * len(raw) and all(a.error is None for a in run.answers)
    result = json.loads(judged_path(out, "openai:fake").read_text())
    means = result["table"]["means"]
    assert means[CATEGORIES[0]]["technical_accuracy"] == 5 and all(
        means[c]["technical_accuracy"] == 2 for c in CATEGORIES[1:])
    assert result["table"]["n"]["All"] == 4 * len(raw)
    assert main(["score", str(out)]) == 0 and "open answers (no options)" in capsys.readouterr().out
    html = tmp_path / "r.html"
    assert main(["report", str(out), "--out", str(html)]) == 0
    assert 'id="judged"' in html.read_text() and CATEGORIES[3] in html.read_text()


def test_a_mixed_file_still_asks_its_multiple_choice_questions(synth, tmp_path):
    oe = robustmad_file(synth / "data", tmp_path / "oe.json", open_ended=True, n_images=2)
    mixed = json.loads(robustmad_file(synth / "data", tmp_path / "m.json", n_images=2).read_text())
    mixed["images"][0]["questions"].append(json.loads(oe.read_text())["images"][0]["questions"][0])
    (tmp_path / "m.json").write_text(json.dumps(mixed))
    entry = next(iter(load_mmad_json(tmp_path / "m.json").entries.values()))
    assert len(entry.questions) == 4 and all(q.options for q in entry.questions)
    assert len(entry.extra["open_questions"]) == 1


@pytest.mark.parametrize("answer", ["", None, 3])
def test_an_open_question_without_a_reference_names_the_record(synth, tmp_path, answer):
    from mmad_eval.errors import DataError

    path = robustmad_file(synth / "data", tmp_path / "oe.json", open_ended=True, n_images=2)
    data = json.loads(path.read_text())
    data["images"][1]["questions"][2]["answer"] = answer
    path.write_text(json.dumps(data))
    with pytest.raises(DataError, match="reference answer") as e:
        load_mmad_json(path)
    assert "[images][1][questions][2]" in str(e.value)


def test_letter_audits_leave_open_questions_out(synth, tmp_path, capsys):
    """The audits and the letter rating sheet read letters: an open-ended file gets one line, no traceback."""
    path = robustmad_file(synth / "data", tmp_path / "RobustMAD_OE.json", open_ended=True, n_images=3)
    for extra in ([], ["--sheet", "3", "--out", str(tmp_path / "sheet.html")]):
        capsys.readouterr()
        assert main(["audit", str(path), "--data-root", str(synth / "data"), *extra]) == 2
        captured = capsys.readouterr()
        assert "12 questions without options left out" in captured.out
        assert captured.err.strip().endswith("no multiple-choice question to audit in this file")
        assert "bug" not in captured.err and "Traceback" not in captured.err
    assert not (tmp_path / "sheet.html").exists()
