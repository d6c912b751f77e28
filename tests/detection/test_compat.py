"""Stores written before answer details and answer modes existed are migrated and keep their answers."""
import json
import shutil
import sqlite3
from pathlib import Path

from mmad_eval.backends.base import GenerationSettings, Response
from mmad_eval.cli import main
from mmad_eval.run.store import DB_NAME, Store
from mmad_eval.settings import RunSettings

FIXTURE = Path(__file__).parents[1] / "run" / "fixtures" / "store_v0_1_0"


def test_an_old_store_gains_answer_details_and_keeps_its_answers(tmp_path, capsys):
    shutil.copytree(FIXTURE / "data", tmp_path / "data")
    shutil.copytree(FIXTURE / "out", tmp_path / "out")
    with Store(tmp_path / "out") as store:
        store.put_response(Response(key="new", text="A", extra={"outside_topk": ["C"], "endpoint": "http://x"}),
                           None)
        got = store.requests_for(["new"])["new"]
    assert json.loads(got["extra"]) == {"outside_topk": ["C"]}          # transport details are not kept
    with sqlite3.connect(tmp_path / "out" / DB_NAME) as db:
        assert "extra" in {r[1] for r in db.execute("PRAGMA table_info(requests)")}
    # answers stored by 0.1.0 keep their keys: nothing is asked again
    assert main(["run", "--questions", str(tmp_path / "data" / "mmad.json"), "--out", str(tmp_path / "out"),
                 "--model", "random", "--name", "random", "--quiet"]) == 0
    assert "asked 0" in capsys.readouterr().out


def test_new_settings_are_recorded_and_keyed_only_when_set():
    assert "answer_mode" not in GenerationSettings().as_dict()       # the default: what every earlier run did
    assert "reasoning_effort" not in GenerationSettings().as_dict()
    lik = GenerationSettings(answer_mode="likelihood", reasoning_effort="low").as_dict()
    assert lik["answer_mode"] == "likelihood" and lik["reasoning_effort"] == "low"
    assert RunSettings(model="m", generation=GenerationSettings(answer_mode="likelihood")).as_dict()[
        "generation"]["answer_mode"] == "likelihood"
