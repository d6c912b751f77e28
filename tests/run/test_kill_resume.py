"""A real process killed mid-run (SIGKILL) and rerun: no answer lost, nothing stored is asked twice."""
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

import pytest

from mmad_eval.parse.stage import load_parsed_run
from mmad_eval.testing.openai_server import FakeOpenAIServer

CONCURRENCY = 2


def _cmd(dataset, out, url):
    return [sys.executable, "-m", "mmad_eval", "run", "--questions", str(dataset), "--model", "openai:fake-vlm",
            "--out", str(out), "--base-url", url, "--concurrency", str(CONCURRENCY), "--quiet"]


def _digest(body: dict) -> str:
    return hashlib.sha256(json.dumps(body["messages"], sort_keys=True).encode()).hexdigest()


def default_sigint() -> None:
    """In the child before exec: Ctrl-C at its default. A suite started in the background (``nohup ... &``, a
    job of a non-interactive shell) ignores SIGINT, the children inherit that, and Python then installs no
    KeyboardInterrupt handler: the run would finish instead of stopping."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _stored_ok(db_path) -> int:
    try:
        with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5) as db:
            return db.execute("SELECT COUNT(*) FROM requests WHERE status = 'ok'").fetchone()[0]
    except sqlite3.Error:
        return 0


@pytest.mark.skipif(os.name != "posix", reason="needs SIGKILL")
def test_sigkill_then_resume_equals_uninterrupted(dataset, tmp_path):
    """Killed with 4 answers stored and the next requests in flight (held at the server until the kill, so
    no reply can be on its way to the store when it comes: the counts below are exact on any machine)."""
    env = {**os.environ, "OPENAI_API_KEY": "test-key-not-secret"}
    gate, held_from = threading.Event(), [None]

    def latency(index: int, body: dict) -> float:
        if held_from[0] is not None and index >= held_from[0]:
            gate.wait(120)
        return 0.15

    with FakeOpenAIServer(latency_s=latency) as srv:
        ref = subprocess.run(_cmd(dataset, tmp_path / "ref", srv.base_url), env=env, capture_output=True, text=True)
        assert ref.returncode == 0, ref.stderr
        total = len({_digest(b) for b in srv.requests})
        assert srv.count == total == 16
        before = srv.count
        held_from[0] = before + 4                           # the killed run's 5th request on wait

        out = tmp_path / "killed"
        proc = subprocess.Popen(_cmd(dataset, out, srv.base_url), env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        try:
            while (_stored_ok(out / "mmad-eval.sqlite") < 4 or srv.count < before + 4 + CONCURRENCY) \
                    and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.02)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        finally:
            gate.set()
        assert proc.returncode == -signal.SIGKILL
        stored = _stored_ok(out / "mmad-eval.sqlite")
        assert stored == 4                                  # really killed mid-way
        phase1 = srv.requests[before:]
        mid = srv.count
        assert mid - before == stored + CONCURRENCY         # the held ones were in flight

        again = subprocess.run(_cmd(dataset, out, srv.base_url), env=env, capture_output=True, text=True)
        assert again.returncode == 0, again.stderr
        assert f"asked {total - stored}, reused {stored}" in again.stdout
        phase2 = srv.requests[mid:]
        assert len(phase2) == total - stored                # only what was missing
        d1, d2 = [_digest(b) for b in phase1], [_digest(b) for b in phase2]
        assert len(set(d2)) == len(d2)                      # nothing asked twice within the rerun
        assert set(d1) | set(d2) == {_digest(b) for b in srv.requests[:before]}
        # the only requests the server saw twice are those in flight when the process died (never stored)
        assert len(set(d1) & set(d2)) == len(d1) - stored == CONCURRENCY

    a = {x.qid: (x.reply, x.parsed, x.request_key) for x in load_parsed_run(tmp_path / "ref").answers}
    b = {x.qid: (x.reply, x.parsed, x.request_key) for x in load_parsed_run(out).answers}
    assert a == b and len(a) == 16 and all(v[0] for v in b.values())
    text = (out / "mmad-eval.sqlite").read_bytes()
    assert b"test-key-not-secret" not in text


@pytest.mark.skipif(os.name != "posix", reason="needs POSIX signals")
@pytest.mark.parametrize("sig, how, code", [(signal.SIGTERM, "SIGTERM", 143), (signal.SIGINT, "Ctrl-C", 130)])
def test_sigterm_and_ctrl_c_stop_and_say_how_many_answers_are_saved_where(dataset, tmp_path, sig, how, code):
    env = {**os.environ, "OPENAI_API_KEY": "test-key-not-secret"}
    with FakeOpenAIServer(latency_s=1.0) as srv:      # 16 requests, 2 in flight: about 8 s to stop it in
        out = tmp_path / "stopped"
        proc = subprocess.Popen(_cmd(dataset, out, srv.base_url), env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
        deadline = time.monotonic() + 120
        while _stored_ok(out / "mmad-eval.sqlite") < 2 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    stored = _stored_ok(out / "mmad-eval.sqlite")
    assert 2 <= stored < 16
    assert err.strip() == (f"stopped ({how}); {stored} of 16 requests of run openai:fake-vlm have an answer saved "
                           f"in {out / 'mmad-eval.sqlite'}; rerun the same command to resume")
    assert "Traceback" not in err
