"""The enhancement ablation matrix: arms switch exactly one help on, share one store, reuse answers."""
import json

import pytest

from mmad_eval.errors import ConfigError
from mmad_eval.run.ablation import ARMS, arm_settings, run_ablation
from mmad_eval.parse.stage import load_parsed_runs
from mmad_eval.run.settings import EnhancementSettings, ProtocolSettings, RunSettings


def _base(knowledge=None, **protocol):
    return RunSettings(model="random", protocol=ProtocolSettings(**protocol),
                       enhancements=EnhancementSettings(knowledge=knowledge))


def test_arm_settings_switch_one_help_each():
    base = _base("k.json", references="similar", shots=2)
    got = {arm: arm_settings(base, arm) for arm in ARMS}
    assert (got["none"].protocol.references, got["none"].protocol.shots) == ("none", 0)
    assert got["none"].enhancements.knowledge is None and got["none"].enhancements.expert == "none"
    assert (got["+references"].protocol.references, got["+references"].protocol.shots) == ("similar", 2)
    assert got["+knowledge"].enhancements.knowledge == "k.json" and got["+knowledge"].protocol.shots == 0
    assert got["+expert"].enhancements.expert == "builtin" and got["+expert"].enhancements.knowledge is None
    assert got["all"].protocol.shots == 2 and got["all"].enhancements.knowledge == "k.json"
    assert got["all"].enhancements.expert == "builtin"
    with pytest.raises(ConfigError):
        arm_settings(base, "+everything")


def test_knowledge_arms_need_a_knowledge_file(dataset, tmp_path, counting):
    with pytest.raises(ConfigError, match="--knowledge"):
        run_ablation(_base(), dataset, tmp_path, arms=["none", "+knowledge"], backend_factory=counting)


def test_ablation_runs_share_one_store_and_reuse_identical_requests(dataset, tmp_path, counting):
    knowledge = tmp_path / "knowledge.json"
    knowledge.write_text(json.dumps({"format": "mmad-eval-knowledge/1", "categories": {
        "bottle": {"name": "bottle", "normal": "A clean bottle."}, "candle": {"name": "candle"}}}))
    out = tmp_path / "out"
    summaries = run_ablation(_base(str(knowledge)), dataset, out, arms=["none", "+references", "+knowledge"],
                             data_root=dataset.parent, backend_factory=counting)
    assert [s.name for s in summaries] == ["random@none", "random@+references", "random@+knowledge"]
    assert all(s.failed == 0 for s in summaries)
    loaded = load_parsed_runs(out)
    assert [r.name for r in loaded] == [s.name for s in summaries]      # listed in the order they were run
    runs = {r.name: r for r in loaded}
    # each arm's recorded settings say what it switched on
    none = runs["random@none"].record["settings"]
    refs = runs["random@+references"].record["settings"]
    assert none["protocol"]["shots"] == 0 and refs["protocol"]["shots"] == 1
    assert runs["random@+knowledge"].record["settings"]["enhancements"]["knowledge"] == str(knowledge)
    # every arm changes every prompt here (0 vs 1 reference image; knowledge text for both categories)
    assert [s.asked for s in summaries] == [s.requests for s in summaries]
    assert len(counting.calls) == len(set(counting.calls)) == sum(s.requests for s in summaries)
    asked = len(counting.calls)
    again = run_ablation(_base(str(knowledge)), dataset, out, arms=["none", "+references", "+knowledge"],
                         data_root=dataset.parent, backend_factory=counting)
    assert len(counting.calls) == asked and all(s.asked == 0 for s in again)


def test_ablate_command_runs_the_chosen_arms(dataset, tmp_path, capsys):
    from mmad_eval.cli import main

    out = tmp_path / "cli"
    assert main(["ablate", "--questions", str(dataset), "--model", "random", "--out", str(out), "--quiet",
                 "--arms", "none", "+references", "--limit", "4"]) == 0
    assert [r.name for r in load_parsed_runs(out)] == ["random@none", "random@+references"]
    assert all(len(r.answers) == 4 for r in load_parsed_runs(out))
    assert "random@+references: 4 questions" in capsys.readouterr().out
    assert main(["ablate", "--questions", str(dataset), "--model", "random", "--out", str(out), "--quiet",
                 "--arms", "+knowledge"]) == 2                       # needs --knowledge: one clear error
    assert "--knowledge" in capsys.readouterr().err
