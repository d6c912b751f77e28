"""Paper subsets (--subset / --subset-file) and the question file's identity are recorded with the run and
shown in the report; sets in MMAD's format from other benchmarks (IAD-R1's yes/no sets: 0-shot, empty template
lists) run and score unchanged. Whole runs against the real local OpenAI-compatible server."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from mmad_eval.cli import main
from mmad_eval.questions import identity
from mmad_eval.testing.openai_server import FakeOpenAIServer

YES_NO = {"A": "Yes.", "B": "No."}


def _ad(answer: str) -> dict:
    return {"Question": "Is there any defect in the object?", "Answer": answer, "Options": dict(YES_NO),
            "type": "Anomaly Detection"}


def _dc() -> dict:
    return {"Question": "There is a defect in the object. What is the type of the defect?", "Answer": "C",
            "Options": {"A": "Crack.", "B": "Hole.", "C": "Stain.", "D": "Cut."}, "type": "Defect Classification"}


def _write(root: Path, keys: dict[str, list[dict]], templates: bool = True) -> Path:
    mmad = {}
    for index, (key, conv) in enumerate(keys.items()):
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        # distinct pixels per image: equal bytes and an equal question are one request by design
        Image.new("RGB", (40, 30), (10 + 20 * index, 40, 90)).save(path)
        template = str(Path(key).parent.parent / "good" / "t.png") if templates else None
        if template:
            (root / template).parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (40, 30), (9, 9, 9)).save(root / template)
        mmad[key] = {"conversation": conv, "random_templates": [template] if template else [],
                     "similar_templates": [template] if template else [], "mask_path": ""}
    (root / "mmad.json").write_text(json.dumps(mmad, indent=1))
    return root / "mmad.json"


KEYS = {"DS-MVTec/bottle/image/crack/000.png": [_ad("A"), _dc()],
        "VisA/candle/test/bad/001.png": [_ad("A"), _dc()],
        "MVTec-LOCO/juice_bottle/test/logical_anomalies/002.png": [_ad("A")],
        "MVTec-LOCO/breakfast_box/test/good/003.png": [_ad("B")]}


def _run(questions: Path, out: Path, *flags: str, reply=lambda body: "A") -> tuple[int, list]:
    with FakeOpenAIServer(responder=reply) as srv:
        rc = main(["run", "--questions", str(questions), "--model", "openai:m", "--out", str(out),
                   "--base-url", srv.base_url, "--quiet", *flags])
        return rc, srv.requests


def _answered(tmp_path: Path) -> list[str]:
    assert main(["score", str(tmp_path / "out"), "--bootstrap", "0", "--export-mmad", str(tmp_path / "a.json")]) == 0
    return sorted(a["image"] for a in json.loads((tmp_path / "a.json").read_text()))


def _record(out: Path) -> dict:
    from mmad_eval.run.store import Store

    store = Store(out, read_only=True)
    (name,) = store.run_names()
    return store.run_record(name)


def test_triad_leaves_out_visa_and_juice_bottle_and_the_report_says_so(tmp_path, capsys):
    questions = _write(tmp_path / "data", KEYS)
    rc, bodies = _run(questions, tmp_path / "out", "--subset", "triad")
    assert rc == 0 and "questions: subset triad" in capsys.readouterr().out
    assert len(bodies) == 3                      # DS-MVTec (2 questions) + breakfast_box (1)
    assert _answered(tmp_path) == ["DS-MVTec/bottle/image/crack/000.png"] * 2 + [
        "MVTec-LOCO/breakfast_box/test/good/003.png"]
    record = _record(tmp_path / "out")
    assert record["slice"]["subset"]["name"] == "triad"
    assert record["slice"]["subset"]["excluded"] == ["VisA", "MVTec-LOCO/juice_bottle"]
    assert record["questions"]["selected"] == 3
    assert main(["report", str(tmp_path / "out"), "--out", str(tmp_path / "r.html"), "--no-images"]) == 0
    assert "subset triad" in (tmp_path / "r.html").read_text()


def test_a_subset_file_keeps_what_it_lists_and_is_recorded_by_hash(tmp_path):
    questions = _write(tmp_path / "data", KEYS)
    listed = tmp_path / "stratified.txt"
    listed.write_text("VisA/candle/test/bad/001.png#1\nMVTec-LOCO/breakfast_box/test/good/003.png\n")
    rc, bodies = _run(questions, tmp_path / "out", "--subset-file", str(listed))
    assert rc == 0 and len(bodies) == 2
    assert _answered(tmp_path) == ["MVTec-LOCO/breakfast_box/test/good/003.png", "VisA/candle/test/bad/001.png"]
    subset = _record(tmp_path / "out")["slice"]["subset"]
    assert subset["name"] == "stratified" and subset["entries"] == 2 and len(subset["sha256"]) == 64


def test_a_subset_file_entry_missing_from_the_questions_is_one_clear_line(tmp_path, capsys):
    questions = _write(tmp_path / "data", KEYS)
    listed = tmp_path / "s.json"
    listed.write_text(json.dumps({"name": "paper", "questions": ["DS-MVTec/bottle/image/crack/000.png#7"]}))
    rc, bodies = _run(questions, tmp_path / "out", "--subset-file", str(listed))
    err = capsys.readouterr().err
    assert rc != 0 and not bodies and "Traceback" not in err
    assert "s.json" in err and "1 of its 1 entries are not in the question file" in err


@pytest.mark.parametrize("content", [b"{}", b'{"a": 1}\n'])
def test_git_blob_id_is_gits(tmp_path, content):
    path = tmp_path / "f.json"
    path.write_bytes(content)
    git = subprocess.run(["git", "hash-object", str(path)], capture_output=True, text=True, check=True).stdout.strip()
    assert identity.git_blob_sha1(content) == git


def test_known_question_files_are_recognised_and_nothing_else():
    github = "a8c97a396fd738efa5e2a8ba9e07580c00c886b3"      # git ls-tree jam-cc/MMAD bad03b4 dataset/MMAD/mmad.json
    assert "GitHub" in identity.known_question_set(None, github)
    assert identity.known_question_set(github) == identity.known_question_set(None, github)
    assert identity.known_question_set("0" * 64) is None and identity.known_question_set(None) is None


def test_the_run_record_and_report_name_a_known_question_file(tmp_path, monkeypatch):
    questions = _write(tmp_path / "data", KEYS)
    blob = identity.git_blob_sha1(questions.read_bytes())
    monkeypatch.setattr(identity, "KNOWN_FILES", identity.KNOWN_FILES + (
        identity.KnownQuestionFile("MMAD test revision", None, blob, "this test"),))
    assert _run(questions, tmp_path / "out", "--limit", "2")[0] == 0
    q = _record(tmp_path / "out")["questions"]
    assert q["known_as"] == "MMAD test revision" and q["git_blob"] == blob
    assert main(["report", str(tmp_path / "out"), "--out", str(tmp_path / "r.html"), "--no-images"]) == 0
    assert "MMAD test revision" in (tmp_path / "r.html").read_text()
    monkeypatch.setattr(identity, "KNOWN_FILES", ())
    assert _run(questions, tmp_path / "out2", "--limit", "2")[0] == 0
    assert "known_as" not in _record(tmp_path / "out2")["questions"]


# IAD-R1 (AAAI 2026) ships six yes/no sets in MMAD's exact format: one Anomaly Detection question per image,
# empty template lists, scored 0-shot by a copy of summary.py
IAD_R1 = {"DAGM/Class1/test/bad/0001.png": [_ad("A")], "DAGM/Class1/test/good/0002.png": [_ad("B")],
          "SDD/kos01/test/bad/Part5.png": [_ad("A")], "SDD/kos01/test/good/Part0.png": [_ad("B")],
          "MPDD/bracket_black/test/good/000.png": [_ad("B")]}


def test_an_iad_r1_yes_no_set_runs_and_scores_unchanged(tmp_path):
    questions = _write(tmp_path / "data", IAD_R1, templates=False)
    rc, bodies = _run(questions, tmp_path / "out", "--shots", "0", reply=lambda body: "B")   # always "No."
    assert rc == 0 and len(bodies) == 5
    assert all(sum(p["type"] == "image_url" for p in b["messages"][-1]["content"]) == 1 for b in bodies)
    assert main(["score", str(tmp_path / "out"), "--bootstrap", "0", "--json", str(tmp_path / "s.json"),
                 "--export-mmad", str(tmp_path / "answers.json")]) == 0
    answers = json.loads((tmp_path / "answers.json").read_text())
    assert sorted(a["image"] for a in answers) == sorted(IAD_R1) and {a["gpt_answer"] for a in answers} == {"B"}
    scores = json.loads((tmp_path / "s.json").read_text())
    text = json.dumps(scores)
    for dataset in ("DAGM", "SDD", "MPDD"):
        assert dataset in text
