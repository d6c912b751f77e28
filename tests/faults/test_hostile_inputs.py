"""Hostile input files (issue 24, items 9, 10, 12-14): each gives one line naming the file and the entry, or is
handled, never a traceback or "a bug in mmad-eval"."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fault_helpers import cli, dataset, one_error_line  # noqa: F401 (fixtures)


def _no_bug(proc) -> None:
    assert "a bug in mmad-eval" not in proc.stderr + proc.stdout, proc.stderr


# ---- item 14: a question file cannot choose where its images are read from; lone surrogates -------------

@pytest.mark.parametrize("recorded", ["/", "../../../../../../../../.."])
def test_recorded_data_root_outside_the_question_folder_is_refused(dataset, tmp_path, recorded):
    data = json.loads(dataset.read_text())
    secret_dir = dataset.parent.resolve()                 # images somewhere else on the machine
    hostile = {str(secret_dir / k).lstrip("/"): {**v, "data_root": recorded, "image_path": None,
                                                  "similar_templates": [], "random_templates": []}
               for k, v in list(data.items())[:2]}
    (tmp_path / "q").mkdir()
    qfile = tmp_path / "q" / "mmad.json"
    qfile.write_text(json.dumps(hostile))
    proc = cli("run", "--questions", qfile, "--model", "random", "--out", tmp_path / "out", "--quiet")
    line = one_error_line(proc)
    assert str(qfile) in line and "outside the question file's folder" in line and "--data-root" in line
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").rglob("*.sqlite"))
    assert "outside" in one_error_line(cli("audit", qfile, "--sheet", "2", "--out", tmp_path / "s.html"))
    # the user says so: then it is their choice
    ok = cli("run", "--questions", qfile, "--model", "random", "--out", tmp_path / "out", "--quiet",
             "--data-root", "/")
    assert ok.returncode == 0 and "could not be built" not in ok.stdout, ok.stdout + ok.stderr


def test_recorded_data_root_inside_the_question_folder_is_kept(dataset, tmp_path):
    shutil.copytree(dataset.parent, tmp_path / "set" / "images")
    data = json.loads((tmp_path / "set" / "images" / "mmad.json").read_text())
    qfile = tmp_path / "set" / "q.json"
    qfile.write_text(json.dumps({k: {**v, "data_root": "images"} for k, v in data.items()}))
    ok = cli("run", "--questions", qfile, "--model", "random", "--out", tmp_path / "out", "--quiet")
    assert ok.returncode == 0 and "could not be built" not in ok.stdout, ok.stdout + ok.stderr


def _surrogate_files(tmp_path: Path) -> list[tuple[Path, str]]:
    q = {"Question": "Is there any defect?", "Answer": "A", "Options": {"A": "Yes.", "B": "No."},
         "type": "Anomaly Detection"}
    mmad = tmp_path / "sur.json"
    mmad.write_text(json.dumps({"D/c/test/good/0.png": {"conversation": [{**q, "Question": "Is there @ defect?"}],
                                                         "similar_templates": [], "random_templates": []}})
                    .replace("@", "\\ud800"))
    rec = {"qid": "D/c/test/good/0.png#0", "image": "D/c/test/good/0.png", "type": "Anomaly Detection",
           "question": "Is there any defect?", "options": {"A": "Yes.", "B": "@"}, "answer": "A"}
    jsonl = tmp_path / "sur.jsonl"
    ok = json.dumps({**rec, "question": "\U0001F600 paired surrogates are one character"})
    jsonl.write_text(ok + "\n" + json.dumps({**rec, "qid": "x#1"}).replace("@", "\\uDFFF") + "\n")
    return [(mmad, "['D/c/test/good/0.png']['conversation'][0]['Question']"), (Path(f"{jsonl}:2"), "['options']['B']")]


def test_lone_surrogate_in_question_text_names_file_and_entry(tmp_path):
    from PIL import Image

    (tmp_path / "D/c/test/good").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(tmp_path / "D/c/test/good/0.png")
    for culprit, where in _surrogate_files(tmp_path):
        path = str(culprit).split(".jsonl")[0] + ".jsonl" if ".jsonl" in str(culprit) else str(culprit)
        for args in (["run", "--questions", path, "--model", "random", "--out", tmp_path / "out", "--quiet"],
                     ["audit", path]):
            proc = cli(*args)
            _no_bug(proc)
            line = one_error_line(proc)
            assert str(culprit) in line and where in line and "lone surrogate" in line, line
