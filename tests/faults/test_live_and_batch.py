"""A live run and `run --batch-api` on one folder: both claim through the same lease rows, so every request
is asked exactly once, live or in a batch, never both."""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from fault_helpers import cli, run_args, dataset  # noqa: F401 (fixtures)

from mmad_eval.testing.openai_server import FakeOpenAIServer


def _digest(body: dict) -> str:
    return hashlib.sha256(json.dumps(body["messages"], sort_keys=True).encode()).hexdigest()


def _ok_count(db_path) -> int:
    try:
        with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30) as db:
            return db.execute("SELECT COUNT(*) FROM requests WHERE status = 'ok'").fetchone()[0]
    except sqlite3.Error:
        return 0


@pytest.mark.parametrize("per_batch", [3, 50000])
def test_live_run_and_batch_sender_never_ask_one_request_twice(per_batch, dataset, tmp_path):
    out = tmp_path / "out"
    gate = threading.Event()            # the live run's later requests wait here until the batch is sent

    def latency(index: int, body: dict) -> float:
        if index >= 1:
            gate.wait(120)
        return 0.05

    with FakeOpenAIServer(latency_s=latency) as srv:
        live = subprocess.Popen([sys.executable, "-m", "mmad_eval", *map(str, run_args(
            dataset, out, srv.base_url, "--concurrency", "1"))], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, env={**os.environ, "OPENAI_API_KEY": "EMPTY"})
        deadline = time.monotonic() + 120
        while _ok_count(out / "mmad-eval.sqlite") < 1 and time.monotonic() < deadline:
            assert live.poll() is None, live.communicate()
            time.sleep(0.05)
        batch_args = [*run_args(dataset, out, srv.base_url), "--batch-api", "--batch-max-requests", per_batch]
        try:
            sent = cli(*batch_args)
            assert live.poll() is None                                    # the live run was still asking
        finally:
            gate.set()
        assert sent.returncode == 75, sent.stdout + sent.stderr          # batches waiting
        for b in srv.batches.ids():
            srv.batches.complete(b)
        so, se = live.communicate(timeout=180)
        assert live.returncode == 0, se
        assert cli(*batch_args).returncode == 0                           # results collected
        live_bodies = [_digest(b) for b in srv.requests]
        batch_bodies = [_digest(body) for _, _, body in srv.batches.submitted]
    assert len(live_bodies) == len(set(live_bodies)) and len(batch_bodies) == len(set(batch_bodies))
    both = set(live_bodies) & set(batch_bodies)
    assert not both, f"{len(both)} requests asked both live and in a batch"
    assert len(live_bodies) + len(batch_bodies) == 16 and batch_bodies    # each asked once, and both sides did
    with FakeOpenAIServer() as again:
        rerun = cli(*run_args(dataset, out, again.base_url))
        assert rerun.returncode == 0 and again.count == 0, rerun.stdout
    with sqlite3.connect(out / "mmad-eval.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM leases").fetchone()[0] == 0
