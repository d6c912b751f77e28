"""MMAD's answers file and accuracy CSV round trip exactly (fidelity to the official scripts; issue 25)."""
import csv
import json

import pytest

from mmad_eval.answers import AnswerRecord
from mmad_eval.errors import DataError
from mmad_eval.score.mmad_answers import load_mmad_answers, to_mmad_answers, write_accuracy_csv, write_mmad_answers
from mmad_eval.score.table import ScoreTable

OPTS = {"A": "Yes", "B": "No"}


def rec(i, reply, ref, parsed, error=None, index=0, rotation=0, meta=None):
    return AnswerRecord(image=f"D/c/bad/{i}.png", index=index, type="Anomaly Detection", options=dict(OPTS),
                        answer="A", reply=reply, parsed=parsed, reference_parsed=ref, error=error,
                        question="Is there a defect?", rotation=rotation, meta=dict(meta or {}))


def test_answers_file_entries_as_the_scripts_write_them():
    recs = [rec(1, "A crack: B", "B", None, index=1), rec(2, "no idea", None, None), rec(3, None, None, None, error="timeout: x"),
            rec(4, "A", "A", "A", rotation=1), rec(5, None, None, None, error="missing: not asked")]
    ref = to_mmad_answers(recs)
    assert [e["gpt_answer"] for e in ref] == ["B", "no idea", ""]
    assert ref[0]["question"]["text"] == "Question 2: Is there a defect? \nA. Yes\nB. No\n"
    assert ref[0]["question_type"] == "Anomaly Detection" and ref[0]["correct_answer"] == "A"
    assert [e["gpt_answer"] for e in to_mmad_answers(recs, letters="strict")] == ["A crack: B", "no idea", ""]
    with pytest.raises(ValueError):
        to_mmad_answers(recs, letters="best")


def test_an_answers_file_reads_back_with_both_parsers(tmp_path):
    path = tmp_path / "answers.json"
    assert write_mmad_answers([rec(1, "B", "B", "B", index=2), rec(2, "x", None, None)], path) == 2
    data = json.loads(path.read_text())
    data.append({"image": "D/c/bad/1.png", "question": "plain", "question_type": "Object Details",
                 "correct_answer": "C", "gpt_answer": None})
    data.append({"image": "D/c/bad/1.png", "question_type": "Object Details", "correct_answer": "C", "gpt_answer": "C"})
    path.write_text(json.dumps(data))
    back = load_mmad_answers(path)
    assert [(r.image, r.index, r.reply, r.reference_parsed, r.parsed) for r in back] == [
        ("D/c/bad/1.png", 2, "B", "B", "B"), ("D/c/bad/2.png", 0, "x", None, None),
        ("D/c/bad/1.png", 1, "", None, None), ("D/c/bad/1.png", 2, "C", "C", "C")]
    assert back[0].question == "Is there a defect?" and back[0].options == OPTS


@pytest.mark.parametrize("content, why", [
    ({"a": 1}, "expected a JSON list"), ([{"image": "k"}], "entry needs"),
    ([{"image": "k", "question_type": "Guess", "correct_answer": "A"}], "unknown question_type 'Guess'"),
])
def test_a_bad_answers_file_is_one_line(tmp_path, content, why):
    path = tmp_path / "a.json"
    path.write_text(json.dumps(content))
    with pytest.raises(DataError, match=why):
        load_mmad_answers(path)


def test_accuracy_csv_layout(tmp_path):
    table = ScoreTable("mmad", rows={"D1": {"Anomaly Detection": 50.0, "Defect Classification": None, "Average": 50.0},
                                     "D2": {"Anomaly Detection": 75.0, "Defect Classification": 25.0, "Average": 50.0}},
                       overall={"Anomaly Detection": 62.5, "Defect Classification": 25.0, "Average": 50.0})
    path = tmp_path / "acc.csv"
    write_accuracy_csv(table, path, {"D1": {"overkill": 10.0, "miss": None}})
    rows = list(csv.reader(path.open()))
    assert rows == [["", "Anomaly Detection", "Defect Classification", "Average", "Overkill", "Miss"],
                    ["D1", "50.0", "", "50.0", "10.0", ""], ["D2", "75.0", "25.0", "50.0", "", ""],
                    ["Average", "62.5", "25.0", "50.0", "", ""]]
    write_accuracy_csv(table, path)
    assert next(csv.reader(path.open())) == ["", "Anomaly Detection", "Defect Classification", "Average"]
