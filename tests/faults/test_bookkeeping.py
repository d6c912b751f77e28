"""Bookkeeping that must stay true under kills and retries: a killed invocation is marked interrupted, its
claims do not pile up, usage counts every billed request (also those retried or replaced), and error lines
name the user's files, never a temporary one."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from fault_helpers import cli, one_error_line, run_args, dataset, small_disk  # noqa: F401 (fixtures)

from mmad_eval.backends.base import Response
from mmad_eval.run.store import Store
from mmad_eval.testing.openai_server import Fault, FakeOpenAIServer

pytestmark = pytest.mark.skipif(os.name != "posix", reason="needs SIGKILL")


def _ok_count(db_path) -> int:
    try:
        with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30) as db:
            return db.execute("SELECT COUNT(*) FROM requests WHERE status = 'ok'").fetchone()[0]
    except sqlite3.Error:
        return 0


def _record(out, name="openai:fake-vlm") -> dict:
    with sqlite3.connect(out / "mmad-eval.sqlite") as db:
        return json.loads(db.execute("SELECT record FROM runs WHERE name = ?", (name,)).fetchone()[0])


def _kill_after_answers(dataset, out, url, n: int) -> int:
    proc = subprocess.Popen([sys.executable, "-m", "mmad_eval", *map(str, run_args(dataset, out, url))],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "OPENAI_API_KEY": "EMPTY"})
    deadline = time.monotonic() + 120
    while _ok_count(out / "mmad-eval.sqlite") < n and time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return proc.pid


@pytest.mark.parametrize("kills", [1, 2])
def test_killed_invocations_are_marked_interrupted_and_leave_no_claims(kills, dataset, tmp_path):
    out = tmp_path / "out"
    with FakeOpenAIServer(latency_s=0.4) as slow:
        pids = [_kill_after_answers(dataset, out, slow.base_url, 2 + 3 * i) for i in range(kills)]
    with sqlite3.connect(out / "mmad-eval.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM leases").fetchone()[0] > 0      # what the kills left behind
    with FakeOpenAIServer() as fast:
        assert cli(*run_args(dataset, out, fast.base_url)).returncode == 0
    log = _record(out)["invocation_log"]
    assert [e["outcome"] for e in log] == ["interrupted"] * kills + ["finished"]
    assert [e["pid"] for e in log[:kills]] == pids
    with sqlite3.connect(out / "mmad-eval.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM leases").fetchone()[0] == 0      # no stale claims kept


def _every(kind):
    return lambda index, body: Fault(kind)


def test_usage_counts_replaced_errors_as_billed(dataset, tmp_path):
    """Every reply first comes back content-filtered (billed, stored as an error); --retry-failed asks all 16
    again: 32 requests were billed, not 16, and the tokens of both rounds count."""
    out = tmp_path / "out"
    with FakeOpenAIServer(faults=_every("content_filter")) as srv:
        cli(*run_args(dataset, out, srv.base_url))
    first = _record(out)["usage"]
    assert first["error"] == 16 and first["requests_sent"] == 16
    with FakeOpenAIServer() as srv:
        assert cli(*run_args(dataset, out, srv.base_url, "--retry-failed")).returncode == 0
    usage = _record(out)["usage"]
    assert usage["ok"] == 16 and usage["requests"] == 16 and usage["requests_sent"] == 32
    assert usage["prompt_tokens_billed"] == first["prompt_tokens"] + usage["prompt_tokens"]
    assert usage["completion_tokens_billed"] == first["completion_tokens"] + usage["completion_tokens"]


def test_usage_counts_retried_attempts(dataset, tmp_path):
    """Three requests first get a 500 (retried): 19 requests sent for 16 answers."""
    out = tmp_path / "out"
    script = [Fault("server_error")] * 3
    with FakeOpenAIServer(faults=script) as srv:
        assert cli(*run_args(dataset, out, srv.base_url, "--backend-option", "backoff_s=0.01")).returncode == 0
        sent = srv.count
    usage = _record(out)["usage"]
    assert sent == 19 and usage["requests"] == 16 and usage["requests_sent"] == 19


def test_error_lines_name_the_users_file_not_a_temporary_one(dataset, tmp_path, small_disk):
    """A rating sheet written over a folder, and a merge into a new folder on a full disk: the one error line
    names the file the user asked for."""
    target = tmp_path / "sheet.html"
    target.mkdir()
    line = one_error_line(cli("audit", dataset, "--sheet", "2", "--out", target))
    assert str(target) in line and ".tmp" not in line and ".sheet.html." not in line
    disk, _ = small_disk
    src = tmp_path / "src"
    with Store(src) as store:                   # a source store larger than the 1 MB disk
        store.put_response(Response(key="k", text="A" * 3_000_000, attempts=1), None)
    line = one_error_line(cli("merge", src, "--out", disk / "merged"))
    assert str(disk / "merged" / "mmad-eval.sqlite") in line and ".tmp" not in line, line
    assert not [p for p in (disk / "merged").iterdir() if p.name.endswith(".tmp")]
