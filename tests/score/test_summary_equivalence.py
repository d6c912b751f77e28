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
        table = mmad_score(load_mmad_answers(path), "exact", exact_skip_after_drop=True)
        assert_table_equals_summary(table, answers)
