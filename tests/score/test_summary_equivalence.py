"""The MMAD-compatible score equals MMAD's summary.py (re-created in summary_oracle.py) on random answer files
with invalid answers: every cell within 0.01, rows and columns the same."""
from __future__ import annotations

import json
import random

import pytest

from mmad_eval.score.mmad_answers import load_mmad_answers
from summary_oracle import summary_table

DATASETS = ["DS-MVTec", "MVTec-LOCO", "VisA", "GoodsAD", "MVTec-AD"]
TYPES = ["Anomaly Detection", "Defect Classification", "Defect Localization", "Defect Description",
         "Defect Analysis", "Object Classification", "Object Structure", "Object Details"]
INVALID = ["", "F", "The answer is unclear.", "a", "AB", None]


def random_answers(rng: random.Random) -> list[dict]:
    n = rng.choice([0, 1, 2, 5, 20, 60, 120])
    datasets = rng.sample(DATASETS[:4], rng.randint(1, 4)) + (["MVTec-AD"] if rng.random() < 0.2 else [])
    types = rng.sample(TYPES, rng.randint(1, 8))
    p_invalid = rng.choice([0.0, 0.05, 0.2, 0.5, 1.0])
    out = []
    for i in range(n):
        ds = rng.choice(datasets)
        good = rng.random() < 0.4
        key = f"{ds}/cat{rng.randint(0, 2)}/test/{'good' if good else 'crack'}/{rng.randint(0, 9):03d}.png"
        correct = rng.choice("ABCD") if rng.random() > 0.02 else rng.choice(["", "X"])
        gpt = (rng.choice(INVALID) if rng.random() < p_invalid else
               (correct if rng.random() < 0.6 and correct in "ABCD" else rng.choice("ABCDE")))
        entry = {"image": key, "question": {"type": "text", "text": f"Question {i % 5 + 1}: q? \nA. x\nB. y\n",
                                            "options": {"A": "x", "B": "y", "C": "z", "D": "w"}},
                 "question_type": rng.choice(types), "correct_answer": correct, "gpt_answer": gpt}
        out.append(entry)
        if rng.random() < 0.05:
            out.append(dict(entry))          # a duplicated entry (list.remove finds the first equal one)
    return out


def assert_table_equals_summary(table, answers: list[dict]) -> None:
    want = summary_table(answers)
    rows = [r for r in want if r != "Average"]
    assert list(table.rows) == rows
    for ds in rows:
        for col, value in want[ds].items():
            assert table.rows[ds][col] == pytest.approx(value, abs=0.01), (ds, col)
        for col, value in table.rows[ds].items():
            if col not in want[ds]:
                assert value is None, (ds, col)      # a type absent from the whole file is no column
    if rows:
        for col, value in want["Average"].items():
            assert table.overall[col] == pytest.approx(value, abs=0.01), ("Average", col)


@pytest.mark.parametrize("chunk", range(5))
def test_mmad_compatible_equals_summary_script_on_random_files(chunk, tmp_path):
    from mmad_eval.score.mmad import mmad_score

    rng = random.Random(1000 + chunk)
    for i in range(50):                      # 5 x 50 = 250 random answer files
        answers = random_answers(rng)
        path = tmp_path / f"answers_{i}.json"
        path.write_text(json.dumps(answers))
        table = mmad_score(load_mmad_answers(path))
        assert_table_equals_summary(table, answers)


def _question_set(root) -> "Path":
    import numpy as np
    from PIL import Image

    data, rng = {}, random.Random(7)
    for ds in ("DS-MVTec", "VisA", "GoodsAD"):
        for i in range(12):
            kind = "good" if i % 3 == 0 else "crack"
            key, tmpl = f"{ds}/cat/test/{kind}/{i:03d}.png", f"{ds}/cat/train/good/{i:03d}.png"
            for j, p in enumerate((key, tmpl)):
                (root / p).parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(np.full((8, 8, 3), 10 * i + j, np.uint8)).save(root / p)
            conv = [{"Question": "Is there any defect in the object?", "Answer": "B" if kind == "good" else "A",
                     "Options": {"A": "Yes.", "B": "No."}, "type": "Anomaly Detection"}]
            for t in (["Object Classification", "Object Details"] if kind == "good" else
                      ["Defect Classification", "Defect Localization", "Defect Description"]):
                conv.append({"Question": f"{t}?", "Answer": rng.choice("ABCD"), "type": t,
                             "Options": {"A": "one", "B": "two", "C": "three", "D": "four"}})
            data[key] = {"conversation": conv, "random_templates": [tmpl], "similar_templates": [tmpl],
                         "mask_path": ""}
    (root / "mmad.json").write_text(json.dumps(data))
    return root / "mmad.json"


def test_score_and_report_of_a_run_equal_summary_py_on_its_exported_file(tmp_path, capsys):
    """A real run with ~25% replies without a letter: summary.py's numbers for the exported answers file
    are the score table's (JSON) and the report's headline."""
    import hashlib

    from mmad_eval.cli import main
    from mmad_eval.parse.stage import load_parsed_runs
    from mmad_eval.report.data import assemble
    from mmad_eval.testing.openai_server import FakeOpenAIServer, prompt_text

    def responder(body):
        h = int(hashlib.sha256(prompt_text(body).encode()).hexdigest(), 16)
        return "I am not sure." if h % 4 == 0 else "ABCD"[h % 7 % 4]

    q = _question_set(tmp_path / "data")
    out = tmp_path / "out"
    with FakeOpenAIServer(responder=responder) as srv:
        assert main(["run", "--questions", str(q), "--model", "openai:m", "--out", str(out), "--base-url",
                     srv.base_url, "--quiet"]) == 0
    answers, js = tmp_path / "answers.json", tmp_path / "scores.json"
    assert main(["score", str(out), "--bootstrap", "0", "--export-mmad", str(answers), "--json", str(js)]) == 0
    assert "answers right after them were not counted" in capsys.readouterr().out
    exported = json.loads(answers.read_text())
    want = summary_table(exported)
    got = json.loads(js.read_text())["openai:m"]["mmad"]
    for ds in [r for r in want if r != "Average"]:
        for col, value in want[ds].items():
            assert got["rows"][ds][col] == pytest.approx(value, abs=0.01)
    for col, value in want["Average"].items():
        assert got["overall"][col] == pytest.approx(value, abs=0.01)
    headline = assemble(load_parsed_runs(out), images=False).models[0].compatible.overall["Average"]
    assert f"{headline:.2f}" == f"{want['Average']['Average']:.2f}"
    assert main(["report", str(out), "--out", str(tmp_path / "r.html"), "--no-images"]) == 0
    assert f"{want['Average']['Average']:.2f}" in (tmp_path / "r.html").read_text()
