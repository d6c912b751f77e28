"""A generated question set runs where it was written: synth folder -> generate -> run, no --data-root."""
from __future__ import annotations

import shutil

from fault_helpers import cli


def test_synth_generate_run_without_data_root_then_moved_together(tmp_path):
    assert cli("synth", tmp_path / "data/synth", "--categories", "bottle", "--train", "3", "--test-good", "1",
               "--per-defect", "1", "--size", "64", "--workers", "1").returncode == 0
    gen = cli("generate", tmp_path / "data/synth", "--out", tmp_path / "questions/synth.json")
    assert gen.returncode == 0, gen.stderr
    run = cli("run", "--questions", tmp_path / "questions/synth.json", "--model", "random", "--out",
              tmp_path / "out", "--quiet")
    assert run.returncode == 0 and "could not be built" not in run.stdout, run.stdout + run.stderr
    moved = tmp_path / "elsewhere"
    shutil.copytree(tmp_path / "data", moved / "data")
    shutil.copytree(tmp_path / "questions", moved / "questions")
    again = cli("run", "--questions", moved / "questions/synth.json", "--model", "random", "--out",
                moved / "out", "--quiet")
    assert again.returncode == 0 and "could not be built" not in again.stdout, again.stdout
