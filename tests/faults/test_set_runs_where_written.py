"""A generated question set runs where it was written: synth folder -> generate -> run, no --data-root, when
the question file sits above its images; images outside the file's folder need --data-root (a question file
cannot name the folder its images are read from on its own: see test_hostile_inputs.py)."""
from __future__ import annotations

import shutil

from fault_helpers import cli, one_error_line


def test_synth_generate_run_without_data_root_then_moved_together(tmp_path):
    assert cli("synth", tmp_path / "data/synth", "--categories", "bottle", "--train", "3", "--test-good", "1",
               "--per-defect", "1", "--size", "64", "--workers", "1").returncode == 0
    gen = cli("generate", tmp_path / "data/synth", "--out", tmp_path / "data/synth.json")
    assert gen.returncode == 0, gen.stderr
    assert "note:" not in gen.stdout
    run = cli("run", "--questions", tmp_path / "data/synth.json", "--model", "random", "--out",
              tmp_path / "out", "--quiet")
    assert run.returncode == 0 and "could not be built" not in run.stdout, run.stdout + run.stderr
    moved = tmp_path / "elsewhere"
    shutil.copytree(tmp_path / "data", moved / "data")
    again = cli("run", "--questions", moved / "data/synth.json", "--model", "random", "--out",
                moved / "out", "--quiet")
    assert again.returncode == 0 and "could not be built" not in again.stdout, again.stdout


def test_images_beside_the_question_folder_need_data_root(tmp_path):
    assert cli("synth", tmp_path / "data/synth", "--categories", "bottle", "--train", "3", "--test-good", "1",
               "--per-defect", "1", "--size", "64", "--workers", "1").returncode == 0
    gen = cli("generate", tmp_path / "data/synth", "--out", tmp_path / "questions/synth.json")
    assert gen.returncode == 0, gen.stderr
    root = (tmp_path / "data/synth").resolve()
    assert f"run it with --data-root {root}" in gen.stdout
    line = one_error_line(cli("run", "--questions", tmp_path / "questions/synth.json", "--model", "random",
                              "--out", tmp_path / "out", "--quiet"))
    assert "questions/synth.json" in line and f"--data-root {root}" in line and "outside" in line
    run = cli("run", "--questions", tmp_path / "questions/synth.json", "--model", "random", "--out",
              tmp_path / "out", "--quiet", "--data-root", root)
    assert run.returncode == 0 and "could not be built" not in run.stdout, run.stdout + run.stderr
