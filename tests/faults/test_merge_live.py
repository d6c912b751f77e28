"""`merge` into a folder a run is writing: the merge works in place, under the store's own write transaction,
so the running process keeps writing to the same file and neither side's answers are lost."""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from fault_helpers import cli, run_args, dataset  # noqa: F401 (fixtures)

from mmad_eval.testing.openai_server import FakeOpenAIServer


def _ok_count(db_path) -> int:
    try:
        with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30) as db:
            return db.execute("SELECT COUNT(*) FROM requests WHERE status = 'ok'").fetchone()[0]
    except sqlite3.Error:
        return 0


def _asked(stdout: str) -> int:
    return int(stdout.split("asked ")[1].split(",")[0])


@pytest.mark.parametrize("source", ["other shard", "other run name"])
def test_merge_while_a_run_writes_keeps_both_sides(source, dataset, tmp_path):
    out, src = tmp_path / "out", tmp_path / "src"
    with FakeOpenAIServer() as fast:
        extra = ("--shard", "1/2") if source == "other shard" else ("--name", "second")
        assert cli(*run_args(dataset, src, fast.base_url, *extra)).returncode == 0
    gate = threading.Event()            # the run's later requests wait here until the merge is done

    def latency(index: int, body: dict) -> float:
        if index >= 1:
            gate.wait(120)
        return 0.05

    with FakeOpenAIServer(latency_s=latency) as slow:
        proc = subprocess.Popen([sys.executable, "-m", "mmad_eval", *map(str, run_args(
            dataset, out, slow.base_url, "--shard", "0/2", "--concurrency", "1"))], stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, env={**os.environ, "OPENAI_API_KEY": "EMPTY"})
        deadline = time.monotonic() + 120
        while _ok_count(out / "mmad-eval.sqlite") < 1 and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        try:
            merged = cli("merge", src, "--out", out)
            assert proc.poll() is None                    # the run was still asking after the merge
        finally:
            gate.set()
        assert merged.returncode == 0, merged.stderr
        so, se = proc.communicate(timeout=180)
        assert proc.returncode == 0, se
        own = _asked(so)
    with FakeOpenAIServer() as again:                    # every answer of both sides is in the store
        for extra in ((), ("--name", "second")) if source == "other run name" else ((),):
            rerun = cli(*run_args(dataset, out, again.base_url, *extra))
            assert rerun.returncode == 0 and _asked(rerun.stdout) == 0, rerun.stdout
        assert again.count == 0
    with sqlite3.connect(out / "mmad-eval.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM requests WHERE status = 'ok'").fetchone()[0] >= own
