"""generate records where the images and the knowledge file are; run, ablate, audit and audit --labels find
them the same way from the question file, wherever the folder is moved."""
import json
import shutil

import pytest

from mmad_eval.cli import main
from mmad_eval.parse.stage import load_parsed_run
from mmad_eval.sources.synth import generate_synthetic


@pytest.fixture(scope="module")
def moved(tmp_path_factory):
    """A synthetic set generated in one place, then the whole folder moved elsewhere."""
    tmp = tmp_path_factory.mktemp("found")
    generate_synthetic(tmp / "a" / "data", seed=0, size=96, workers=1, categories=["bottle", "wood"])
    assert main(["generate", str(tmp / "a" / "data"), "--out", str(tmp / "a" / "set.json")]) == 0
    shutil.move(str(tmp / "a"), str(tmp / "b"))
    return tmp / "b"


def test_generate_records_the_knowledge_file_beside_the_data_root(moved):
    entries = json.loads((moved / "set.json").read_text())
    assert {e["knowledge"] for e in entries.values()} == {"data/knowledge.json"}
    assert {e["data_root"] for e in entries.values()} == {"data"}


def test_run_with_knowledge_alone_uses_the_recorded_file(moved, capsys):
    out = moved / "runs"
    assert main(["run", "--questions", str(moved / "set.json"), "--model", "compare", "--out", str(out),
                 "--knowledge", "--limit", "20", "--quiet"]) == 0
    run = load_parsed_run(out, "compare")
    assert run.record["enhancements"]["knowledge"] == "knowledge.json"
    assert any("domain knowledge" in p.get("text", "") for c in run.prompts.values() for m in c for p in m["parts"])


def test_audit_and_label_audit_find_images_and_knowledge_as_run_does(moved, capsys):
    q = moved / "set.json"
    assert main(["audit", str(q)]) == 0
    out = capsys.readouterr().out
    assert "not checked" in out or "defensible" in out
    assert main(["audit", str(q), "--labels", "--checks", "label_mask"]) == 0   # images found: no data-root error
    assert (moved / "set.errata.json").is_file()


def test_knowledge_alone_without_any_recorded_file_is_one_clear_line(tmp_path, capsys):
    (tmp_path / "q.json").write_text(json.dumps({}))
    assert main(["run", "--questions", str(tmp_path / "q.json"), "--model", "random", "--out",
                 str(tmp_path / "r"), "--knowledge"]) == 2
    err = capsys.readouterr().err
    assert "records no knowledge file" in err and "Traceback" not in err
