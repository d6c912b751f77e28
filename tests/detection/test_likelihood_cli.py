"""--answer-mode likelihood, reasoning replies and calibration through `mmad-eval run` / `score` / `report`,
against the real local OpenAI-compatible server and the tiny transformers model."""
import json

import pytest

from detection_helpers import is_marked_defective, make_root, write_maps_folder
from mmad_eval.cli import main
from mmad_eval.errors import ConfigError
from mmad_eval.parse.stage import load_parsed_run as load_run
from mmad_eval.testing.openai_server import FakeOpenAIServer, image_urls, prompt_text


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    questions, items = make_root(root)
    return root, questions, items


def _run(questions, out, *extra):
    return main(["run", "--questions", str(questions), "--out", str(out), "--quiet", *extra])


def test_likelihood_mode_answers_from_top_logprobs_without_parse_failures(world, tmp_path, capsys):
    _, questions, _ = world
    out = tmp_path / "runs"
    # replies no parser can read: the answer still comes from the first token's letter probabilities
    with FakeOpenAIServer(responder=lambda body: "I am not sure what to say") as srv:
        assert _run(questions, out, "--model", "openai:m", "--base-url", srv.base_url, "--answer-mode",
                    "likelihood", "--backend-option", "top_logprobs=3") == 0
        assert all(b["logprobs"] and b["top_logprobs"] == 3 for b in srv.requests)
    run = load_run(out)
    assert run.record["settings"]["generation"]["answer_mode"] == "likelihood"
    assert {a.rule for a in run.answers} == {"likelihood"} and all(a.parsed == "A" for a in run.answers)
    # 4-option questions: the server returns "I", A, B in its top 3; C and D are recorded as outside it
    dl = [a for a in run.answers if a.type == "Defect Localization"]
    assert dl and all(a.meta["outside_topk"] == ["C", "D"] for a in dl)
    assert main(["score", str(out), "--bootstrap", "20"]) == 0
    text = capsys.readouterr().out
    assert "parse failures 0.00%" in text and "P(defective) from letter probability" in text
    assert "Calibration (letter probability" in text
    assert "6 answers had shown letters outside the returned top-k" in text      # the 6 localization questions
    with pytest.raises(ConfigError, match="question-mode independent"):
        from mmad_eval.backends.base import GenerationSettings
        from mmad_eval.run.settings import ProtocolSettings, RunSettings
        RunSettings(model="random", generation=GenerationSettings(answer_mode="likelihood"),
                    protocol=ProtocolSettings(question_mode="cumulative"))


def test_reasoning_replies_answer_tags_and_truncation(world, tmp_path, capsys):
    _, questions, _ = world
    out = tmp_path / "runs"

    def responder(body):
        text = json.dumps(body["messages"])
        if "Where is the defect" in text:       # cut by the token limit while still thinking
            return {"content": "<think>The left part looks odd, so maybe A or", "finish_reason": "length"}
        return {"content": "<think>Option A says yes, but the answer is B? No.</think>\n<answer>B</answer>"}

    class Server(FakeOpenAIServer):                # reports reasoning tokens as OpenAI does
        def completion(self, index, body, fault):
            out = super().completion(index, body, fault)
            out["usage"]["completion_tokens_details"] = {"reasoning_tokens": 7}
            return out

    with Server(responder=responder) as srv:
        assert _run(questions, out, "--model", "openai:m", "--base-url", srv.base_url, "--reasoning-effort",
                    "high", "--max-tokens", "64") == 0
        assert {b["reasoning_effort"] for b in srv.requests} == {"high"}
    run = load_run(out)
    assert run.record["usage"]["reasoning_tokens"] == 7 * 16 and all(a.meta["reasoning_tokens"] == 7
                                                                     for a in run.answers)
    ad = [a for a in run.answers if a.type == "Anomaly Detection"]
    dl = [a for a in run.answers if a.type == "Defect Localization"]
    assert all(a.parsed == "B" for a in ad)
    assert all(a.parsed is None and a.rule == "truncated" for a in dl)
    assert main(["score", str(out), "--bootstrap", "0"]) == 0
    assert "6 replies were cut by the token limit before their answer: raise --max-tokens" in capsys.readouterr().out


def test_verbalised_confidence_gives_a_ranking_in_generate_mode(world, tmp_path, capsys):
    _, questions, items = world
    out = tmp_path / "runs"

    def responder(body):                                  # always Yes: sure on defective images, unsure on normal
        assert "Confidence: 80%" in prompt_text(body)     # the mmad_confidence prompt asks for it
        return "A\nConfidence: 90%" if is_marked_defective(image_urls(body)[-1]) else "A\nConfidence: 30%"

    with FakeOpenAIServer(responder=responder) as srv:
        assert _run(questions, out, "--model", "openai:m", "--base-url", srv.base_url, "--prompt",
                    "mmad_confidence", "--subtasks", "AD") == 0
    assert main(["score", str(out), "--bootstrap", "0", "--json", str(tmp_path / "s.json")]) == 0
    s = json.loads((tmp_path / "s.json").read_text())["openai:m"]
    # every image answered Yes; defective ones at 90%, normal ones at 30%: a perfect ranking
    assert s["detection"]["source"] == "verbalised confidence" and s["detection"]["overall"]["auroc"] == 1.0
    assert s["calibration"]["source"] == "verbalised confidence" and s["calibration"]["n"] == 10
    assert s["strict"]["overall"]["Anomaly Detection"] == pytest.approx(50.0)   # the hard answers: all Yes


def test_transformers_likelihood_through_the_cli(world, tmp_path):
    import torch  # noqa: F401  (a real part: the test fails, never skips, without it)
    from mmad_eval.testing.tiny_vlm import build_tiny_llava

    _, questions, _ = world
    model = build_tiny_llava(tmp_path / "tiny")
    out = tmp_path / "runs"
    assert _run(questions, out, "--model", f"hf:{model}", "--answer-mode", "likelihood", "--max-tokens", "1",
                "--backend-option", "device=cpu", "--backend-option", "batch_size=4") == 0
    run = load_run(out)
    assert all(a.rule == "likelihood" and a.parsed in a.options for a in run.answers)
    assert all(set(a.meta["letter_logprobs"]) == set(a.options) and "outside_topk" not in a.meta
               for a in run.answers)


def test_report_shows_detector_and_model_roc_and_calibration(world, tmp_path):
    root, questions, items = world
    maps = write_maps_folder(tmp_path / "maps", items)
    out = tmp_path / "runs"
    assert _run(questions, out, "--model", f"detector:{maps}", "--name", "detector") == 0
    assert _run(questions, out, "--model", "random", "--answer-mode", "likelihood", "--name", "random-lik") == 0
    assert main(["report", str(out), "--out", str(tmp_path / "r.html")]) == 0
    html = (tmp_path / "r.html").read_text()
    section = html[html.index('<section id="detector">'):html.index('<section id="calibration">')]
    assert section.count("<path") == 2 and section.count("stroke-dasharray=\"5 3\"") == 1   # detector dashed
    assert "detector score" in section and "letter probability" in section and "83.3" in section
    cal = html[html.index('<section id="calibration">'):]
    assert "random-lik" in cal[:cal.index("</section>")] and "Reliability diagram" in cal
