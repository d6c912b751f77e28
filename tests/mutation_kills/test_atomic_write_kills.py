"""Atomic writes: the previous file or folder survives every failure, and the error line says why (issue 25)."""
import errno
import shutil
import os

import pytest

from mmad_eval.atomic_write import WriteError, atomic_dir, atomic_path, write_bytes, write_text, write_with


@pytest.mark.parametrize("code, reason", [
    (errno.ENOSPC, "no space left on the device"), (errno.EROFS, "the file system is read-only"),
    (errno.EACCES, "permission denied"), (errno.EPERM, "permission denied"), (errno.EISDIR, "it is a folder"),
    (errno.ENOTDIR, "a part of the path is a file, not a folder"), (errno.EEXIST, "a part of the path is a file"),
    (errno.EIO, "Input/output error"),
])
def test_the_error_line_names_the_file_and_the_reason(tmp_path, code, reason):
    target = tmp_path / "scores.json"
    write_text(target, "old")

    def fail(tmp):
        tmp.write_text("half")
        raise OSError(code, os.strerror(code))

    with pytest.raises(WriteError) as err:
        write_with(target, fail)
    assert str(err.value).startswith(f"{target}: not written (") and reason in str(err.value)
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["scores.json"]


def test_an_oserror_without_text_is_named_by_its_type(tmp_path):
    with pytest.raises(WriteError, match=r"not written \(FileNotFoundError\)"):
        write_with(tmp_path / "x.json", lambda tmp: (_ for _ in ()).throw(FileNotFoundError()))


def test_a_new_file_gets_the_usual_mode_and_bytes_arrive_whole(tmp_path):
    target = tmp_path / "deep" / "er" / "a.bin"
    write_bytes(target, b"\x00\x01" * 1000)
    assert target.read_bytes() == b"\x00\x01" * 1000
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask
    with atomic_path(tmp_path / "img.png") as tmp:
        assert tmp.suffix == ".png" and tmp.parent == tmp_path
        tmp.write_bytes(b"png")
    assert (tmp_path / "img.png").read_bytes() == b"png"


def test_a_failed_folder_swap_puts_the_old_folder_back(tmp_path):
    out = tmp_path / "export"
    with atomic_dir(out) as tmp:
        (tmp / "old.txt").write_text("keep me")
    with pytest.raises(WriteError, match="export: not written"):
        with atomic_dir(out) as tmp:
            (tmp / "new.txt").write_text("new")
            shutil.rmtree(tmp)            # the new folder vanishes: the swap fails
    assert [p.name for p in out.iterdir()] == ["old.txt"] and (out / "old.txt").read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export"]


def test_a_folder_swap_replaces_the_old_content_and_leaves_nothing_behind(tmp_path):
    out = tmp_path / "export"
    for name in ("first", "second"):
        with atomic_dir(out) as tmp:
            (tmp / f"{name}.txt").write_text(name)
        assert [p.name for p in out.iterdir()] == [f"{name}.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(WriteError, match="is a file, expected a folder"):
        with atomic_dir(tmp_path / "file"):
            pass
