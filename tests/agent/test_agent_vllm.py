"""Agent mode in-process on vLLM (the fake ``vllm`` module of the backend tests, rendering each conversation
with the tiny model's real tokenizer chat template as vLLM does with tools): the model writes hermes
``<tool_call>`` blocks, the harness reads them, runs the tools and sends the conversation back."""
import json
import sys
from pathlib import Path

import pytest

from mmad_eval.cli import main
from mmad_eval.parse.stage import load_parsed_run
from mmad_eval.prompt.tools import function_tools
from mmad_eval.run.store import Store

pytest.importorskip("transformers")
pytest.importorskip("tokenizers")
from mmad_eval.testing.tiny_vlm import TOOLS_CHAT_TEMPLATE, build_tiny_llava  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "backends"))
from fake_vllm import FakeLLM, TemplateLLM, install  # noqa: E402

ZOOM = '<tool_call>\n{"name": "zoom", "arguments": {"x1": 0, "y1": 0, "x2": 48, "y2": 48}}\n</tool_call>'


class ZoomThenB(TemplateLLM):
    """Zooms first; after a tool's response, answers B."""
    script = staticmethod(lambda prompt: "B" if "<tool_response>" in prompt else "Let me look closer.\n" + ZOOM)


class BadCallThenA(TemplateLLM):
    """First a call whose arguments are not JSON, then A."""
    script = staticmethod(lambda prompt: "A" if "<tool_response>" in prompt else
                          '<tool_call>{"name": "zoom", "arguments": {x1: 0, y1: 0}}</tool_call>')


@pytest.fixture(scope="module")
def tools_model(tmp_path_factory):
    return build_tiny_llava(tmp_path_factory.mktemp("tiny-tools"), chat_template=TOOLS_CHAT_TEMPLATE)


@pytest.fixture(scope="module")
def plain_model(tmp_path_factory):
    return build_tiny_llava(tmp_path_factory.mktemp("tiny-plain"))          # a template that ignores tools


def _run(q, out, model, *extra):
    return main(["run", "--questions", str(q), "--model", f"vllm:{model}", "--out", str(out), "--name", "tiny",
                 "--subtasks", "AD", "--agent", "zoom", "--quiet", *extra])


def _finals(out):
    with Store(out) as store:
        members = store.members("tiny")
        rows = store.requests_for([m.request_key for m in members])
    return members, rows


def _chat_calls():
    return [c for llm in FakeLLM.instances for c in llm.calls]


def test_hermes_calls_run_the_tools_and_a_rerun_asks_nothing(synth_questions, tools_model, tmp_path, monkeypatch,
                                                               capsys):
    install(monkeypatch, ZoomThenB)
    assert _run(synth_questions, tmp_path, tools_model, "--tool-call-format", "hermes") == 0
    calls = _chat_calls()
    assert calls and all(c["tools"] == function_tools(("zoom",)) for c in calls)
    first = max(sum(1 for m in c0 if isinstance(m["content"], list) for p in m["content"] if p["type"] == "image_pil")
                for c0 in calls[0]["messages"])
    assert FakeLLM.instances[0].kw["limit_mm_per_prompt"] == {"image": first + 8}   # room for the tools' images
    members, rows = _finals(tmp_path)
    for m in members:
        row = rows[m.request_key]
        agent = json.loads(row["extra"])["agent"]
        assert agent == {**agent, "turns": 2, "tool_calls": {"zoom": 1}, "invalid_tool_calls": 0,
                         "turn_limit": False}
        content = json.loads(row["content"])
        said = next(msg for msg in content if msg.get("tool_calls"))
        assert said["parts"] == [{"text": "Let me look closer."}]          # the text outside the block
        assert [(c["name"], json.loads(c["arguments"])) for c in said["tool_calls"]] == \
            [("zoom", {"x1": 0, "y1": 0, "x2": 48, "y2": 48})]
        result = next(msg for msg in content if msg["role"] == "tool")
        assert result["parts"][0]["text"].startswith("zoom: region [0, 0, 48, 48]")
    second = [p for llm in FakeLLM.instances for p in llm.prompts if "<tool_response>" in p]
    assert len(second) == len(members)        # the template rendered the call (arguments as a mapping) back
    assert all('<tool_call>{"name": "zoom", "arguments": {"x1": 0, "y1": 0, "x2": 48, "y2": 48}}</tool_call>' in p
               and "<tool_response>zoom: region" in p for p in second)
    run = load_parsed_run(tmp_path, "tiny")
    assert {a.parsed for a in run.answers} == {"B"}
    accuracy = sum(a.correct for a in run.answers) / len(run.answers)
    assert accuracy == sum(a.answer == "B" for a in run.answers) / len(run.answers)
    assert "tool calls: zoom " + str(len(members)) in capsys.readouterr().out
    assert main(["report", str(tmp_path), "--out", str(tmp_path / "r.html")]) == 0     # trajectories shown
    page = (tmp_path / "r.html").read_text()
    assert '<section id="agent">' in page and "calls zoom(" in page and "Let me look closer." in page
    FakeLLM.instances = []
    assert _run(synth_questions, tmp_path, tools_model, "--tool-call-format", "hermes") == 0
    assert "asked 0," in capsys.readouterr().out and _chat_calls() == []
    assert _finals(tmp_path)[0] == members


def test_a_malformed_call_is_answered_with_an_error_and_counted(synth_questions, tools_model, tmp_path,
                                                               monkeypatch):
    install(monkeypatch, BadCallThenA)
    assert _run(synth_questions, tmp_path, tools_model, "--tool-call-format", "hermes") == 0
    members, rows = _finals(tmp_path)
    for m in members:
        row = rows[m.request_key]
        agent = json.loads(row["extra"])["agent"]
        assert agent["invalid_tool_calls"] == 1 and agent["turns"] == 2 and agent["tool_calls"] == {}
        result = next(msg for msg in json.loads(row["content"]) if msg["role"] == "tool")
        assert result["parts"][0]["text"].startswith("error:")
    assert {a.parsed for a in load_parsed_run(tmp_path, "tiny").answers} == {"A"}


def test_the_format_names_the_answer_keys(synth_questions, tools_model, tmp_path, monkeypatch, capsys):
    """hermes and json read the same text differently: other keys, asked anew; a plain run keeps its keys."""
    install(monkeypatch, ZoomThenB)
    assert _run(synth_questions, tmp_path / "h", tools_model, "--tool-call-format", "hermes") == 0
    assert _run(synth_questions, tmp_path / "j", tools_model, "--tool-call-format", "json") == 0
    hermes, json_run = _finals(tmp_path / "h")[0], _finals(tmp_path / "j")[0]
    assert {m.request_key for m in hermes}.isdisjoint(m.request_key for m in json_run)
    # json reads the hermes text as an answer (no call): one turn, no letter
    _, rows = _finals(tmp_path / "j")
    assert all(json.loads(r["extra"])["agent"]["turns"] == 1 for r in rows.values())


@pytest.mark.parametrize("model,extra,says", [
    ("plain", ("--tool-call-format", "hermes"), "ignores the tools it is given"),
    ("tools", (), "--tool-call-format"),
    ("empty", ("--tool-call-format", "hermes"), "could not load the tokenizer"),
])
def test_a_template_without_tools_or_no_format_is_one_clear_error(synth_questions, tools_model, plain_model, tmp_path,
                                                                  monkeypatch, capsys, model, extra, says):
    install(monkeypatch, ZoomThenB)
    (tmp_path / "empty").mkdir()
    folder = {"plain": plain_model, "tools": tools_model, "empty": tmp_path / "empty"}[model]
    assert _run(synth_questions, tmp_path, folder, *extra) == 2
    err = capsys.readouterr().err.strip()
    assert says in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert FakeLLM.instances == []                       # refused before the engine was built
