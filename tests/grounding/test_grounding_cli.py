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


def test_detector_maps_answer_from_their_maps(synth, tmp_path):
    """``--model detector:DIR``: maps equal to the masks give the true boxes; maps of the masks shifted right by
    a quarter of the box width score lower (hand check: one box shifted by dx has IoU (w - dx) / (w + dx))."""
    import numpy as np

    from mmad_eval.enhance.expert.maps import write_maps
    from mmad_eval.sources.imagecheck import read_mask

    q = _generate(synth, "only.jsonl", "--tasks", "grounding")
    data = synth / "data"
    qs = [json.loads(line) for line in q.read_text().splitlines()]
    masks = {r["image"]: read_mask(data / r["mask_path"]) for r in qs}
    exact, shifted = tmp_path / "exact", tmp_path / "shifted"
    write_maps(exact, [(k, 0.9, m.astype(np.float32)) for k, m in masks.items()], threshold=0.5)
    write_maps(shifted, [(k, 0.9, np.roll(m, 4, axis=1).astype(np.float32)) for k, m in masks.items()],
               threshold=0.5)
    out = tmp_path / "runs"
    for d in (exact, shifted):
        assert main(["run", "--questions", str(q), "--model", f"detector:{d}", "--out", str(out), "--quiet",
                     "--name", d.name]) == 0
    runs = {r.name: r for r in load_parsed_runs(out)}
    s_exact = score_grounding(runs["exact"].grounding, data, n_boot=0)
    s_shift = score_grounding(runs["shifted"].grounding, data, n_boot=0)
    assert s_exact.summary["mIoU"] == pytest.approx(100.0)
    checked = 0
    for g in s_shift.images:        # single-box images away from the right edge: the formula holds
        t, p = g.truth.boxes, g.pred
        if len(t) == 1 and len(p) == 1 and t[0][2] + 4 <= g.truth.size[0] and t[0][2] - t[0][0] > 4:
            w = t[0][2] - t[0][0]
            assert g.miou == pytest.approx((w - 4) / (w + 4))
            checked += 1
    assert checked >= 3 and s_shift.summary["mIoU"] < s_exact.summary["mIoU"]


def test_grounding_is_asked_alone_in_several_question_modes(synth, tmp_path):
    both = _generate(synth, "both_px.json", "--tasks", "mmad", "grounding")
    out = tmp_path / "runs"
    assert main(["run", "--questions", str(both), "--model", "expert:oracle", "--out", str(out), "--quiet",
                 "--question-mode", "per-image"]) == 0
    run = load_parsed_runs(out)[0]
    n_grounding = sum(q.type == GROUNDING for e in load_mmad_json(both).entries.values() for q in e.questions)
    assert len(run.grounding) == n_grounding
    assert len({a.request_key for a in run.grounding}) == n_grounding                 # one request each
    assert not {a.request_key for a in run.grounding} & {a.request_key for a in run.answers}
    assert score_grounding(run.grounding, run.record["data_root"], n_boot=0).summary["mIoU"] == pytest.approx(100)
    prompts = [run.prompts[a.request_key] for a in run.answers]
    assert not any("bounding box" in json.dumps(p) for p in prompts)             # never in a letter prompt


def test_grounding_prompt_is_recorded_and_guards_resume(synth, tmp_path, capsys):
    import shutil

    from mmad_eval.prompt.render import PROMPT_DIR

    q = _generate(synth, "only.jsonl", "--tasks", "grounding")
    mine = tmp_path / "prompts"
    shutil.copytree(PROMPT_DIR, mine)
    (mine / "boxes.j2").write_text((mine / "grounding.j2").read_text().replace("give its bounding box",
                                                                                  "draw a tight box"))
    out = tmp_path / "runs"
    args = ["run", "--questions", str(q), "--model", "expert:oracle", "--out", str(out), "--quiet", "--limit", "2",
            "--prompt-dir", str(mine)]
    assert main(args) == 0
    run = load_parsed_runs(out)[0]
    assert run.record["grounding_prompt"]["name"] == "grounding"
    assert main([*args, "--grounding-prompt", "boxes", "--name", "other"]) == 0
    other = {r.name: r for r in load_parsed_runs(out)}["other"]
    assert other.record["settings"]["protocol"]["grounding_prompt"] == "boxes"
    assert all("draw a tight box" in json.dumps(p) for p in other.prompts.values())
    (mine / "grounding.j2").write_text((mine / "grounding.j2").read_text() + "\nBe precise.\n")
    capsys.readouterr()
    assert main(args) != 0                      # same run name, another grounding template: refused
    assert "grounding_prompt.sha256" in capsys.readouterr().err
