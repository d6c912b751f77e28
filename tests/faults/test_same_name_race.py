"""Two runs with one --out and --name but different question files, started together: the check against the
stored run record and the write of this invocation's record are one transaction, so the later one is refused
(one line) and the store holds one consistent run."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from fault_helpers import run_args, dataset  # noqa: F401 (fixtures)

from mmad_eval.run.store import Store
from mmad_eval.testing.openai_server import FakeOpenAIServer


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def _has_open(pid: int, path: Path) -> bool:
    fd_dir = Path(f"/proc/{pid}/fd")
    try:
        return any(os.readlink(fd_dir / fd) == str(path) for fd in os.listdir(fd_dir))
    except OSError:
        return False


def wait_blocked(procs, db_path: Path, timeout: float = 120.0) -> None:
    """Until every process has the store open and has used no CPU for a second (waiting for the write lock
    the test holds). Not an assertion on time: a slow machine only waits longer."""
    deadline = time.monotonic() + timeout
    quiet_since: dict[int, float] = {}
    last: dict[int, int] = {}
    while time.monotonic() < deadline:
        now = time.monotonic()
        for p in procs:
            assert p.poll() is None, p.communicate()
            ticks = _cpu_ticks(p.pid)
            if not _has_open(p.pid, db_path) or ticks != last.get(p.pid):
                quiet_since[p.pid] = now
            last[p.pid] = ticks
        if all(now - quiet_since[p.pid] >= 1.0 for p in procs):
            return
        time.sleep(0.1)
    raise AssertionError("the processes never reached the store's write lock")


def _popen(args):
    return subprocess.Popen([sys.executable, "-m", "mmad_eval", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "OPENAI_API_KEY": "EMPTY"})


def _variant(dataset: Path, name: str, change) -> Path:
    data = json.loads(dataset.read_text())
    change(data)
    path = dataset.parent / name
    path.write_text(json.dumps(data))
    return path


def _first_question(data):
    first = next(iter(data.values()))
    first["conversation"][0]["Question"] += " (second file)"


def _drop_last_image(data):
    data.pop(list(data)[-1])


def test_same_name_different_questions_started_together(dataset, tmp_path):
    for i, change in enumerate((_first_question, _drop_last_image)):   # two different second files
        other = _variant(dataset, f"other{i}.json", change)
        out = tmp_path / f"out{i}"
        Store(out).close()                                      # the store exists; the run does not yet
        db_path = (out / "mmad-eval.sqlite").resolve()
        with FakeOpenAIServer() as srv:
            lock = sqlite3.connect(db_path, isolation_level=None)
            lock.execute("BEGIN IMMEDIATE")                     # both processes read "no such run", then wait
            procs = [_popen(run_args(q, out, srv.base_url, "--name", "same")) for q in (dataset, other)]
            try:
                wait_blocked(procs, db_path)
            finally:
                lock.execute("ROLLBACK")
                lock.close()
            results = [p.communicate(timeout=180) for p in procs]
        codes = sorted(p.returncode for p in procs)
        assert codes == [0, 2], results                          # one ran, the other was refused
        refused = next(se for p, (so, se) in zip(procs, results) if p.returncode == 2)
        assert "Traceback" not in refused and "different settings" in refused and "questions.sha256" in refused
        ran = next(i for i, p in enumerate(procs) if p.returncode == 0)
        with sqlite3.connect(db_path) as db:
            (record,) = [json.loads(r) for (r,) in db.execute("SELECT record FROM runs WHERE name = 'same'")]
        expected = (dataset, other)[ran]
        assert record["questions"]["file"] == expected.name
        assert record["invocations"] == 1 and record["invocation_log"][0]["outcome"] == "finished"
