"""Bad input files and path arguments: one line naming the culprit, never a traceback, never silent."""
from __future__ import annotations

import json

import pytest
from fault_helpers import cli, one_error_line, run_args, dataset  # noqa: F401 (fixtures)


def _q(text="Is there any defect?", options=None, answer="A"):
    return {"Question": text, "Answer": answer, "Options": options or {"A": "Yes.", "B": "No."},
            "type": "Anomaly Detection"}


def _set(tmp_path, conv, name="q.json") -> str:
    p = tmp_path / name
    p.write_text(json.dumps({"D/c/test/good/0.png": {"conversation": conv, "similar_templates": [],
                                                      "random_templates": [], "mask_path": ""}}))
    return p


@pytest.mark.parametrize("case, expect", [
    ("null_question", "'Question' must be non-empty text, got None"),
    ("number_question", "'Question' must be non-empty text, got 3"),
    ("many_options", "options must be keyed by letters A-E"),
    ("duplicate_keys", "duplicate key 'Answer'"),
    ("deep", "nested too deeply"),
    ("folder", "is a folder"),
    ("device", "not a regular file"),
])
def test_bad_question_files(tmp_path, case, expect):
    if case == "null_question":
        path = _set(tmp_path, [_q(text=None)])
    elif case == "number_question":
        path = _set(tmp_path, [_q(text=3)])
    elif case == "many_options":
        path = _set(tmp_path, [_q(options={f"O{i}": "x" * 10 for i in range(100_000)})])
    elif case == "duplicate_keys":
        path = tmp_path / "q.json"
        path.write_text('{"D/c/test/good/0.png": {"conversation": [{"Question": "q", "Answer": "A", '
                        '"Answer": "B", "Options": {"A": "Yes.", "B": "No."}, "type": "Anomaly Detection"}]}}')
    elif case == "deep":
        path = tmp_path / "q.json"
        path.write_text("[" * 100_000 + "]" * 100_000)
    elif case == "folder":
        path = tmp_path
    else:
        path = "/dev/zero"
    line = one_error_line(cli(*run_args(path, tmp_path / "out", "http://127.0.0.1:9"), timeout=60))
    assert expect in line and str(path) in line and len(line) < 2500


def test_jsonl_duplicate_qid_with_other_content_is_an_error(tmp_path):
    rec = {"qid": "D/c/test/good/0.png#0", "image": "D/c/test/good/0.png", "type": "Anomaly Detection",
           "question": "Is there any defect?", "options": {"A": "Yes.", "B": "No."}, "answer": "A"}
    p = tmp_path / "q.jsonl"
    p.write_text(json.dumps(rec) + "\n" + json.dumps({**rec, "answer": "B"}) + "\n")
    line = one_error_line(cli("audit", p))
    assert "q.jsonl:2" in line and "already used at" in line and "q.jsonl:1" in line


@pytest.mark.parametrize("args, expect", [
    (["audit", "/dev/zero"], "not a regular file"),
    (["score", "--answers", "/dev/zero"], "not a regular file"),
    (["score", "--answers", "{tmp}"], "is a folder"),
    (["run", "--questions", "{q}", "--model", "random", "--out", "{tmp}/o", "--knowledge", "/dev/zero"],
     "not a regular file"),
    (["run", "--questions", "{q}", "--model", "random", "--out", "{tmp}/o", "--data-root", "{q}"],
     "not a folder"),
    (["generate", "/dev/zero", "--out", "{tmp}/x.json"], "not found"),
    (["report", "{tmp}", "--out", "{tmp}/r.html"], "no mmad-eval.sqlite"),
    (["retrieve", "{q}", "--data-root", "/dev/null", "--out", "{tmp}/z.json"], "not a folder"),
])
def test_path_arguments_of_the_wrong_kind(dataset, tmp_path, args, expect):
    args = [a.format(tmp=tmp_path, q=dataset) for a in args]
    line = one_error_line(cli(*args, timeout=60))
    assert expect in line
