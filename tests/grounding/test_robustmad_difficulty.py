"""RobustMAD's ``difficulty`` (one per image record) as a score breakdown: per level, the strict score and the
MMAD-compatible one (summary.py's counting), with n, in `mmad-eval score` (printed and JSON) and in the report;
absent for question files without difficulties."""
from __future__ import annotations

import json

import pytest

from mmad_eval.answers import AnswerRecord
from mmad_eval.cli import main
from mmad_eval.questions.mmad_io import load_mmad_json
from mmad_eval.score.difficulty import score_by_difficulty
from grounding_helpers import generate as _generate
from robustmad_files import CATEGORIES, robustmad_file

LEVELS = ("easy", "medium", "hard")


def _with_levels(path, level_of):
    data = json.loads(path.read_text())
    for i, rec in enumerate(data["images"]):
        rec["difficulty"] = level_of(i)
    path.write_text(json.dumps(data))
    return data["images"]


def test_score_and_report_break_down_by_difficulty(synth, tmp_path, capsys):
    path = robustmad_file(synth / "data", synth / "data" / "RobustMAD_levels.json")
    raw = _with_levels(path, lambda i: LEVELS[i % 3])
    out = tmp_path / "runs"
    for model in ("blind", "random"):
        assert main(["run", "--questions", str(path), "--model", model, "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["score", str(out), "--bootstrap", "50", "--json", str(tmp_path / "s.json")]) == 0
    printed = capsys.readouterr().out
    assert "By difficulty" in printed and all(level in printed for level in LEVELS)
    rows = json.loads((tmp_path / "s.json").read_text())["blind"]["by_difficulty"]
    assert list(rows) == sorted(LEVELS) + ["All"]
    for level in LEVELS:      # hand count: blind always picks C (the longest option)
        answers = [q["answer"] for r in raw if r["difficulty"] == level for q in r["questions"]]
        row = rows[level]
        assert row["n"] == len(answers) == 4 * sum(r["difficulty"] == level for r in raw)
        assert row["strict"] == pytest.approx(100 * answers.count("C") / len(answers))
        assert row["mmad_compatible"] == pytest.approx(row["strict"]) and row["n_mmad"] == row["n"]
        lo, hi = row["ci"]
        assert lo <= row["strict"] <= hi
    assert rows["All"]["n"] == 4 * len(raw) == sum(rows[lv]["n"] for lv in LEVELS)
    html = tmp_path / "r.html"
    assert main(["report", str(out), "--out", str(html)]) == 0
    text = html.read_text()
    assert 'id="difficulty"' in text and all(f"<td class=\"l\">{lv}</td>" in text for lv in LEVELS)
    assert "images per level" in text              # the record shows counts, not every image


def test_no_breakdown_without_difficulties(synth, tmp_path, capsys):
    letters = _generate(synth, "letters_for_difficulty.json")
    assert all("difficulty" not in e.extra for e in load_mmad_json(letters).entries.values())
    path = robustmad_file(synth / "data", tmp_path / "plain.json", n_images=4)
    data = json.loads(path.read_text())
    for rec in data["images"]:
        del rec["difficulty"]
    path.write_text(json.dumps(data))
    for q, name in ((letters, "mmad"), (path, "robustmad")):
        out = tmp_path / f"runs_{name}"
        assert main(["run", "--questions", str(q), "--model", "blind", "--out", str(out), "--quiet",
                     "--data-root", str(synth / "data")]) == 0
        capsys.readouterr()
        assert main(["score", str(out), "--bootstrap", "0", "--json", str(tmp_path / f"{name}.json")]) == 0
        assert "By difficulty" not in capsys.readouterr().out
        assert "by_difficulty" not in json.loads((tmp_path / f"{name}.json").read_text())["blind"]
        html = tmp_path / f"{name}.html"
        assert main(["report", str(out), "--out", str(html)]) == 0
        assert 'id="difficulty"' not in html.read_text()


def _rec(image, index, answer, parsed, reference=None):
    return AnswerRecord(image=image, index=index, type=CATEGORIES[0], options=dict.fromkeys("ABCDE", "x"),
                        answer=answer, reply=parsed or "no idea", parsed=parsed,
                        reference_parsed=parsed if reference is None else reference)


def test_strict_and_mmad_compatible_differ_as_summary_py_counts():
    """Hand case: image a (easy): right, unparsed, right (skipped by summary.py's loop after the drop), wrong;
    image b (hard): right, right. Strict counts every question; MMAD-compatible drops the unparsed reply and
    the answer after it."""
    recs = [_rec("D/c/test/x/a.png", 0, "A", "A"), _rec("D/c/test/x/a.png", 1, "B", None),
            _rec("D/c/test/x/a.png", 2, "C", "C"), _rec("D/c/test/x/a.png", 3, "D", "A"),
            _rec("D/c/test/x/b.png", 0, "A", "A"), _rec("D/c/test/x/b.png", 1, "E", "E")]
    rows = score_by_difficulty(recs, {"D/c/test/x/a.png": "easy", "D/c/test/x/b.png": "hard"}, n_boot=0)
    assert rows["easy"]["n"] == 4 and rows["easy"]["strict"] == pytest.approx(50.0)
    assert rows["easy"]["n_mmad"] == 2 and rows["easy"]["mmad_compatible"] == pytest.approx(50.0)
    assert rows["hard"] == {**rows["hard"], "n": 2, "strict": 100.0, "n_mmad": 2, "mmad_compatible": 100.0}
    assert rows["All"]["n"] == 6 and rows["All"]["strict"] == pytest.approx(400 / 6)
    assert rows["All"]["n_mmad"] == 4 and rows["All"]["mmad_compatible"] == pytest.approx(75.0)
    # images without a level are left out; nothing with a level: no breakdown
    assert score_by_difficulty(recs, {"D/c/test/x/b.png": "hard"}, n_boot=0)["All"]["n"] == 2
    assert score_by_difficulty(recs, {}, n_boot=0) is None


def test_shards_of_one_run_keep_every_level(synth, tmp_path, capsys):
    """Two processes answer halves of one run (--shard): each records its own images' levels; the run's record
    joins them, so the breakdown counts every question; `merge` of two stores joins them too."""
    path = robustmad_file(synth / "data", tmp_path / "levels.json", n_images=6)
    _with_levels(path, lambda i: LEVELS[i % 3])
    same, apart = tmp_path / "same", tmp_path / "apart"
    for i in (0, 1):
        for out in (same, apart / str(i)):
            assert main(["run", "--questions", str(path), "--model", "blind", "--out", str(out), "--quiet",
                         "--data-root", str(synth / "data"), "--shard", f"{i}/2"]) == 0
    assert main(["merge", str(apart / "0"), str(apart / "1"), "--out", str(apart / "all")]) == 0
    for out in (same, apart / "all"):
        capsys.readouterr()
        assert main(["score", str(out), "--bootstrap", "0", "--json", str(tmp_path / "s.json")]) == 0
        rows = json.loads((tmp_path / "s.json").read_text())["blind"]["by_difficulty"]
        assert rows["All"]["n"] == 24 and all(rows[lv]["n"] == 8 for lv in LEVELS)


@pytest.mark.parametrize("levels", [("easy", "medium", "difficult"), ("1", "10", "a very long level name")])
def test_the_printed_table_keeps_its_columns_aligned_for_any_level_names(levels):
    from mmad_eval.score.difficulty import format_by_difficulty

    rows = {level: {"n": 10 * (i + 1), "strict": 50.0 + i, "ci": [40.0, 60.0], "n_mmad": 9, "mmad_compatible": 55.5}
            for i, level in enumerate((*levels, "All"))}
    lines = format_by_difficulty(rows).splitlines()[1:]
    assert len({len(line) for line in lines}) == 1                 # header and every row end in the same column
    assert all(line.startswith(level) for line, level in zip(lines[1:], rows))
