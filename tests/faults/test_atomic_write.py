"""The rename logic of every write, with the write itself failing (where no full disk can be mounted)."""
from __future__ import annotations

import os

import pytest

from mmad_eval.atomic_write import WriteError, atomic_dir, write_text, write_with


def test_a_failing_writer_leaves_the_previous_file_and_no_temporary(tmp_path):
    target = tmp_path / "report.html"
    write_text(target, "old report")
    os.chmod(target, 0o640)

    def half_then_fail(tmp):
        tmp.write_text("partial")
        raise OSError(28, "No space left on device")

    with pytest.raises(WriteError, match="no space left on the device.*previous version of the file is unchanged"):
        write_with(target, half_then_fail)
    assert target.read_text() == "old report" and sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]
    write_text(target, "new report")
    assert target.read_text() == "new report" and (target.stat().st_mode & 0o777) == 0o640   # mode kept


def test_a_folder_is_replaced_whole_or_not_at_all(tmp_path):
    out = tmp_path / "hf"
    with atomic_dir(out) as tmp:
        (tmp / "a").write_text("1")
    with pytest.raises(RuntimeError):
        with atomic_dir(out) as tmp:
            (tmp / "b").write_text("2")
            raise RuntimeError("export failed half-way")
    assert sorted(p.name for p in out.iterdir()) == ["a"] and sorted(p.name for p in tmp_path.iterdir()) == ["hf"]


def test_writing_over_a_folder_is_one_error(tmp_path):
    with pytest.raises(WriteError, match="is a folder"):
        write_text(tmp_path, "x")
