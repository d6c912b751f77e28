"""Agent mode end to end on the synthetic set with the built-in scripted agent (no weights, no server)."""
import json

import pytest

from mmad_eval.cli import main
from mmad_eval.parse.stage import load_parsed_run
from mmad_eval.run.store import Store


def _run(q, out, *extra, name="agent"):
    return main(["run", "--questions", str(q), "--model", "scripted-agent", "--out", str(out), "--name", name,
                 "--quiet", *extra])


def _finals(out, name):
    with Store(out) as store:
        members = store.members(name)
        rows = store.requests_for([m.request_key for m in members])
    return members, rows


@pytest.fixture(scope="module")
def agent_run(synth_questions, tmp_path_factory):
    out = tmp_path_factory.mktemp("agent-out")
    assert _run(synth_questions, out, "--agent", "tools=detector,zoom", "--subtasks", "AD", "DL", "DC") == 0
    return out


def test_ad_and_dl_questions_go_through_detector_then_zoom(agent_run):
    members, rows = _finals(agent_run, "agent")
    by_type = {}
    for m in members:
        agent = json.loads(rows[m.request_key]["extra"])["agent"]
        by_type.setdefault(m.type, []).append(agent)
    for qtype in ("Anomaly Detection", "Defect Localization"):
        for a in by_type[qtype]:
            assert a["tool_calls"].get("detector") == 1 and a["invalid_tool_calls"] == 0 and not a["turn_limit"]
            assert a["turns"] == 2 + a["tool_calls"].get("zoom", 0) == len(a["turn_keys"])
    assert any(a["tool_calls"].get("zoom") for a in by_type["Defect Localization"])   # the detector pointed somewhere
    # other subtasks are answered at once, with no tool
    assert all(a["turns"] == 1 and a["tool_calls"] == {} for a in by_type["Defect Classification"])


def test_the_last_turn_holds_the_whole_conversation_and_its_answer(agent_run):
    members, rows = _finals(agent_run, "agent")
    m = next(m for m in members if m.type == "Defect Localization"
             and json.loads(rows[m.request_key]["extra"])["agent"]["turns"] == 3)
    content = json.loads(rows[m.request_key]["content"])
    roles = [msg["role"] for msg in content]
    assert roles.count("assistant") == 2 and roles.count("tool") == 2 and roles[-1] == "tools"
    assert [c["name"] for msg in content for c in msg.get("tool_calls", [])] == ["detector", "zoom"]
    tool_images = [p for msg in content for p in msg["parts"] if p.get("role") == "tool"]
    assert len(tool_images) == 2                                     # the heat map and the crop
    with Store(agent_run) as store:                                  # kept for the report's trajectories
        assert all(store.image(p["image"]) is not None for p in tool_images)
    run = load_parsed_run(agent_run, "agent")
    answer = next(a for a in run.answers if a.qid == m.qid)
    assert answer.parsed in "ABCD" and answer.reply == rows[m.request_key]["text"]


def test_detector_answers_match_the_expert_baseline(agent_run, synth_questions, tmp_path):
    """The agent answers AD from the detector's verdict: the same letters as the expert baseline."""
    assert main(["run", "--questions", str(synth_questions), "--model", "expert", "--out", str(tmp_path),
                 "--subtasks", "AD", "--quiet"]) == 0
    expert = {a.qid: a.parsed for a in load_parsed_run(tmp_path, "expert").answers}
    agent = {a.qid: a.parsed for a in load_parsed_run(agent_run, "agent").answers if a.qid in expert}
    assert agent == expert and len(agent) >= 4


def test_rerun_asks_nothing_and_keeps_members_on_last_turns(agent_run, synth_questions, capsys):
    before = _finals(agent_run, "agent")
    assert _run(synth_questions, agent_run, "--agent", "tools=detector,zoom", "--subtasks", "AD", "DL", "DC") == 0
    assert "asked 0," in capsys.readouterr().out
    assert _finals(agent_run, "agent")[0] == before[0]


def test_tools_change_the_trajectory(synth_questions, tmp_path):
    """Offered only the detector, the agent never zooms: one turn fewer, other keys."""
    assert _run(synth_questions, tmp_path, "--agent", "detector", "--subtasks", "DL") == 0
    members, rows = _finals(tmp_path, "agent")
    agents = [json.loads(rows[m.request_key]["extra"])["agent"] for m in members]
    assert agents and all(a["turns"] == 2 and set(a["tool_calls"]) == {"detector"} for a in agents)
    record = load_parsed_run(tmp_path, "agent").record
    assert record["settings"]["agent"] == {"tools": ["detector"], "max_turns": 5, "detector": "builtin",
                                           "zoom_side": 448}


def test_a_backend_without_tool_calls_is_refused_in_one_line(synth_questions, tmp_path, capsys):
    assert main(["run", "--questions", str(synth_questions), "--model", "random", "--out", str(tmp_path),
                 "--agent", "zoom", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot call tools" in err[0] and "random" in err[0]
    assert main(["run", "--questions", str(synth_questions), "--model", "scripted-agent", "--out", str(tmp_path),
                 "--agent", "zoom", "--question-mode", "per-image", "--quiet"]) == 2
    assert "--question-mode independent" in capsys.readouterr().err


@pytest.mark.parametrize("extra, culprit", [(["--ray"], "--ray"), (["--ray", "ray://head:10001"], "--ray"),
                                            (["--max-turns", "0"], "max_turns"),
                                            (["--max-turns", "-2"], "max_turns")])
def test_bad_agent_combinations_are_one_line_naming_the_flag(synth_questions, tmp_path, extra, culprit):
    import subprocess
    import sys

    p = subprocess.run([sys.executable, "-m", "mmad_eval", "run", "--questions", str(synth_questions), "--model",
                        "scripted-agent", "--out", str(tmp_path / "o"), "--agent", "zoom", "--quiet", *extra],
                       capture_output=True, text=True, timeout=300)
    err = p.stderr.strip().splitlines()
    assert p.returncode == 2 and len(err) == 1 and culprit in err[0], p.stderr
    assert "scripted-agent backend cannot call tools" not in err[0]


@pytest.mark.parametrize("perturb", ["lowlight=5", "blur=2,lowlight=4"])
def test_tools_of_a_perturbed_run_see_the_perturbed_query(synth_questions, tmp_path, perturb):
    """Zoom and the detector's heat map show the query as the model sees it, never the clean pixels."""
    import io

    import numpy as np
    from PIL import Image

    out = tmp_path / "o"
    assert _run(synth_questions, out, "--agent", "detector,zoom", "--perturb", perturb, "--subtasks", "DL",
                name="dark") == 0
    members, rows = _finals(out, "dark")
    root = synth_questions.parent
    checked = 0
    with Store(out) as store:
        def pixels(sha):
            return np.asarray(Image.open(io.BytesIO(store.image(sha)[1])).convert("RGB"), np.float64)

        for m in members:
            content = json.loads(rows[m.request_key]["content"])
            parts = [p for msg in content for p in msg["parts"]]
            query = next(p for p in parts if p.get("role") == "query")
            seen = pixels(query["image"])                                   # the perturbed query
            clean = np.asarray(Image.open(root / m.image).convert("RGB"), np.float64)
            for said, p in zip(parts, parts[1:]):
                if p.get("role") != "tool" or "returned by zoom" not in said.get("text", ""):
                    continue
                x1, y1, x2, y2 = json.loads(said["text"].split("(zoom ")[1].split(")")[0])
                zoom = pixels(p["image"])
                assert abs(zoom.mean() - seen[y1:y2, x1:x2].mean()) < 4
                assert abs(zoom.mean() - clean[y1:y2, x1:x2].mean()) > 20
                checked += 1
    assert checked


@pytest.mark.parametrize("perturb", ["lowlight=5", "noise=20,lowlight=3"])
def test_the_expert_hint_of_a_perturbed_run_is_drawn_on_the_perturbed_query(synth_questions, tmp_path, perturb):
    import io

    import numpy as np
    from PIL import Image

    out = tmp_path / "o"
    assert main(["run", "--questions", str(synth_questions), "--model", "random", "--out", str(out), "--quiet",
                 "--expert", "builtin", "--hint", "boxes", "--perturb", perturb, "--subtasks", "AD"]) == 0
    with Store(out) as store:
        members = store.members("random")
        rows = store.requests_for([m.request_key for m in members])
        for row in list(rows.values())[:4]:
            parts = [p for msg in json.loads(row["content"]) for p in msg["parts"]]
            shas = {p.get("role"): p["image"] for p in parts if p.get("image")}
            seen, hint = (np.asarray(Image.open(io.BytesIO(store.image(shas[r])[1])).convert("RGB"), np.int16)
                          for r in ("query", "hint"))
            same = (np.abs(seen - hint).max(axis=2) == 0).mean()
            assert same > 0.8, same               # all but the red boxes: the pixels the model saw


@pytest.mark.parametrize("tools", ["zoom", "detector,references"])
def test_agent_mode_with_open_answers_is_one_line(synth_questions, tmp_path, capsys, tools):
    """The agent's prompt asks for an option's letter, which an open question does not have: refused, not run
    with contradicting instructions."""
    assert main(["run", "--questions", str(synth_questions), "--model", "scripted-agent", "--out", str(tmp_path),
                 "--agent", tools, "--answer-format", "open", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--answer-format open" in err[0] and "agent" in err[0]
