"""Agent mode's loop, scripted agent and measures (run/agent.py, backends/scripted_agent.py, score/agent.py),
fast: a one-category synthetic set, the real store, the built-in scripted agent and the real local
OpenAI-compatible test server (issue 25: the agent area's mutation tests)."""
import json

import pytest

from mmad_eval.answers import AnswerRecord
from mmad_eval.cli import main
from mmad_eval.parse.stage import load_parsed_run
from mmad_eval.prompt.tools import LAST_TURN
from mmad_eval.run.agent import earlier_turns_usage, stored_tool_calls
from mmad_eval.run.store import Store
from mmad_eval.score.agent import agent_summary, direct_vs_agent
from mmad_eval.testing.openai_server import FakeOpenAIServer, option_letters

BOX = json.dumps({"x1": 0, "y1": 0, "x2": 40, "y2": 40})


@pytest.fixture(scope="module")
def questions(tmp_path_factory):
    from mmad_eval.questions.generate import GenerateSettings, generate_questions
    from mmad_eval.questions.mmad_io import write_mmad_json
    from mmad_eval.sources.detect import load_source
    from mmad_eval.sources.synth import generate_synthetic

    root = generate_synthetic(tmp_path_factory.mktemp("agent-kills"), categories=["bottle"], n_train=3,
                              n_test_good=1, n_per_defect=1, size=64, workers=1)
    result = generate_questions(load_source(root / "Synth-AD"), root / "knowledge.json", GenerateSettings(similar="none"))
    write_mmad_json(result.questions, root / "questions.json")
    return root / "questions.json"


def _calls(*calls):
    return {"content": None, "finish_reason": "tool_calls", "tool_calls": [
        {"id": f"c{i}", "type": "function", "function": {"name": name, "arguments": args}}
        for i, (name, args) in enumerate(calls)]}


def _tool_turns(body) -> int:
    return sum(1 for m in body["messages"] if m["role"] == "assistant")


def _letter(body) -> str:
    return option_letters({"messages": [next(m for m in body["messages"] if m["role"] == "user")]})[0]


def _agents(out, name):
    with Store(out) as store:
        members = store.members(name)
        rows = store.requests_for([m.request_key for m in members])
    return {m.qid: (json.loads(rows[m.request_key]["extra"] or "{}").get("agent"), m.type) for m in members}


def _server_run(questions, out, responder, *extra):
    with FakeOpenAIServer(responder=responder) as srv:
        code = main(["run", "--questions", str(questions), "--model", "openai:fake-vlm", "--out", str(out),
                     "--base-url", srv.base_url, "--concurrency", "1", "--subtasks", "AD", *extra])
        return code, srv.requests


def test_the_scripted_agent_calls_detector_then_zoom_and_answers_from_the_verdict(questions, tmp_path, capsys):
    assert main(["run", "--questions", str(questions), "--model", "scripted-agent", "--out", str(tmp_path),
                 "--name", "a", "--agent", "detector,zoom", "--subtasks", "AD", "DL", "OC"]) == 0
    line = capsys.readouterr().out
    agents = _agents(tmp_path, "a")
    tooled = [a for a, t in agents.values() if t in ("Anomaly Detection", "Defect Localization")]
    assert tooled and all(a["tool_calls"].get("detector") == 1 and a["invalid_tool_calls"] == 0
                          and not a["turn_limit"] and a["turns"] == 2 + a["tool_calls"].get("zoom", 0)
                          == len(a["turn_keys"]) == len(set(a["turn_keys"])) for a in tooled)
    assert all(a["turns"] == 1 and a["tool_calls"] == {} for a, t in agents.values() if t == "Object Classification")
    assert all(a["prompt_tokens"] == a["completion_tokens"] == 0 for a, _ in agents.values())   # no tokens counted
    zooms, turns = sum(a["tool_calls"].get("zoom", 0) for a in tooled), sum(a["turns"] for a, _ in agents.values())
    assert zooms > 0
    assert f"agent: {len(agents)} conversations rebuilt, {turns} turns, tool calls: detector {len(tooled)}, zoom {zooms}" in line
    run = load_parsed_run(tmp_path, "a")
    ad = [r for r in run.answers if r.type == "Anomaly Detection"]
    assert ad and all(r.parsed in ("A", "B") for r in ad)
    # the AD answer is the detector's verdict, as the expert baseline answers
    assert main(["run", "--questions", str(questions), "--model", "expert", "--out", str(tmp_path / "e"),
                 "--subtasks", "AD", "--quiet"]) == 0
    expert = {r.qid: r.parsed for r in load_parsed_run(tmp_path / "e", "expert").answers}
    assert {r.qid: r.parsed for r in ad} == expert
    # only the detector offered: no zoom, one turn fewer
    assert main(["run", "--questions", str(questions), "--model", "scripted-agent", "--out", str(tmp_path),
                 "--name", "d", "--agent", "detector", "--subtasks", "DL", "--quiet"]) == 0
    assert all(a["turns"] == 2 and a["tool_calls"] == {"detector": 1} for a, _ in _agents(tmp_path, "d").values())


@pytest.mark.parametrize("max_turns", [2, 3])
def test_a_model_that_keeps_calling_ends_at_the_turn_limit_with_a_last_turn_note(questions, tmp_path, capsys, max_turns):
    said = f"Let me look closer ({max_turns})."
    code, bodies = _server_run(questions, tmp_path, lambda body: {**_calls(("zoom", BOX)), "content": said},
                               "--agent", "zoom", "--max-turns", str(max_turns))
    assert code == 0
    agents = [a for a, _ in _agents(tmp_path, "openai:fake-vlm").values()]
    assert agents and len(bodies) == max_turns * len(agents)
    assert all(a["turns"] == max_turns and a["turn_limit"] and a["tool_calls"] == {"zoom": max_turns - 1}
               for a in agents)
    notes = [LAST_TURN in json.dumps(b["messages"]) for b in bodies]
    assert sum(notes) == len(agents)                      # only the last turn's request carries the note
    assert all(n == (_tool_turns(b) == max_turns - 1) for n, b in zip(notes, bodies))
    out = capsys.readouterr().out
    assert f"{len(agents)} ended by the turn limit ({max_turns})" in out
    replies = [m for b in bodies for m in b["messages"] if m["role"] == "assistant"]
    assert replies and all(said in json.dumps(m) for m in replies)      # the model's words stay in the conversation


@pytest.mark.parametrize("n_calls", [9, 11])
def test_past_eight_calls_a_reply_s_calls_are_errors_and_invented_tools_are_not_counted(questions, tmp_path, capsys,
                                                                                       n_calls):
    calls = [("zoom", BOX)] * n_calls + [("hammer", "{}")]

    def responder(body):
        return _calls(*calls) if _tool_turns(body) == 0 else _letter(body)

    code, bodies = _server_run(questions, tmp_path, responder, "--agent", "zoom", "--limit", "1")
    assert code == 0
    (agent, _), = _agents(tmp_path, "openai:fake-vlm").values()
    assert agent["tool_calls"] == {"zoom": 8} and agent["invalid_tool_calls"] == n_calls + 1 - 8
    assert agent["turns"] == 2 and not agent["turn_limit"]
    tools = [m for m in bodies[-1]["messages"] if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in tools] == [f"c{i}" for i in range(n_calls + 1)]
    assert [m["content"].startswith("error:") for m in tools] == [False] * 8 + [True] * (n_calls + 1 - 8)
    assert f"{n_calls + 1 - 8} invalid calls answered with an error" in capsys.readouterr().out


def test_tokens_of_every_turn_count_in_the_summary_and_the_earlier_turns_usage(questions, tmp_path):
    def responder(body):
        return _calls(("zoom", BOX)) if _tool_turns(body) < 2 else _letter(body)

    code, bodies = _server_run(questions, tmp_path, responder, "--agent", "zoom", "--limit", "2")
    assert code == 0
    with Store(tmp_path) as store:
        rows = store.requests_for(store.statuses())
        agents = [a for a, _ in _agents(tmp_path, "openai:fake-vlm").values()]
        earlier = earlier_turns_usage(store, "openai:fake-vlm")
        nothing = earlier_turns_usage(store, "no-such-run")
    assert len(agents) == 2 and all(a["turns"] == 3 for a in agents)
    for a in agents:
        assert a["prompt_tokens"] == sum(rows[k]["prompt_tokens"] for k in a["turn_keys"]) > 0
        assert a["completion_tokens"] == sum(rows[k]["completion_tokens"] for k in a["turn_keys"]) > 0
    firsts = [k for a in agents for k in a["turn_keys"][:-1]]
    assert earlier["requests"] == len(firsts) == 4
    assert earlier["prompt_tokens"] == sum(rows[k]["prompt_tokens"] for k in firsts)
    assert earlier["completion_tokens"] == sum(rows[k]["completion_tokens"] for k in firsts)
    assert earlier["requests_sent"] == sum(rows[k]["attempts"] for k in firsts) == 4
    assert set(nothing.values()) == {0}
    assert stored_tool_calls(rows[agents[0]["turn_keys"][0]])[0]["name"] == "zoom"
    assert stored_tool_calls(rows[agents[0]["turn_keys"][-1]]) == []
    assert stored_tool_calls({**rows[agents[0]["turn_keys"][0]], "status": "error"}) == []
    assert stored_tool_calls(None) == []


def _record(image, parsed, agent, rotation=0, answer="A"):
    return AnswerRecord(image=image, index=0, type="Anomaly Detection", options={"A": "Yes", "B": "No"},
                        answer=answer, reply=parsed, parsed=parsed, rotation=rotation,
                        meta={"agent": agent} if agent is not None else {})


def test_agent_summary_counts_calls_worth_tokens_and_cost():
    a = {"turns": 3, "tool_calls": {"zoom": 2, "detector": 1}, "invalid_tool_calls": 1, "turn_limit": False,
         "prompt_tokens": 1000, "completion_tokens": 10}
    b = {"turns": 1, "tool_calls": {}, "invalid_tool_calls": 0, "turn_limit": True, "prompt_tokens": 500,
         "completion_tokens": 5}
    c = {"turns": 2, "tool_calls": {"zoom": 1}, "invalid_tool_calls": 2, "turn_limit": True, "prompt_tokens": 0,
         "completion_tokens": 0}
    recs = [_record("D/c/test/x/1.png", "A", a), _record("D/c/test/x/2.png", "B", b),
            _record("D/c/test/x/2.png", "A", c), _record("D/c/test/x/3.png", "A", a, rotation=1),
            _record("D/c/test/x/4.png", "A", None)]
    s = agent_summary(recs, {"input": 2.0, "output": 10.0})
    assert s.questions == 3 and s.turns_per_question == 2.0
    assert s.calls_per_100 == {"detector": 100 / 3, "zoom": 100.0}
    assert s.invalid_calls == 3 and s.turn_limit_endings == 2
    assert s.tokens_per_100_images == 100 * 1515 / 2                      # two distinct images
    assert s.cost_per_100_images == pytest.approx(100 * (1500 * 2.0 + 15 * 10.0) / 1e6 / 2)
    worth = {w.tool: (w.used, w.used_accuracy, w.unused_accuracy) for w in s.worth}
    assert worth == {"detector": (1, 100.0, 50.0), "zoom": (2, 100.0, 0.0)}
    free = agent_summary(recs[:1], None)
    assert free.cost_per_100_images is None and free.tokens_per_100_images == 101000
    quiet = agent_summary([_record("D/c/test/x/1.png", "A", {"turns": 1, "tool_calls": {}})], {"input": 1.0})
    assert quiet.tokens_per_100_images is None and quiet.cost_per_100_images is None and quiet.worth == []
    assert agent_summary(recs[3:], None) is None                         # rotation 1 and no agent: not an agent run


@pytest.mark.parametrize("agent_right", [True, False])
def test_the_paired_comparison_is_agent_minus_direct(agent_right):
    keys = [f"D/c/test/x/{i}.png" for i in range(6)]
    direct = [_record(k, "B" if agent_right else "A", None) for k in keys]
    agent = [_record(k, "A" if agent_right else "B", {"turns": 2}) for k in keys]
    c = direct_vs_agent(direct, agent, n_boot=20)
    assert c.shared == 6
    assert c.a["Anomaly Detection"] == (0.0 if agent_right else 100.0)               # a: the direct run
    assert c.diff["Anomaly Detection"] == (100.0 if agent_right else -100.0)         # agent - direct


@pytest.mark.parametrize("box, pad", [((20, 30, 30, 40), 8), ((10, 10, 50, 70), 25), ((0, 0, 9, 9), 8)])
def test_the_scripted_agent_zooms_on_the_detector_box_widened_by_a_quarter_of_its_size(box, pad):
    """At least 8 pixels each side; a quarter of the box's width plus height when that is more."""
    from mmad_eval.backends.scripted_agent import ScriptedAgentBackend
    from mmad_eval.prompt.images import ImageRegistry
    from mmad_eval.prompt.message import Message, Request, TextPart, ToolCall
    from mmad_eval.settings import GenerationSettings

    facts = {"verdict": "defective", "boxes": [list(box)], "location": "top left"}
    messages = (Message("user", (TextPart("Is there a defect?\nA. Yes\nB. No"),)),
                Message("assistant", (TextPart(""),), tool_calls=(ToolCall("call_1", "detector", "{}"),)),
                Message("tool", (TextPart("detector: anomaly score 2.0\n" + json.dumps(facts)),), tool_call_id="call_1"))
    request = Request(messages, ("q#0",), (("A", "B"),), meta={"type": "Defect Localization"},
                      tools=("detector", "zoom"))
    backend = ScriptedAgentBackend("scripted-agent", GenerationSettings(), ImageRegistry())
    (call,) = backend.answer("k", request).extra["tool_calls"]
    assert call["name"] == "zoom" and call["id"] == "call_2"
    x1, y1, x2, y2 = box
    assert json.loads(call["arguments"]) == {"x1": x1 - pad, "y1": y1 - pad, "x2": x2 + pad, "y2": y2 + pad}
