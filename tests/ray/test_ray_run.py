"""`mmad-eval run --ray`: one run over Ray workers (a local Ray instance), against the fake OpenAI server.

Real processes throughout: the driver is a `mmad-eval run` subprocess; a worker is killed with SIGKILL; the
driver itself is killed and started again."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import ray  # noqa: F401  (a test requirement: without ray these tests fail, never skip)

from mmad_eval.run.load import load_run
from mmad_eval.testing.openai_server import FakeOpenAIServer
from mmad_eval.testing.question_sets import two_question_set



def default_sigint() -> None:
    """Ctrl-C at its default in the child: a suite started in the background ignores SIGINT, and a child that
    inherits that runs on instead of stopping."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def make_set(root: Path, n_images: int) -> Path:
    return two_question_set(root, n_images)


def cmd(questions, out, url, *extra):
    return [sys.executable, "-m", "mmad_eval", "run", "--questions", str(questions), "--model",
            "openai:fake-vlm", "--out", str(out), "--base-url", url, "--concurrency", "2", "--quiet", *extra]


ENV = {**os.environ, "OPENAI_API_KEY": "test-key-not-secret", "RAY_DEDUP_LOGS": "0"}


def answers(out: Path) -> dict:
    return {a.qid: (a.reply, a.parsed, a.request_key) for a in load_run(out).answers}


def stored_ok(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as con:
            return con.execute("SELECT COUNT(*) FROM requests WHERE status = 'ok'").fetchone()[0]
    except sqlite3.Error:
        return 0


def record(out: Path) -> dict:
    with sqlite3.connect(f"file:{out / 'mmad-eval.sqlite'}?mode=ro", uri=True) as con:
        (blob,) = con.execute("SELECT record FROM runs").fetchone()
    return json.loads(blob)


def wait_for(pred, proc, limit=120.0) -> None:
    deadline = time.monotonic() + limit
    while not pred():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def session_pids(sid: int, pattern: str = "") -> list[int]:
    """Processes of the driver's session (its local Ray instance and workers), whose command has ``pattern``.
    Other Ray runs on the machine (other test runs) are never touched."""
    out = subprocess.run(["ps", "-o", "pid=,args=", "--sid", str(sid)], capture_output=True, text=True).stdout
    return [int(line.split(None, 1)[0]) for line in out.splitlines()
            if line.strip() and pattern in line and int(line.split(None, 1)[0]) != sid]


def worker_pids(sid: int) -> list[int]:
    return session_pids(sid, "ray::AnswerWorker")


def kill_orphans(sid: int) -> None:
    """A driver killed with SIGKILL leaves its local Ray instance and workers behind: stop them all."""
    deadline = time.monotonic() + 30
    while (pids := session_pids(sid)) and time.monotonic() < deadline:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.2)
    assert not worker_pids(sid)


def test_ray_run_equals_local_run(tmp_path):
    q = make_set(tmp_path / "data", 12)
    with FakeOpenAIServer(latency_s=0.01) as srv:
        local = subprocess.run(cmd(q, tmp_path / "local", srv.base_url), env=ENV, capture_output=True, text=True)
        assert local.returncode == 0, local.stderr
        n_local = srv.count
        dist = subprocess.run(cmd(q, tmp_path / "ray", srv.base_url, "--ray", "--workers", "2"), env=ENV,
                              capture_output=True, text=True, timeout=240)
        assert dist.returncode == 0, dist.stderr
        assert srv.count - n_local == n_local == 24           # each request asked once, over the workers
        assert "ray: 2 workers started\n" in dist.stdout and "0 shards" not in dist.stdout
        workers = record(tmp_path / "ray")["last_invocation"]["ray"]["workers"]
        assert len({w["pid"] for w in workers}) == 2 and os.getpid() not in {w["pid"] for w in workers}
        again = subprocess.run(cmd(q, tmp_path / "ray", srv.base_url, "--ray", "--workers", "2"), env=ENV,
                               capture_output=True, text=True, timeout=240)
        assert "asked 0, reused 24" in again.stdout and srv.count == 48   # resume: nothing asked again
    assert answers(tmp_path / "ray") == answers(tmp_path / "local")
    rec = record(tmp_path / "ray")
    assert rec["backend"]["ray"]["workers"] == 2 and rec["backend"]["ray"]["address"] is None
    assert b"test-key-not-secret" not in (tmp_path / "ray" / "mmad-eval.sqlite").read_bytes()


def test_worker_killed_mid_run_is_replaced_and_nothing_is_stored_twice(tmp_path):
    q = make_set(tmp_path / "data", 30)
    out = tmp_path / "out"
    with FakeOpenAIServer(latency_s=0.08) as srv:
        proc = subprocess.Popen(cmd(q, out, srv.base_url, "--ray", "--workers", "2"), env=ENV,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            wait_for(lambda: stored_ok(out / "mmad-eval.sqlite") >= 6 and len(worker_pids(proc.pid)) >= 2, proc)
            os.kill(worker_pids(proc.pid)[0], signal.SIGKILL)
            stdout, stderr = proc.communicate(timeout=240)
        finally:
            kill_orphans(proc.pid)
        assert proc.returncode == 0, stderr
        asked = [json.dumps(b["messages"], sort_keys=True) for b in srv.requests]
    assert "1 shard given again" in stdout or "2 shards given again" in stdout, stdout
    got = answers(out)
    assert len(got) == 60 and all(v[0] for v in got.values())  # every question answered
    assert len(set(asked)) == 60                                # ... and every distinct request reached the server
    assert len(asked) - 60 <= 2                                  # re-asked: only what was in flight at the kill
    with sqlite3.connect(out / "mmad-eval.sqlite") as con:
        assert con.execute("SELECT COUNT(*) FROM requests").fetchone()[0] == 60   # one row per request
    retries = record(out)["last_invocation"]["ray"]["retries"]
    assert retries and retries[0]["reason"].startswith(("ActorDiedError", "RayActorError", "ActorUnavailable"))
    assert len(record(out)["last_invocation"]["ray"]["workers"]) == 3   # two, then the replacement


def test_driver_killed_then_restarted_resumes(tmp_path):
    """The workers of a killed driver send nothing more and its local Ray instance goes with it (agents too):
    the restart asks again only what was in flight at the kill."""
    q = make_set(tmp_path / "data", 20)
    out = tmp_path / "out"
    with FakeOpenAIServer(latency_s=0.08) as srv:
        proc = subprocess.Popen(cmd(q, out, srv.base_url, "--ray", "--workers", "2"), env=ENV,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        wait_for(lambda: stored_ok(out / "mmad-eval.sqlite") >= 6, proc)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        killed = time.monotonic()
        deadline = killed + 30
        while session_pids(proc.pid) and time.monotonic() < deadline:   # left to go by themselves
            time.sleep(0.2)
        left = subprocess.run(["ps", "-o", "args=", "--sid", str(proc.pid)], capture_output=True, text=True).stdout
        kill_orphans(proc.pid)
        assert not left.strip(), left                  # no worker, raylet or agent outlives the driver
        sent_after = [t for t in srv.arrivals if t > killed + 0.5]     # (0.5 s: seen on a loaded machine)
        assert sent_after == []                        # nothing sent once the driver was gone (and seen gone)
        stored = stored_ok(out / "mmad-eval.sqlite")
        assert 6 <= stored < 40
        mid, distinct = srv.count, {json.dumps(b["messages"], sort_keys=True) for b in srv.requests}
        again = subprocess.run(cmd(q, out, srv.base_url, "--ray", "--workers", "2"), env=ENV, capture_output=True,
                               text=True, timeout=240)
        assert again.returncode == 0, again.stderr
        assert f"asked {40 - stored}, reused {stored}" in again.stdout
        assert srv.count - mid == 40 - stored          # the restart asks only what is missing
        assert mid - stored <= 8 and len(distinct) == mid   # billed twice: at most what was in flight or queued
    assert len(answers(out)) == 40


def test_ctrl_c_cancels_the_workers_and_keeps_what_was_committed(tmp_path):
    q = make_set(tmp_path / "data", 30)
    out = tmp_path / "out"
    with FakeOpenAIServer(latency_s=0.1) as srv:
        proc = subprocess.Popen(cmd(q, out, srv.base_url, "--ray", "--workers", "2"), env=ENV,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                                preexec_fn=default_sigint)
        try:
            wait_for(lambda: stored_ok(out / "mmad-eval.sqlite") >= 4, proc)
            proc.send_signal(signal.SIGINT)
            _, stderr = proc.communicate(timeout=120)
        finally:
            kill_orphans(proc.pid)
        assert proc.returncode == 130, stderr
        assert "stopped (Ctrl-C); " in stderr and "have an answer saved in" in stderr and "Traceback" not in stderr
        kept = stored_ok(out / "mmad-eval.sqlite")
        time.sleep(0.5)
        sent = srv.count
        time.sleep(0.5)
        assert srv.count == sent                        # nothing more is sent once the driver stopped
        # lost: only what was in flight (2 workers x 2) or already answered but still in the stream
        assert 4 <= kept < 60 and sent - kept <= 8
        again = subprocess.run(cmd(q, out, srv.base_url, "--ray", "--workers", "2"), env=ENV,
                               capture_output=True, text=True, timeout=240)
        assert f"asked {60 - kept}, reused {kept}" in again.stdout, again.stdout + again.stderr


@pytest.fixture(scope="module")
def synth_set(tmp_path_factory):
    from mmad_eval.questions.generate import GenerateSettings, generate_questions
    from mmad_eval.questions.mmad_io import write_mmad_json
    from mmad_eval.sources.detect import load_source
    from mmad_eval.sources.synth import generate_synthetic

    root = generate_synthetic(tmp_path_factory.mktemp("synth"), categories=["pill"], n_train=3, n_test_good=1,
                              n_per_defect=1, size=64, workers=1)
    result = generate_questions(load_source(root / "Synth-AD"), root / "knowledge.json",
                                GenerateSettings(similar="none"))
    write_mmad_json(result.questions, root / "q.json")
    return root


@pytest.mark.parametrize("model", ["hf", "expert"])
def test_in_process_backends_on_ray_workers_answer_as_locally(synth_set, tmp_path, model):
    """transformers (the tiny LLaVA) and the expert baseline, which needs the run context, on Ray workers."""
    args = ["--model", "expert"]
    if model == "hf":
        from mmad_eval.testing.tiny_vlm import build_tiny_llava
        args = ["--model", f"hf:{build_tiny_llava(tmp_path / 'tiny')}", "--max-tokens", "4",
                "--backend-option", "device=cpu"]
    base = [sys.executable, "-m", "mmad_eval", "run", "--questions", str(synth_set / "q.json"), "--data-root",
            str(synth_set), "--quiet", *args]
    local = subprocess.run(base + ["--out", str(tmp_path / "local")], capture_output=True, text=True, env=ENV)
    assert local.returncode == 0, local.stderr
    dist = subprocess.run(base + ["--out", str(tmp_path / "ray"), "--ray", "--workers", "2"], capture_output=True,
                          text=True, env=ENV, timeout=300)
    assert dist.returncode == 0, dist.stderr
    assert "ray: 2 workers started" in dist.stdout
    got, want = answers(tmp_path / "ray"), answers(tmp_path / "local")
    assert got == want and len(got) > 10 and all(v[0] is not None for v in got.values())
