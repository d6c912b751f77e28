"""What the enhancements could not provide is recorded (and kept across a resume), never silent."""
import json

from mmad_eval.cli import main
from mmad_eval.parse.stage import load_parsed_run


def test_short_reference_lists_and_missing_knowledge_are_recorded_and_survive_resume(dataset, tmp_path, capsys):
    data = json.loads(dataset.read_text())
    short = next(k for k in data if "VisA" in k)
    data[short]["similar_templates"] = []
    q = tmp_path / "q.json"
    q.write_text(json.dumps(data))
    knowledge = tmp_path / "k.json"
    knowledge.write_text(json.dumps({"format": "mmad-eval-knowledge/1",
                                     "categories": {"bottle": {"name": "bottle", "normal": "clean"}}}))
    args = ["run", "--questions", str(q), "--data-root", str(dataset.parent), "--model", "random",
            "--out", str(tmp_path / "out"), "--templates", "similar", "--shots", "2", "--knowledge", str(knowledge)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "1 query image has fewer than 2 'similar' reference images" in out
    assert "no domain knowledge for VisA/candle" in out
    enh = load_parsed_run(tmp_path / "out").record["enhancements"]
    assert enh["queries_with_fewer_references"] == 1 and enh["missing_knowledge"] == ["VisA/candle"]
    assert main(args) == 0                                            # resume: nothing rebuilt, nothing lost
    enh = load_parsed_run(tmp_path / "out").record["enhancements"]
    assert enh["queries_with_fewer_references"] == 1 and enh["missing_knowledge"] == ["VisA/candle"]
