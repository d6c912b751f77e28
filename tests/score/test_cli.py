"""`mmad-eval score` and `mmad-eval compare` on real stored runs (random baseline, tiny data) and answer files."""
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mmad_eval.cli import main


def _dataset(root: Path) -> Path:
    data = {}
    for i, (ds, kind) in enumerate([("DS-MVTec", "good"), ("DS-MVTec", "crack"), ("VisA", "good"),
                                    ("VisA", "bad"), ("MVTec-AD", "good")]):
        key = f"{ds}/cat/test/{kind}/{i:03d}.png"
        tmpl = f"{ds}/cat/train/good/{i:03d}.png"
        for j, p in enumerate((key, tmpl)):
            (root / p).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.random.default_rng(10 * i + j).integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(root / p)
        conv = [{"Question": "Is there any defect?", "Answer": "B" if kind == "good" else "A",
                 "Options": {"A": "Yes.", "B": "No."}, "type": "Anomaly Detection"},
                {"Question": "Which?", "Answer": "C", "Options": {"A": "w", "B": "x", "C": "y", "D": "z"},
                 "type": "Object Classification" if kind == "good" else "Defect Classification"}]
        data[key] = {"conversation": conv, "similar_templates": [tmpl], "random_templates": [tmpl], "mask_path": ""}
    path = root / "mmad.json"
    path.write_text(json.dumps(data))
    return path


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    q = _dataset(root / "data")
    out = root / "out"
    for name in ("r1", "r2"):
        assert main(["run", "--questions", str(q), "--model", "random", "--out", str(out), "--name", name,
                     "--quiet"]) == 0
    return out


def test_score_prints_both_tables_and_writes_files(out_dir, tmp_path, capsys):
    js, csv_p, ans = tmp_path / "s.json", tmp_path / "acc.csv", tmp_path / "answers.json"
    assert main(["score", str(out_dir), "--run", "r1", "--json", str(js), "--csv", str(csv_p),
                 "--export-mmad", str(ans), "--bootstrap", "50", "--by", "category"]) == 0
    text = capsys.readouterr().out
    assert "MMAD-compatible (what MMAD's summary.py prints)" in text and "Strict (fixed denominator)" in text
    assert "MVTec-AD" in text and "differs from our fixed variant" in text     # the fifth-row quirk, noted
    assert "MMAD fixed (ours)" in text
    data = json.loads(js.read_text())["r1"]
    assert set(data) >= {"mmad", "mmad_fixed", "strict", "overkill_miss", "by_category"}
    assert "MVTec-AD" not in data["mmad_fixed"]["rows"]
    assert csv_p.read_text().splitlines()[-1].startswith("Average,")
    exported = json.loads(ans.read_text())
    assert {e["question"]["text"].split(" \n")[0] for e in exported} == {
        "Question 1: Is there any defect?", "Question 2: Which?"}          # question text survives the store
    # the exported answers re-score to the same compatible numbers
    assert main(["score", "--answers", str(ans), "--bootstrap", "0", "--json", str(tmp_path / "t.json")]) == 0
    again = json.loads((tmp_path / "t.json").read_text())["answers"]
    assert again["mmad"]["overall"] == data["mmad"]["overall"]


def test_score_all_runs_and_unknown_run(out_dir, capsys):
    assert main(["score", str(out_dir), "--bootstrap", "0"]) == 0
    text = capsys.readouterr().out
    assert "== r1" in text and "== r2" in text
    assert main(["score", str(out_dir), "--run", "nope"]) == 2
    assert "no such run" in capsys.readouterr().err


def test_compare_prints_paired_rows(out_dir, tmp_path, capsys):
    js = tmp_path / "c.json"
    assert main(["compare", str(out_dir), "--a", "r1", "--b", "r2", "--bootstrap", "50", "--json", str(js)]) == 0
    text = capsys.readouterr().out
    assert "McNemar" in text and "Average" in text
    assert json.loads(js.read_text())["shared"] == 10


def test_compare_refuses_runs_from_different_question_sets(tmp_path, capsys):
    """A question set with other options and answers for some questions (as a re-generated set has):
    compare refuses; --force pairs only the identical questions and says how many."""
    q = _dataset(tmp_path / "data")
    other = json.loads(q.read_text())
    key = next(iter(other))
    other[key]["conversation"][1]["Options"] = {"A": "v", "B": "w", "C": "x", "D": "y"}   # same id, other question
    other[key]["conversation"][1]["Answer"] = "A"
    q2 = tmp_path / "data" / "mmad_seed7.json"
    q2.write_text(json.dumps(other))
    out = tmp_path / "out"
    for name, path in (("a", q), ("b", q2)):
        assert main(["run", "--questions", str(path), "--model", "random", "--out", str(out), "--name", name,
                     "--quiet"]) == 0
    capsys.readouterr()
    assert main(["compare", str(out), "--a", "a", "--b", "b", "--bootstrap", "20"]) == 2
    err = capsys.readouterr().err
    assert "different question sets" in err and "question files differ" in err and f"{key}#1" in err
    js = tmp_path / "c.json"
    assert main(["compare", str(out), "--a", "a", "--b", "b", "--bootstrap", "20", "--force", "--json", str(js)]) == 0
    assert "pairs only the 9 questions identical in both" in capsys.readouterr().out
    data = json.loads(js.read_text())
    assert data["shared"] == 9 and data["differing"] == 1
    # a shuffled option order is the same question: it is paired
    assert main(["run", "--questions", str(q), "--model", "random", "--out", str(out), "--name", "shuffled",
                 "--option-order", "shuffle", "--quiet"]) == 0
    assert main(["compare", str(out), "--a", "a", "--b", "shuffled", "--bootstrap", "20", "--json", str(js)]) == 0
    assert json.loads(js.read_text())["shared"] == 10


def test_compare_header_describes_each_run_and_names_no_winner_in_a_tie(out_dir, capsys):
    assert main(["compare", str(out_dir), "--a", "r1", "--b", "r2", "--bootstrap", "50"]) == 0
    text = capsys.readouterr().out
    assert "  A = r1: random: Seeded random choice" in text and "  B = r2: random: Seeded random choice" in text
    assert "protocol mmad-eval · answers generated · 1 reference image · all 10 questions of mmad.json (sha256 " in text
    assert "verdict: r2 is not separated from r1 on the strict Average (+0.00 points" in text


def test_score_ranks_by_the_strict_score_with_summary_py_beside_it(out_dir, capsys):
    assert main(["score", str(out_dir), "--bootstrap", "30"]) == 0
    text = capsys.readouterr().out
    assert text.index("Strict (fixed denominator)") < text.index("MMAD-compatible (what MMAD's summary.py prints)")
    block = text[text.index("== ranking by the strict score"):]
    assert "  1 r1 " in block and "  2 r2 " in block and "not separated" in block
    assert "MMAD-compatible (summary.py)" in block
    assert "No run is separated: r1 has the highest strict score" in block


def test_report_prints_its_headline(out_dir, tmp_path, capsys):
    assert main(["report", str(out_dir), "--out", str(tmp_path / "r.html"), "--no-images"]) == 0
    out = capsys.readouterr().out
    assert "No run is separated: r1 has the highest strict score" in out and "not separated from r2" in out
    assert 'id="headline">No run is separated: r1' in (tmp_path / "r.html").read_text()
