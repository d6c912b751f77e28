"""Defect Grounding when ``--max-side`` (or another resize) changes the image a model sees: the pixel question
states the size actually sent, and boxes given in that frame are mapped back to the original image's pixels
before they are scored against the true boxes and the mask. Normalised (0-1000) questions are unchanged."""
from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, settings, strategies as st

from mmad_eval.cli import main
from mmad_eval.parse.stage import load_parsed_runs
from mmad_eval.prompt.images import ImageSettings, target_size
from mmad_eval.questions.grounding import GroundingTruth, to_original
from mmad_eval.score.grounding import box_iou, score_grounding
from grounding_helpers import generate as _generate
from mmad_eval.testing.openai_server import FakeOpenAIServer, box_responder, prompt_text

FRACTIONS = (0.25, 0.25, 0.5, 0.5)


def _run_api(synth, q, out, *extra, frame="shown"):
    with FakeOpenAIServer(responder=box_responder(lambda body: "json", FRACTIONS, frame=frame)) as srv:
        assert main(["run", "--questions", str(q), "--model", "openai:fake", "--out", str(out), "--base-url",
                     srv.base_url, "--quiet", *extra]) == 0
        return srv.requests


@pytest.mark.parametrize("max_side,resize,sent", [(48, "shrink", 48), (64, "fit-area", 64), (40, "square", 40)])
def test_pixel_question_states_the_sent_size_and_scores_in_original_pixels(synth, monkeypatch, max_side, resize,
                                                                             sent):
    """The synthetic images are 96 x 96; the model sees them at ``sent`` pixels and answers in what it sees."""
    monkeypatch.setenv("OPENAI_API_KEY", "test-key-not-secret")
    q = _generate(synth, "only.jsonl", "--tasks", "grounding")
    out = synth / f"runs_resized_{max_side}_{resize}"
    bodies = _run_api(synth, q, out, "--max-side", str(max_side), "--resize", resize)
    for body in bodies:
        text = json.dumps(body)
        assert f"({sent} x {sent} pixels" in text and "96 x 96" not in text
    run = load_parsed_runs(out)[0]
    scores = score_grounding(run.grounding, run.record["data_root"], n_boot=0)
    assert scores.images and all(g.status == "ok" for g in scores.images)
    for g in scores.images:          # the box the model drew over what it saw, in the original's pixels
        want = tuple(f * 96 for f in FRACTIONS)
        assert g.truth.size == (96, 96) and len(g.pred) == 1
        assert box_iou(g.pred[0], want) > 0.9
        assert all(abs(a - b) <= 96 / sent for a, b in zip(g.pred[0], want))


def test_norm1000_questions_are_unchanged_by_resizing(synth, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key-not-secret")
    q = _generate(synth, "only_norm.jsonl", "--tasks", "grounding", "--box-format", "norm1000")
    full = _run_api(synth, q, synth / "runs_norm_full", frame="stated")
    small = _run_api(synth, q, synth / "runs_norm_small", "--max-side", "48", frame="stated")

    def questions(bodies):
        return sorted(re.search(r"Question: (.*)", prompt_text(b)).group(1) for b in bodies)
    assert questions(full) == questions(small) and "0-1000" in questions(full)[0]
    preds = {}
    for name in ("runs_norm_full", "runs_norm_small"):
        run = load_parsed_runs(synth / name)[0]
        preds[name] = {g.qid: g.pred for g in score_grounding(run.grounding, None, n_boot=0).images}
    assert preds["runs_norm_full"] == preds["runs_norm_small"]
    assert all(p == [(24.0, 24.0, 48.0, 48.0)] for p in preds["runs_norm_full"].values())


def test_experts_answer_in_the_sent_frame(synth):
    """The oracle's boxes come from the full-size mask; under --max-side it states them in the frame the question
    names, and they map back to within a pixel of the truth."""
    q = _generate(synth, "only.jsonl", "--tasks", "grounding")
    out = synth / "runs_oracle_small"
    for side in ("48", "37"):
        assert main(["run", "--questions", str(q), "--model", "expert:oracle", "--out", str(out), "--quiet",
                     "--max-side", side, "--name", f"oracle{side}"]) == 0
    runs = {r.name: r for r in load_parsed_runs(out)}
    for name, side in (("oracle48", 48), ("oracle37", 37)):
        scores = score_grounding(runs[name].grounding, runs[name].record["data_root"], n_boot=0)
        assert scores.summary["parse failures"] == 0 and scores.summary["mIoU"] > 75
        for g in scores.images:    # each edge off by at most half a sent pixel (the reply is in whole pixels)
            assert len(g.pred) == len(g.truth.boxes)
            for p, t in zip(g.pred, g.truth.boxes):
                assert all(abs(a - b) <= 0.5 * 96 / side + 1e-9 for a, b in zip(p, t))


def test_the_sent_frame_is_kept_with_the_truth(synth, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key-not-secret")
    q = _generate(synth, "only.jsonl", "--tasks", "grounding")
    out = synth / "runs_frame"
    _run_api(synth, q, out, "--max-side", "48")
    _run_api(synth, q, out, "--name", "full")
    runs = {r.name: r for r in load_parsed_runs(out)}
    small = [GroundingTruth.from_json(a.answer) for a in runs["openai:fake"].grounding]
    full = [GroundingTruth.from_json(a.answer) for a in runs["full"].grounding]
    assert all(t.frame == (48, 48) and t.size == (96, 96) for t in small)
    assert all(t.frame == (96, 96) == t.size for t in full)
    with pytest.raises(Exception, match="shown"):
        GroundingTruth.from_json(json.dumps({"format": "pixels", "size": [96, 96], "boxes": [[1, 1, 5, 5]],
                                             "shown": [0, 48]}))


@settings(max_examples=200, derandomize=True, deadline=None)
@given(w=st.integers(8, 3000), h=st.integers(8, 3000), side=st.integers(8, 1500),
       resize=st.sampled_from(["shrink", "fit-area", "square"]),
       frac=st.tuples(st.floats(0, 0.8), st.floats(0, 0.8), st.floats(0.05, 0.2), st.floats(0.05, 0.2)))
def test_a_box_in_sent_pixels_maps_back_to_the_original_region(w, h, side, resize, frac):
    sent = target_size(w, h, ImageSettings(resize=resize, max_side=side))
    fx, fy, fw, fh = frac
    original = (fx * w, fy * h, (fx + fw) * w, (fy + fh) * h)
    truth = GroundingTruth("pixels", (w, h), ((0.0, 0.0, 1.0, 1.0),), shown=sent)
    in_sent = (fx * sent[0], fy * sent[1], (fx + fw) * sent[0], (fy + fh) * sent[1])
    assert box_iou(to_original(in_sent, truth), original) == pytest.approx(1.0, abs=1e-9)
    # the model answers in whole pixels of what it saw: each edge is off by at most half a sent pixel
    rounded = to_original([round(v) for v in in_sent], truth)
    scale = (w / sent[0], h / sent[1], w / sent[0], h / sent[1])
    assert all(abs(a - b) <= 0.5 * s + 1e-9 for a, b, s in zip(rounded, original, scale))
    # 0-1000 boxes do not depend on the frame
    norm = GroundingTruth("norm1000", (w, h), ((0.0, 0.0, 1.0, 1.0),), shown=sent)
    in_norm = tuple(1000 * f for f in (fx, fy, fx + fw, fy + fh))
    assert box_iou(to_original(in_norm, norm), original) == pytest.approx(1.0, abs=1e-9)


def test_question_text_for_the_sent_size():
    from mmad_eval.questions.grounding import question_text, shown_question_text

    truth = GroundingTruth("pixels", (96, 64), ((1.0, 1.0, 5.0, 5.0),))
    generated = question_text("pixels", (96, 64))
    assert shown_question_text(generated, truth) == generated                       # not resized: unchanged
    small = truth.as_shown((48, 32))
    assert shown_question_text(generated, small) == question_text("pixels", (48, 32))
    assert "(48 x 32 pixels" in shown_question_text(generated, small)
    mine = "Box the scratch in pixels [x1, y1, x2, y2]; the image is 96 x 64."
    assert shown_question_text(mine, small) == (mine + " (The query image is shown at 48 x 32 pixels; give pixel "
                                                       "coordinates of that image.)")
    norm = GroundingTruth("norm1000", (96, 64), truth.boxes).as_shown((48, 32))
    assert shown_question_text(question_text("norm1000", (96, 64)), norm) == question_text("norm1000", (96, 64))
    assert truth.as_shown((96, 64)).shown is None and "shown" not in truth.as_shown((96, 64)).to_json()
    assert shown_question_text(mine, truth) == mine                                # hand-written, not resized
    assert shown_question_text("Box it in 0-1000 coordinates.", norm) == "Box it in 0-1000 coordinates."
