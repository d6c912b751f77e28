"""Several `mmad-eval run` processes on one store and run split the work: nothing is asked twice."""
from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time

from fault_helpers import cli, run_args, dataset  # noqa: F401 (fixtures)

from mmad_eval.run.load import load_run
from mmad_eval.testing.openai_server import FakeOpenAIServer


def _digest(body: dict) -> str:
    return hashlib.sha256(json.dumps(body["messages"], sort_keys=True).encode()).hexdigest()


def _popen(dataset, out, url):
    return subprocess.Popen([sys.executable, "-m", "mmad_eval", *map(str, run_args(dataset, out, url))],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OPENAI_API_KEY": "EMPTY"})


def _claimants(db_path) -> int:
    try:
        with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5) as db:
            return db.execute("SELECT COUNT(DISTINCT pid) FROM leases").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_three_workers_on_one_store_ask_each_request_once(dataset, tmp_path):
    """The first requests are held at the server until a second process holds claims too: the first process
    to start cannot ask everything before the others have started, however the machine schedules them."""
    out = tmp_path / "out"
    shared = threading.Event()

    def latency(index: int, body: dict) -> float:
        deadline = time.monotonic() + 120
        while not shared.is_set() and _claimants(out / "mmad-eval.sqlite") < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        shared.set()
        return 0.4

    with FakeOpenAIServer(latency_s=latency) as srv:
        procs = [_popen(dataset, out, srv.base_url) for _ in range(3)]
        results = [p.communicate(timeout=180) for p in procs]
        bodies = srv.requests
    for p, (so, se) in zip(procs, results):
        assert p.returncode == 0 and "Traceback" not in se, se
    digests = [_digest(b) for b in bodies]
    assert len(digests) == len(set(digests)) == 16                 # 16 requests, none asked twice
    asked = [int(so.split("asked ")[1].split(",")[0]) for so, _ in results]
    assert sum(asked) == 16 and sum(1 for a in asked if a) >= 2     # the work really was split
    run = load_run(out)
    assert len(run.answers) == 16 and all(a.reply for a in run.answers)
    log = run.record["invocation_log"]
    assert run.record["invocations"] == 3 and len(log) == 3
    assert {e["pid"] for e in log} == {p.pid for p in procs} and all(e["outcome"] == "finished" for e in log)
    with sqlite3.connect(out / "mmad-eval.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM leases").fetchone()[0] == 0


def test_a_killed_workers_claims_are_taken_over(dataset, tmp_path):
    out = tmp_path / "out"
    with FakeOpenAIServer(latency_s=0.3) as srv:
        first = _popen(dataset, out, srv.base_url)
        db_path = out / "mmad-eval.sqlite"
        deadline = time.monotonic() + 60
        held = 0
        while time.monotonic() < deadline and not held:
            time.sleep(0.05)
            try:
                with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5) as db:
                    held = db.execute("SELECT COUNT(*) FROM leases").fetchone()[0]
            except sqlite3.Error:
                pass
        assert held, "the first worker never claimed anything"
        first.send_signal(signal.SIGKILL)
        first.wait()
        second = cli(*run_args(dataset, out, srv.base_url), timeout=120)
        assert second.returncode == 0, second.stderr
    run = load_run(out)
    assert len(run.answers) == 16 and all(a.reply for a in run.answers)
    log = run.record["invocation_log"]
    assert [e["outcome"] for e in log] == ["interrupted", "finished"]   # the killed one is kept, marked
