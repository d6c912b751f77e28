"""The one compatibility check (resume and merge): what changes answers refuses, what does not is let through."""
import json
import shutil
import sqlite3
from pathlib import Path

from mmad_eval.cli import main
from mmad_eval.run.compat import incompatibilities
from mmad_eval.run.store import DB_NAME

FIXTURE = Path(__file__).parent / "fixtures" / "store_v0_1_0"


def _record(**model_spec) -> dict:
    return {"settings": {"model": "gpt-4o", "generation": {"seed": 0}},
            "model_spec": {"name": "gpt-4o", "backend": "openai", "model": "gpt-4o", "generation": {},
                           "options": {}, "price": {"input": 2.5, "output": 10.0}, **model_spec},
            "questions": {"sha256": "q"}, "prompt": {"sha256": "p"}}


def test_a_preset_list_price_is_not_an_answer_setting():
    assert incompatibilities(_record(), _record(price={"input": 2.0, "output": 8.0})) == []
    assert incompatibilities(_record(), _record(model="gpt-4o-2024-08-06")) == ["model_spec.model"]
    assert incompatibilities(_record(), _record(options={"extra_body": {"top_k": 1}})) == ["model_spec.options"]


def test_a_run_resumes_after_a_release_changed_its_presets_price(tmp_path, capsys):
    shutil.copytree(FIXTURE / "data", tmp_path / "data")
    shutil.copytree(FIXTURE / "out", tmp_path / "out")
    with sqlite3.connect(tmp_path / "out" / DB_NAME) as db:     # the run as an older price list recorded it
        (text,) = db.execute("SELECT record FROM runs WHERE name = 'random'").fetchone()
        record = json.loads(text)
        record["model_spec"]["price"] = {"input": 1.0, "output": 2.0}
        db.execute("UPDATE runs SET record = ? WHERE name = 'random'", (json.dumps(record),))
    assert main(["run", "--questions", str(tmp_path / "data" / "mmad.json"), "--out", str(tmp_path / "out"),
                 "--model", "random", "--name", "random", "--quiet"]) == 0
    assert "asked 0, reused 16" in capsys.readouterr().out


def test_a_presets_tool_call_format_matters_only_to_agent_runs():
    """A preset that gained ``tool_call_format`` (an agent-mode option) still resumes its plain runs recorded
    before; with --agent the format does change answers."""
    from mmad_eval.backends.registry import load_presets

    spec = load_presets()["qwen2.5-vl-7b"].as_dict()
    before = {**spec, "options": {k: v for k, v in spec["options"].items() if k != "tool_call_format"}}
    assert incompatibilities(_record(**before), _record(**spec)) == []
    json_format = {**spec, "options": {**spec["options"], "tool_call_format": "json"}}
    assert incompatibilities(_record(**spec), _record(**json_format)) == []
    agent = {"tools": ["zoom"], "max_turns": 5, "detector": "builtin", "zoom_side": 448}
    a, b = _record(**spec), _record(**json_format)
    for r in (a, b):
        r["settings"]["agent"] = agent
    assert incompatibilities(a, b) == ["model_spec.options"]
    assert incompatibilities(_record(options={"max_model_len": 1}), _record(options={"max_model_len": 2})) == \
        ["model_spec.options"]
