"""Agent mode against a real local OpenAI-compatible server answering with tool calls (scripted replies)."""
import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from mmad_eval.cli import main
from mmad_eval.parse.stage import load_parsed_run
from mmad_eval.run.store import Store
from mmad_eval.testing.openai_server import FakeOpenAIServer, option_letters

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "faults"))
from fault_helpers import cli  # noqa: E402


def _calls(*calls):
    return {"content": None, "finish_reason": "tool_calls", "tool_calls": [
        {"id": f"c{i}", "type": "function", "function": {"name": name, "arguments": args}}
        for i, (name, args) in enumerate(calls)]}


def hashed_letter(body) -> str:
    """A letter among the question's options (in the first user message), the same for the same question."""
    first = next(m for m in body["messages"] if m["role"] == "user")
    letters = option_letters({"messages": [first]})
    return letters[len(json.dumps(first)) % len(letters)]


def _tool_turns(body) -> int:
    return sum(1 for m in body["messages"] if m["role"] == "tool")


def zoom_then_answer(body):
    """First turn: zoom on the top-left quarter; after the tool's result: a letter."""
    if _tool_turns(body) == 0:
        return _calls(("zoom", json.dumps({"x1": 0, "y1": 0, "x2": 48, "y2": 48})))
    return hashed_letter(body)


def _run(q, out, url, *extra):
    return main(["run", "--questions", str(q), "--model", "openai:fake-vlm", "--out", str(out), "--base-url", url,
                 "--concurrency", "2", "--quiet", *extra])


def _agents(out, name="openai:fake-vlm"):
    with Store(out) as store:
        members = store.members(name)
        rows = store.requests_for([m.request_key for m in members])
    return {m.qid: json.loads(rows[m.request_key]["extra"] or "{}").get("agent") for m in members}


def test_tool_calls_and_results_travel_in_openai_format(synth_questions, tmp_path):
    with FakeOpenAIServer(responder=zoom_then_answer) as srv:
        assert _run(synth_questions, tmp_path, srv.base_url, "--agent", "zoom,detector", "--subtasks", "AD") == 0
        bodies = srv.requests
    first = [b for b in bodies if _tool_turns(b) == 0]
    second = [b for b in bodies if _tool_turns(b) == 1]
    assert first and len(first) == len(second)
    assert [t["function"]["name"] for t in first[0]["tools"]] == ["zoom", "detector"]
    assert first[0]["tool_choice"] == "auto" and "x1" in first[0]["tools"][0]["function"]["parameters"]["properties"]
    msgs = second[0]["messages"]
    call = next(m for m in msgs if m.get("tool_calls"))
    assert call["role"] == "assistant" and call["tool_calls"][0]["function"]["name"] == "zoom"
    result = next(m for m in msgs if m["role"] == "tool")
    assert result["tool_call_id"] == "c0" and result["content"].startswith("zoom: region [0, 0, 48, 48]")
    crop = msgs[-1]                                   # the crop follows in a user message
    assert crop["role"] == "user" and any(p.get("type") == "image_url" for p in crop["content"])
    assert all(a["turns"] == 2 and a["tool_calls"] == {"zoom": 1} for a in _agents(tmp_path).values())
    run = load_parsed_run(tmp_path, "openai:fake-vlm")
    assert all(a.parsed in ("A", "B") for a in run.answers)


def test_under_max_side_the_instruction_and_the_tools_use_the_sent_frame(synth_questions, tmp_path):
    """96 x 96 images sent at 48 x 48: the instruction names 48x48 and a zoom on the sent image's top-left
    quarter (0, 0, 24, 24) is accepted and echoed in that frame (at full size the region would be 0-48)."""
    def quarter(body):
        if _tool_turns(body) == 0:
            return _calls(("zoom", json.dumps({"x1": 0, "y1": 0, "x2": 24, "y2": 24})))
        return hashed_letter(body)

    with FakeOpenAIServer(responder=quarter) as srv:
        assert _run(synth_questions, tmp_path, srv.base_url, "--agent", "zoom", "--subtasks", "AD",
                    "--max-side", "48") == 0
        bodies = srv.requests
    first = [b for b in bodies if _tool_turns(b) == 0]
    assert first and all("which is 48x48 pixels" in json.dumps(b) and "96x96" not in json.dumps(b) for b in first)
    results = [m for b in bodies for m in b["messages"] if m["role"] == "tool"]
    assert results and all(m["content"].startswith("zoom: region [0, 0, 24, 24] of the query image") for m in results)


@pytest.mark.parametrize("name,args,why", [("hammer", "{}", "no tool named 'hammer'"),
                                           ("zoom", "{x1: 0", "not valid JSON"),
                                           ("zoom", json.dumps({"x1": 500, "y1": 500, "x2": 600, "y2": 600}),
                                            "the box is empty")])
def test_invalid_tool_calls_are_answered_with_an_error_and_counted(synth_questions, tmp_path, name, args, why):
    def responder(body):
        return _calls((name, args)) if _tool_turns(body) == 0 else hashed_letter(body)

    with FakeOpenAIServer(responder=responder) as srv:
        assert _run(synth_questions, tmp_path, srv.base_url, "--agent", "zoom", "--subtasks", "AD") == 0
        results = [m for b in srv.requests for m in b["messages"] if m["role"] == "tool"]
    assert results and all(m["content"].startswith("error:") and why in m["content"] for m in results)
    assert all(a["invalid_tool_calls"] == 1 and a["turns"] == 2 for a in _agents(tmp_path).values())


def test_a_model_that_never_stops_calling_ends_at_the_turn_limit(synth_questions, tmp_path, capsys):
    def responder(body):
        return _calls(("detector", "{}"))

    with FakeOpenAIServer(responder=responder) as srv:
        assert _run(synth_questions, tmp_path, srv.base_url, "--agent", "detector", "--max-turns", "3",
                    "--subtasks", "DL") == 0
        bodies = srv.requests
    agents = _agents(tmp_path)
    assert len(bodies) == 3 * len(agents)                          # three replies per question, no more
    assert all(a["turns"] == 3 and a["turn_limit"] for a in agents.values())
    last = [b for b in bodies if _tool_turns(b) == 2]
    assert last and all("This is your last turn" in json.dumps(b["messages"][-1]) for b in last)
    run = load_parsed_run(tmp_path, "openai:fake-vlm")
    assert all(a.parsed is None for a in run.answers)             # no answer: wrong in the strict score
    assert "ended by the turn limit (3)" in capsys.readouterr().out


def test_killed_mid_trajectory_resumes_at_the_last_completed_turn(synth_questions, tmp_path):
    """kill -9 while conversations are half done; the rerun asks only turns never answered (at most the ones in
    flight again) and ends with every question answered as an uninterrupted run answers it."""
    out, ref = tmp_path / "out", tmp_path / "ref"
    args = ["--agent", "zoom,detector", "--subtasks", "AD", "DL"]
    with FakeOpenAIServer(responder=zoom_then_answer) as srv:
        assert _run(synth_questions, ref, srv.base_url, *args) == 0
        total = srv.count
    gate = threading.Event()     # second turns are held at the server until the kill: none can be answered

    def latency(index: int, body: dict) -> float:  # and still on its way to the store, whatever the machine's load
        if _tool_turns(body):
            gate.wait(120)
        return 0.15

    with FakeOpenAIServer(responder=zoom_then_answer, latency_s=latency) as srv:
        proc = subprocess.Popen([sys.executable, "-m", "mmad_eval", "run", "--questions", str(synth_questions),
                                 "--model", "openai:fake-vlm", "--out", str(out), "--base-url", srv.base_url,
                                 "--concurrency", "2", "--quiet", *args],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        try:
            while time.monotonic() < deadline and not any(_tool_turns(b) for b in srv.requests):
                time.sleep(0.02)                                  # wait for the second turn to begin
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        finally:
            gate.set()
        killed_at = srv.count
        assert 0 < killed_at < total
    with FakeOpenAIServer(responder=zoom_then_answer) as srv:
        done = cli("run", "--questions", synth_questions, "--model", "openai:fake-vlm", "--out", out,
                   "--base-url", srv.base_url, "--concurrency", "2", "--quiet", *args)
        assert done.returncode == 0, done.stderr
        assert srv.count <= total - killed_at + 2               # at most the two in flight asked again
    got = {a.qid: a.parsed for a in load_parsed_run(out, "openai:fake-vlm").answers}
    want = {a.qid: a.parsed for a in load_parsed_run(ref, "openai:fake-vlm").answers}
    assert got == want and _agents(out) .keys() == _agents(ref).keys()


def test_usage_and_cost_count_every_turn(synth_questions, tmp_path):
    """The run record's tokens (and so its cost) add the tool-calling turns to the answering ones."""
    with FakeOpenAIServer(responder=zoom_then_answer) as srv:
        assert _run(synth_questions, tmp_path, srv.base_url, "--agent", "zoom", "--subtasks", "AD") == 0
        bodies = srv.requests
    usage = load_parsed_run(tmp_path, "openai:fake-vlm").record["usage"]
    n = len([b for b in bodies if _tool_turns(b) == 0])
    assert usage["agent_earlier_turns"] == n and usage["requests"] == n
    agents = _agents(tmp_path).values()
    assert usage["prompt_tokens"] == sum(a["prompt_tokens"] for a in agents) > 0
    assert usage["completion_tokens"] == sum(a["completion_tokens"] for a in agents) == 2 * n
    assert usage["requests_sent"] == 2 * n and usage["completion_tokens_billed"] == 2 * n


@pytest.mark.parametrize("n_calls, name, limit", [(40, "zoom", None), (25, "<b>hammer</b>", None), (12, "zoom", 3),
                                                  (12, "zoom", 11)])
def test_a_reply_with_very_many_tool_calls_runs_only_the_first_few(synth_questions, tmp_path, n_calls, name, limit):
    """Hostile output: a reply with dozens of calls (of a tool, or of invented names) runs at most
    ``--max-tool-calls`` of them (default 8); every call still gets its answer (the OpenAI format needs one per
    id), the others an error, and invented names are not counted as tools. The limit is recorded with the run
    (only when it is not the default: older records stay the same)."""
    box = json.dumps({"x1": 0, "y1": 0, "x2": 48, "y2": 48})
    most = 8 if limit is None else limit

    def responder(body):
        return _calls(*[(name, box)] * n_calls) if _tool_turns(body) == 0 else hashed_letter(body)

    flag = [] if limit is None else ["--max-tool-calls", str(limit)]
    with FakeOpenAIServer(responder=responder) as srv:
        assert _run(synth_questions, tmp_path, srv.base_url, "--agent", "zoom", "--subtasks", "AD",
                    "--limit", "2", *flag) == 0
        second = [b for b in srv.requests if _tool_turns(b)]
    assert len(second) == 2
    for body in second:
        tools = [m for m in body["messages"] if m["role"] == "tool"]
        images = [p for m in body["messages"] if m["role"] == "user" for p in m["content"]
                  if isinstance(p, dict) and p.get("type") == "image_url"]
        errors = [m["content"] for m in tools if m["content"].startswith("error:")]
        assert len(tools) == n_calls and len(errors) >= n_calls - most
        assert f"error: at most {most} tool calls are run per reply; this one was not" in errors
        assert len(images) <= 1 + 1 + most             # reference(s), query, crops
        if name == "zoom":
            assert len(images) == 1 + 1 + most
    for a in _agents(tmp_path).values():
        assert set(a["tool_calls"]) <= {"zoom"} and sum(a["tool_calls"].values()) <= most
        assert a["invalid_tool_calls"] == n_calls - sum(a["tool_calls"].values())
        if name == "zoom":
            assert sum(a["tool_calls"].values()) == most
    with Store(tmp_path) as store:
        agent = store.run_record("openai:fake-vlm")["settings"]["agent"]
    assert agent.get("max_tool_calls") == limit


def test_max_tool_calls_is_checked_and_needs_agent(synth_questions, tmp_path):
    for bad, said in ((["--agent", "zoom", "--max-tool-calls", "0"], "max_tool_calls must be a number >= 1"),
                      (["--max-tool-calls", "4"], "--max-tool-calls: --max-turns, --max-tool-calls, --agent-detector")):
        proc = cli("run", "--questions", synth_questions, "--model", "openai:fake-vlm", "--out", tmp_path / "o",
                   "--base-url", "http://127.0.0.1:9/v1", *bad)
        assert proc.returncode == 2 and said in proc.stderr, proc.stderr


@pytest.mark.parametrize("fault", ["bad_request", "refusal"])
def test_a_failed_middle_turn_is_reported_kept_and_retried(synth_questions, tmp_path, capsys, fault):
    """Turn 2 fails: the run goes on; a rerun says the failed turns are kept (and how to ask them again);
    --retry-failed asks only them and the members end on the answers."""
    from mmad_eval.testing.openai_server import Fault

    def faults(i, body):
        return Fault(fault) if _tool_turns(body) else None

    with FakeOpenAIServer(responder=zoom_then_answer, faults=faults) as srv:
        assert _run(synth_questions, tmp_path, srv.base_url, "--agent", "zoom", "--subtasks", "AD") == 1  # failed
        n = len([b for b in srv.requests if not _tool_turns(b)])
        capsys.readouterr()
        assert _run(synth_questions, tmp_path, srv.base_url, "--agent", "zoom", "--subtasks", "AD") == 0
        line = capsys.readouterr().out
        assert "asked 0" in line and f"{n} earlier errors kept" in line, line
    with FakeOpenAIServer(responder=zoom_then_answer) as srv:
        assert _run(synth_questions, tmp_path, srv.base_url, "--agent", "zoom", "--subtasks", "AD",
                    "--retry-failed") == 0
        assert srv.count == n and all(_tool_turns(b) == 1 for b in srv.requests)
    run = load_parsed_run(tmp_path, "openai:fake-vlm")
    assert len(run.answers) == n and all(a.error is None and a.parsed in ("A", "B") for a in run.answers)


@pytest.mark.parametrize("extra", [[], ["--concurrency", "1"]])
def test_a_rerun_killed_before_its_turns_keeps_members_on_the_last_turns(synth_questions, tmp_path, extra):
    """A rerun rebuilding conversations (here --retry-failed) killed before it asks anything must not leave
    the run's members on first turns that only called tools (score and report would read those as answers)."""
    from mmad_eval.run.agent import stored_tool_calls
    from mmad_eval.testing.openai_server import Fault

    out = tmp_path / "o"
    with FakeOpenAIServer(responder=zoom_then_answer,
                          faults=lambda i, body: Fault("bad_request") if _tool_turns(body) else None) as srv:
        assert _run(synth_questions, out, srv.base_url, "--agent", "zoom", "--subtasks", "AD") == 1
    with FakeOpenAIServer(responder=zoom_then_answer, faults=[Fault("hang", hang_s=30)] * 100) as srv:
        proc = subprocess.Popen([sys.executable, "-m", "mmad_eval", "run", "--questions", str(synth_questions),
                                 "--model", "openai:fake-vlm", "--out", str(out), "--base-url", srv.base_url,
                                 "--quiet", "--agent", "zoom", "--subtasks", "AD", "--retry-failed", *extra],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not srv.requests:
            time.sleep(0.02)                                      # the retried turns are being asked
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert srv.requests
    with Store(out) as store:
        members = store.members("openai:fake-vlm")
        rows = store.requests_for([m.request_key for m in members])
    assert members and not any(stored_tool_calls(rows.get(m.request_key)) for m in members)
