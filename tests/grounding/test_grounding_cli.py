"""Defect Grounding end to end from the CLI on the synthetic set: generate -> run -> score -> report, with the
expert answering, a real local OpenAI-compatible server answering in several box styles, and the letter
scores unchanged by grounding questions beside them."""
from __future__ import annotations

import json

import pytest

from mmad_eval.cli import main
from mmad_eval.parse.stage import load_parsed_runs
from mmad_eval.questions.grounding import GROUNDING, GroundingTruth
from mmad_eval.questions.mmad_io import load_mmad_json
from mmad_eval.score.grounding import score_grounding
from grounding_helpers import generate as _generate
from mmad_eval.testing.openai_server import FakeOpenAIServer, box_responder, image_urls


def test_generate_appends_one_grounding_question_per_defective_image(synth):
    letters = load_mmad_json(_generate(synth, "letters.json"))
    both = load_mmad_json(_generate(synth, "both.json", "--tasks", "mmad", "grounding", "--box-format", "norm1000"))
    for key, entry in both.entries.items():
        grounding = [q for q in entry.questions if q.type == GROUNDING]
        assert [q.text for q in entry.questions if q.type != GROUNDING] == [q.text for q in letters.entries[key].questions]
        assert len(grounding) == (0 if entry.is_normal else 1)
        if grounding:
            truth = GroundingTruth.from_json(grounding[0].answer)
            assert truth.format == "norm1000" and truth.size == (96, 96) and "0-1000" in grounding[0].text
            assert grounding[0].index == len(entry.questions) - 1


def test_expert_runs_scores_and_reports(synth, capsys):
    q = _generate(synth, "only.jsonl", "--tasks", "grounding")
    out = synth / "runs_expert"
    for model in ("expert:oracle", "expert:builtin"):
        assert main(["run", "--questions", str(q), "--model", model, "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["score", str(out), "--bootstrap", "50", "--json", str(synth / "s.json")]) == 0
    printed = capsys.readouterr().out
    assert "Defect Grounding" in printed and "Acc@0.5" in printed
    scores = json.loads((synth / "s.json").read_text())
    oracle, builtin = scores["expert:oracle"]["grounding"], scores["expert:builtin"]["grounding"]
    assert oracle["summary"]["mIoU"] == pytest.approx(100.0)       # the mask's own boxes, in pixels
    assert oracle["summary"]["Acc@0.5"] == 100.0
    assert 0 < builtin["summary"]["mIoU"] < 100 and builtin["summary"]["parse failures"] == 0
    lo, hi = builtin["ci"]["mIoU"]
    assert lo <= builtin["summary"]["mIoU"] <= hi
    html = synth / "report.html"
    assert main(["report", str(out), "--out", str(html)]) == 0
    text = html.read_text()
    assert "Defect Grounding" in text and "mIoU" in text


def test_real_server_box_styles_and_garbage(synth, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key-not-secret")
    q = _generate(synth, "only.jsonl", "--tasks", "grounding")
    styles = ["json", "qwen", "bbox_2d", "prose", "garbage"]
    seen: dict[str, str] = {}

    def style_of(body):          # one style per query image, in turn
        return seen.setdefault(image_urls(body)[-1], styles[len(seen) % len(styles)])

    out = synth / "runs_api"
    with FakeOpenAIServer(responder=box_responder(style_of)) as srv:
        assert main(["run", "--questions", str(q), "--model", "openai:fake", "--out", str(out), "--base-url",
                     srv.base_url, "--quiet"]) == 0
        sent = srv.requests
    assert sent and all("bounding box" in json.dumps(b) and "option's letter" not in json.dumps(b) for b in sent)
    run = load_parsed_runs(out)[0]
    assert not run.answers and len(run.grounding) == len(sent)
    rules = {r.rule for r in run.grounding}
    assert rules == {"json", "qwen-tokens", "prose", "unparsed"}
    scores = score_grounding(run.grounding, run.record["data_root"], n_boot=0)
    garbage = [g for g in scores.images if g.status == "unparsed"]
    assert garbage and all(g.miou == 0 and g.pixel_iou == 0 for g in garbage)
    assert scores.summary["parse failures"] == pytest.approx(100 * len(garbage) / len(scores.images))
    # the same box in pixels or Qwen tokens scores the same
    by_rule = {}
    for rec, g in zip(run.grounding, scores.images):
        by_rule.setdefault(rec.rule, []).append(g)
    assert all(g.pred == [(24.0, 24.0, 48.0, 48.0)] for g in by_rule["qwen-tokens"] + by_rule["json"])


def test_letter_scores_unchanged_by_grounding_questions(synth, capsys):
    letters = _generate(synth, "letters.json")
    both = _generate(synth, "both_px.json", "--tasks", "mmad", "grounding")
    tables = {}
    for name, q in (("letters", letters), ("both", both)):
        out = synth / f"runs_letters_{name}"
        assert main(["run", "--questions", str(q), "--model", "expert:oracle", "--out", str(out), "--quiet"]) == 0
        capsys.readouterr()
        assert main(["score", str(out), "--bootstrap", "20", "--json", str(synth / f"{name}.json")]) == 0
        tables[name] = json.loads((synth / f"{name}.json").read_text())["expert:oracle"]
    assert "grounding" in tables["both"] and "grounding" not in tables["letters"]
    for key in ("mmad", "mmad_fixed", "strict", "overkill_miss", "detection"):
        assert tables["both"][key] == tables["letters"][key]
