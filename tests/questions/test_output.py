"""Letter balance, determinism, file formats, the generate command, retrieval templates."""
import json
import random
from collections import Counter
from dataclasses import replace

import pytest
from scipy.stats import chisquare

from qgen_fixtures import build_source, knowledge
from mmad_eval.cli import main as cli
from mmad_eval.questions.generate import GenerateSettings, generate_questions
from mmad_eval.questions.generate.options import Draft, assemble
from mmad_eval.questions.jsonl_io import load_jsonl, load_questions, write_jsonl
from mmad_eval.questions.mmad_io import load_mmad_json, to_mmad_dict, write_mmad_json
from mmad_eval.sources.sample import SourceSet


def test_answer_letters_balanced_over_many_questions():
    draft = Draft(type="Defect Classification", text="q", correct="right", distractors=["x", "y", "z"],
                  rule="t", fields=[])
    letters = Counter(assemble(draft, f"DS/c/test/d/{i:04d}.png", 1, seed=3).answer for i in range(4000))
    assert set(letters) == set("ABCD")
    assert chisquare([letters[L] for L in "ABCD"]).pvalue > 0.001
    # and the same key + seed always gives the same letter
    assert assemble(draft, "k", 1, seed=3).answer == assemble(draft, "k", 1, seed=3).answer


def test_same_seed_byte_identical_and_order_independent(tmp_path, small_source):
    s = GenerateSettings(similar="none", seed=7)
    a = write_mmad_json(generate_questions(small_source, knowledge(), s).questions, tmp_path / "a.json")
    b = write_mmad_json(generate_questions(small_source, knowledge(), s).questions, tmp_path / "b.json")
    assert a == b and (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    shuffled = list(small_source.samples)
    random.Random(1).shuffle(shuffled)
    rev = generate_questions(replace(small_source, samples=shuffled), knowledge(), s).questions
    base = generate_questions(small_source, knowledge(), s).questions
    for key, e in base.entries.items():
        assert to_mmad_dict(rev, with_provenance=True)[key] == to_mmad_dict(base, with_provenance=True)[key]
    other = write_mmad_json(generate_questions(small_source, knowledge(), replace(s, seed=8)).questions,
                            tmp_path / "c.json")
    assert other != a


def test_worker_processes_give_the_same_output(small_source, monkeypatch):
    from mmad_eval.questions.generate import build

    s = GenerateSettings(similar="none")
    one = to_mmad_dict(generate_questions(small_source, knowledge(), s).questions, with_provenance=True)
    monkeypatch.setattr(build, "PARALLEL_MIN", 1)
    two = to_mmad_dict(generate_questions(small_source, knowledge(), s, workers=2).questions, with_provenance=True)
    assert one == two


def test_mmad_json_and_jsonl_round_trip(tmp_path, small_source):
    qs = generate_questions(small_source, knowledge(), GenerateSettings(similar="none")).questions
    write_mmad_json(qs, tmp_path / "q.json", with_provenance=True)
    write_jsonl(qs, tmp_path / "q.jsonl")
    back = load_jsonl(tmp_path / "q.jsonl")
    assert to_mmad_dict(back, with_provenance=True) == to_mmad_dict(qs, with_provenance=True)
    write_mmad_json(back, tmp_path / "q2.json", with_provenance=True)
    assert (tmp_path / "q2.json").read_bytes() == (tmp_path / "q.json").read_bytes()
    first = json.loads((tmp_path / "q.jsonl").read_text().splitlines()[0])
    assert {"qid", "dataset", "category", "provenance", "seed", "random_templates", "mask_path"} <= set(first)
    # an MMAD file (no provenance) round-trips through JSONL too
    mm = load_mmad_json(tmp_path / "q.json")
    write_jsonl(mm, tmp_path / "m.jsonl")
    assert to_mmad_dict(load_questions(tmp_path / "m.jsonl")) == to_mmad_dict(mm)


def test_jsonl_errors_name_the_line(tmp_path):
    from mmad_eval.errors import DataError

    p = tmp_path / "bad.jsonl"
    p.write_text('{"image": "a/b/c.png", "type": "Anomaly Detection", "question": "q", '
                 '"options": {"A": "Yes.", "B": "No."}, "answer": "C"}\n')
    with pytest.raises(DataError, match="bad.jsonl:1"):
        load_jsonl(p)


def test_plain_mmad_file_has_exact_fields(tmp_path, small_source):
    qs = generate_questions(small_source, knowledge(), GenerateSettings(similar="none")).questions
    write_mmad_json(qs, tmp_path / "plain.json")
    data = json.loads((tmp_path / "plain.json").read_text())
    for key, rec in data.items():
        assert list(rec) == ["conversation", "similar_templates", "random_templates", "mask_path"]
        for q in rec["conversation"]:
            assert list(q) == ["Question", "Answer", "Options", "type"]
        assert key.split("/")[0] == "DS"


def test_missing_mask_is_a_logged_skip_not_a_crash(tmp_path):
    src = build_source(tmp_path, n_normal=1)
    (tmp_path / next(s.mask for s in src.samples if s.mask and "tl_blob" in s.mask)).unlink()
    res = generate_questions(src, knowledge(), GenerateSettings(similar="none"))
    reasons = [r for k, t, r in res.skipped if "tl_blob" in k]
    assert any("mask file not found" in r for r in reasons)
    entry = next(e for k, e in res.questions.entries.items() if "tl_blob" in k)
    assert {q.type for q in entry.questions} == {"Anomaly Detection", "Defect Classification", "Defect Analysis"}


def test_similar_templates_by_retrieval(small_source):
    res = generate_questions(small_source, knowledge(), GenerateSettings(similar="builtin", similar_templates=2))
    for key, e in res.questions.entries.items():
        cat = key.split("/")[1]
        assert len(e.similar_templates) == 2
        assert set(e.similar_templates) <= set(small_source.normals[cat])


def test_generate_and_audit_commands(tmp_path, capsys):
    # an MVTec-style folder written by hand, loaded by the project's loader
    from qgen_fixtures import disk_mask, gray, write_png

    root = tmp_path / "MVTec-AD"
    for i in range(3):
        write_png(root / "bottle" / "train" / "good" / f"{i:03d}.png", gray(100 + i))
        write_png(root / "bottle" / "test" / "good" / f"{i:03d}.png", gray(101))
        img = gray(101)
        img[disk_mask(10, 10, 5) > 0] = 20
        write_png(root / "bottle" / "test" / "broken" / f"{i:03d}.png", img)
        write_png(root / "bottle" / "ground_truth" / "broken" / f"{i:03d}_mask.png", disk_mask(10, 10, 5))
    kfile = tmp_path / "k.json"
    knowledge().save(kfile)
    out = tmp_path / "q.json"
    assert cli(["generate", str(root), "--out", str(out), "--knowledge", str(kfile), "--similar", "none",
                "--seed", "5"]) == 0
    first = out.read_bytes()
    assert cli(["generate", str(root), "--out", str(out), "--knowledge", str(kfile), "--similar", "none",
                "--seed", "5"]) == 0
    assert out.read_bytes() == first
    data = json.loads(first)
    broken = next(v for k, v in data.items() if "/broken/" in k)
    loc = next(q for q in broken["conversation"] if q["type"] == "Defect Localization")
    assert loc["Options"][loc["Answer"]] == "Top left of the image."
    assert cli(["generate", str(root), "--out", str(tmp_path / "q.jsonl"), "--similar", "none"]) == 0
    assert len(load_jsonl(tmp_path / "q.jsonl")) > 0
    capsys.readouterr()
    assert cli(["audit", str(out), "--json", str(tmp_path / "audit.json")]) == 0
    printed = capsys.readouterr().out
    assert "Anomaly Detection" in printed and "Defect Localization" in printed
    report = json.loads((tmp_path / "audit.json").read_text())
    assert report["questions"] == len(load_mmad_json(out))
    assert cli(["generate", str(tmp_path / "nowhere"), "--out", str(out)]) == 2
