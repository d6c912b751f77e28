"""MMAD's mmad.json reads and writes exactly; bad files give one error naming the file and the entry."""
import json

import pytest

from mmad_eval.errors import DataError
from mmad_eval.questions.mmad_io import load_mmad_json, write_mmad_json

KEY = "DS-MVTec/bottle/image/broken_large/000.png"


def _entry(**question):
    q = {"Question": "Is there any defect in the object?", "Answer": "A",
         "Options": {"A": "Yes.", "B": "No."}, "type": "Anomaly Detection", **question}
    return {KEY: {"image_path": "image/broken_large/000.png", "conversation": [q, {
        "Question": "There is a defect in the object. What is the type of the defect?", "Answer": "C",
        "Options": {"A": "Scratch", "B": "Crack", "C": "Broken large", "D": "Contamination"},
        "type": "Defect Classification", "annotation": True}],
        "similar_templates": ["MVTec-AD/bottle/train/good/001.png"],
        "random_templates": ["MVTec-AD/bottle/train/good/007.png"], "mask_path": "rbg_mask/broken_large/000_rbg_mask.png"}}


def test_round_trip_is_byte_identical_and_keeps_unknown_fields(tmp_path):
    src = tmp_path / "mmad.json"
    src.write_text(json.dumps(_entry(), indent=1, ensure_ascii=False) + "\n")
    qs = load_mmad_json(src)
    assert len(qs) == 2 and qs.sha256
    (q0, q1) = qs.entries[KEY].questions
    assert (q0.dataset, q0.category, q1.subtask, q1.extra) == ("DS-MVTec", "bottle", "Defect Classification",
                                                               {"annotation": True})
    out = tmp_path / "again.json"
    write_mmad_json(qs, out)
    assert json.loads(out.read_text()) == json.loads(src.read_text())
    assert out.read_bytes() == src.read_bytes()


@pytest.mark.parametrize("question, problem", [
    ({"Options": {"A": "Yes.", "F": "No."}}, "keyed by letters"),
    ({"Options": {"A": "Yes.", "": "No."}}, "keyed by letters"),
    ({"Options": {"A": "Yes.", "AB": "No."}}, "keyed by letters"),
    ({"Answer": "C"}, "answer 'C' is not one of the options"),
    ({"type": "Anomaly Discrimination"}, "unknown question type"),
])
def test_bad_question_names_file_entry_and_problem(tmp_path, question, problem):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(_entry(**question)))
    with pytest.raises(DataError, match=problem) as e:
        load_mmad_json(path)
    assert str(path) in str(e.value) and KEY in str(e.value) and "conversation[0]" in str(e.value)


def test_malformed_or_missing_file(tmp_path):
    bad = tmp_path / "broken.json"
    bad.write_text('{"a": [1, 2')
    with pytest.raises(DataError, match="malformed JSON") as e:
        load_mmad_json(bad)
    assert str(bad) in str(e.value)
    with pytest.raises(DataError, match="not found"):
        load_mmad_json(tmp_path / "nope.json")
    bad.write_text("[1, 2]")
    with pytest.raises(DataError, match="JSON object"):
        load_mmad_json(bad)


@pytest.mark.parametrize("change, problem", [
    ({"similar_templates": "MVTec-AD/bottle/train/good/001.png"}, "similar_templates must be a list of paths"),
    ({"random_templates": [None]}, "random_templates must be a list of paths"),
    ({"mask_path": ["rbg_mask/broken_large/000_rbg_mask.png"]}, "mask_path must be a path"),
])
def test_bad_entry_field_names_file_and_entry(tmp_path, change, problem):
    data = _entry()
    data[KEY].update(change)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(DataError, match=problem) as e:
        load_mmad_json(path)
    assert str(path) in str(e.value) and KEY in str(e.value)


def test_unhashable_answer_is_a_data_error(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(_entry(Answer=["A"])))
    with pytest.raises(DataError, match="not one of the options") as e:
        load_mmad_json(path)
    assert "conversation[0]" in str(e.value)


JSONL_LINE = {"image": KEY, "type": "Anomaly Detection", "question": "Is there any defect in the object?",
              "options": {"A": "Yes.", "B": "No."}, "answer": "A"}


@pytest.mark.parametrize("change, problem", [
    ({"image": ["a.png"]}, "'image' must be a path"),
    ({"image": 3}, "'image' must be a path"),
    ({"answer": ["A"]}, "not one of the options"),
])
def test_jsonl_bad_fields_name_the_line(tmp_path, change, problem):
    from mmad_eval.questions.jsonl_io import load_jsonl

    path = tmp_path / "q.jsonl"
    path.write_text(json.dumps(JSONL_LINE) + "\n" + json.dumps({**JSONL_LINE, **change}) + "\n")
    with pytest.raises(DataError, match=problem) as e:
        load_jsonl(path)
    assert f"{path}:2" in str(e.value)


def test_jsonl_that_is_not_utf8_is_an_error_not_silently_altered(tmp_path):
    from mmad_eval.questions.jsonl_io import load_jsonl

    path = tmp_path / "q.jsonl"
    path.write_bytes(json.dumps({**JSONL_LINE, "question": "Caf\u00e9?"}, ensure_ascii=False).encode("latin-1"))
    with pytest.raises(DataError, match="UTF-8") as e:
        load_jsonl(path)
    assert str(path) in str(e.value)
