"""Stores under bad conditions: damaged, truncated, newer, read-only, on a full disk, --out a file."""
from __future__ import annotations

import json
import shutil
import sqlite3

import pytest
from fault_helpers import cli, one_error_line, run_args, dataset, small_disk  # noqa: F401 (fixtures)

from mmad_eval.run.load import load_run
from mmad_eval.testing.openai_server import FakeOpenAIServer

DB = "mmad-eval.sqlite"


@pytest.fixture(scope="module")
def answered(dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("answered") / "out"
    with FakeOpenAIServer() as srv:
        assert cli(*run_args(dataset, out, srv.base_url)).returncode == 0
    return out


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_damaged_store_gives_one_line_naming_the_file(answered, tmp_path, damage):
    out = tmp_path / "out"
    shutil.copytree(answered, out)
    db = out / DB
    data = db.read_bytes()
    db.write_bytes(b"this is not a database" * 100 if damage == "garbage" else data[: len(data) // 3])
    for args in (["score", out, "--bootstrap", "0"], ["report", out, "--out", tmp_path / "r.html"],
                 ["compare", out, "--a", "openai:fake-vlm", "--b", "openai:fake-vlm"], ["merge", out, "--out", tmp_path / "m"]):
        line = one_error_line(cli(*args))
        assert str(db) in line and ("damaged" in line or "no runs" in line), line
    assert not (tmp_path / "m" / DB).exists()


def test_newer_store_version_is_refused_by_name(answered, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(answered, out)
    with sqlite3.connect(out / DB) as db:
        db.execute("PRAGMA user_version = 99")
    line = one_error_line(cli("score", out))
    assert str(out / DB) in line and "newer mmad-eval" in line and "99" in line


def test_out_pointing_at_a_file(dataset, tmp_path):
    f = tmp_path / "afile"
    f.write_text("x")
    line = one_error_line(cli(*run_args(dataset, f, "http://127.0.0.1:9")))
    assert str(f) in line and "folder" in line
    assert f.read_text() == "x"


def test_store_with_no_runs_is_an_error_for_score(tmp_path):
    from mmad_eval.run.store import Store

    Store(tmp_path / "empty").close()
    line = one_error_line(cli("score", tmp_path / "empty"))
    assert "no runs" in line


def test_score_report_compare_work_on_a_read_only_mount(answered, small_disk, tmp_path):
    mnt, remount = small_disk
    remount("size=8m")
    shutil.copytree(answered, mnt / "out")
    remount("ro")
    out = mnt / "out"
    score = cli("score", out, "--bootstrap", "0")
    assert score.returncode == 0 and "fake-vlm" in score.stdout, score.stderr
    judged = cli("score", out, "--bootstrap", "0", "--judge", "random")   # its cache cannot be written there
    assert judged.returncode == 0 and "judge answers not cached" in judged.stdout, judged.stderr
    assert "Read-only file system" in judged.stdout or "read-only" in judged.stdout
    assert cli("compare", out, "--a", "openai:fake-vlm", "--b", "openai:fake-vlm", "--bootstrap", "1").returncode == 0
    rep = cli("report", out, "--out", tmp_path / "r.html", "--no-images")
    assert rep.returncode == 0 and (tmp_path / "r.html").stat().st_size > 1000
    line = one_error_line(cli("report", out, "--out", mnt / "r.html", "--no-images"))
    assert "read-only" in line and str(mnt / "r.html") in line


def test_full_disk_during_a_run_keeps_the_store_and_resumes(dataset, small_disk):
    mnt, remount = small_disk
    out = mnt / "out"
    with FakeOpenAIServer(responder=lambda body: "A " + "x" * 120_000) as srv:
        proc = cli(*run_args(dataset, out, srv.base_url))
        line = one_error_line(proc)
        assert "disk is full" in line or "no space" in line or "I/O" in line, line
        with sqlite3.connect(out / DB) as db:
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            kept = db.execute("SELECT COUNT(*) FROM requests WHERE status = 'ok'").fetchone()[0]
        assert 0 < kept < 16
        first = srv.count
        remount("size=64m")
        again = cli(*run_args(dataset, out, srv.base_url))
        assert again.returncode == 0, again.stderr
        assert f"reused {kept}" in again.stdout and srv.count - first == 16 - kept
    assert all(a.reply for a in load_run(out).answers)


def test_full_disk_while_writing_a_report_keeps_the_previous_report(answered, small_disk):
    mnt, remount = small_disk
    target = mnt / "r.html"
    remount("size=8m")
    assert cli("report", answered, "--out", target, "--no-images").returncode == 0
    before = target.read_bytes()
    filler = mnt / "filler"
    with open(filler, "wb") as f:                # fill the disk but leave less than a report
        try:
            while True:
                f.write(b"\0" * 65536)
        except OSError:
            pass
    line = one_error_line(cli("report", answered, "--out", target, "--no-images", "--title", "new"))
    assert str(target) in line and "no space" in line
    assert target.read_bytes() == before and sorted(p.name for p in mnt.iterdir()) == ["filler", "r.html"]


def test_an_older_store_on_a_read_only_mount_is_read_through_a_migrated_copy(small_disk):
    from pathlib import Path

    old = Path(__file__).resolve().parents[1] / "run" / "fixtures" / "store_v0_1_0" / "out"
    mnt, remount = small_disk
    remount("size=8m")
    shutil.copytree(old, mnt / "out")
    before = (mnt / "out" / DB).read_bytes()
    remount("ro")
    score = cli("score", mnt / "out", "--bootstrap", "0")
    assert score.returncode == 0 and "==" in score.stdout, score.stderr
    assert (mnt / "out" / DB).read_bytes() == before               # untouched (still the 0.1.0 schema)


def test_a_damaged_judge_cache_is_set_aside_and_scoring_goes_on(answered, tmp_path):
    import shutil

    out = tmp_path / "out"
    shutil.copytree(answered, out)
    (out / "judge_cache.json").write_text("{not json")
    judged = cli("score", out, "--bootstrap", "0", "--judge", "random")
    assert judged.returncode == 0 and "judge_cache.json ignored (JSONDecodeError" in judged.stdout, judged.stderr
    assert json.loads((out / "judge_cache.json").read_text()) == {}       # replaced by a sound (empty) one


@pytest.mark.parametrize("command, name", [(("audit", "{q}", "--sheet", "4", "--out", "{t}"), "sheet.html"),
                                           (("audit", "{q}", "--errata", "mmad-reported", "--write-corrected", "{t}"),
                                            "fixed.json")])
def test_full_disk_while_writing_a_sheet_or_corrected_file_keeps_the_previous_one(dataset, small_disk, command,
                                                                                  name):
    """The rating sheet and the corrected question file go through the one atomic writer: a full disk is one
    line naming the file, the previous file is unchanged and no temporary file is left."""
    mnt, remount = small_disk
    remount("size=8m")
    target = mnt / name
    args = [a.format(q=dataset, t=target) for a in command]
    first = cli(*args)
    assert first.returncode == 0, first.stderr
    before = target.read_bytes()
    with open(mnt / "filler", "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
        except OSError:
            pass
    changed = [*args[:-1], str(target)] + (["--seed", "3"] if "--sheet" in args else ["--data-root", str(dataset.parent)])
    line = one_error_line(cli(*changed))
    assert str(target) in line and "no space" in line, line
    assert target.read_bytes() == before and sorted(p.name for p in mnt.iterdir()) == ["filler", name]
