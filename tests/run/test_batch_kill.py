"""``run --batch-api`` SIGKILLed at each step of a submission (and while downloading results), then rerun:
no request is ever submitted twice, no batch is made twice, and the answers equal a live run's."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys

import pytest

from mmad_eval.cli import main
from mmad_eval.run.load import load_run
from mmad_eval.testing.openai_server import FakeOpenAIServer

pytestmark = pytest.mark.skipif(os.name != "posix", reason="needs SIGKILL")
ENV = {**os.environ, "OPENAI_API_KEY": "test-key-not-secret"}


def _args(ds, out, url):
    return ["run", "--questions", str(ds), "--model", "gpt-4o", "--out", str(out), "--base-url", url, "--quiet",
            "--batch-api", "--batch-max-requests", "10"]


def _killed_at(srv, step: str, ds, out) -> None:
    """Start the command in a real process, SIGKILL it while the server holds it at ``step``; a request held
    before the server acted is then dropped (it never arrived whole), one held after it is answered into the
    void (the server acted, the client never learnt the id)."""
    srv.batches.hold(step)
    proc = subprocess.Popen([sys.executable, "-m", "mmad_eval", *_args(ds, out, srv.base_url)], env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert srv.batches.reached(step, timeout=60), proc.communicate(timeout=5)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        srv.batches.release(step, drop=step.endswith("_before"))
    assert srv.batches.idle()
    assert proc.returncode == -signal.SIGKILL


def _job_states(out) -> list[str]:
    with sqlite3.connect(out / "mmad-eval.sqlite") as db:
        return [r[0] for r in db.execute("SELECT state FROM batch_jobs ORDER BY created")]


def _answers(out):
    return {a.qid: (a.reply, a.parsed, a.request_key) for a in load_run(out, "gpt-4o").answers}


@pytest.fixture(scope="module")
def live_answers(dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("live")
    with FakeOpenAIServer() as srv:
        assert main(["run", "--questions", str(dataset), "--model", "gpt-4o", "--out", str(out), "--base-url",
                     srv.base_url, "--quiet"]) == 0
    return _answers(out)


@pytest.mark.parametrize("step", ["upload_before", "upload_after", "create_before", "create_after"])
def test_killed_while_submitting_never_submits_twice(step, dataset, tmp_path, live_answers, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key-not-secret")
    out = tmp_path / "out"
    with FakeOpenAIServer() as srv:
        _killed_at(srv, step, dataset, out)                    # dies during the first of two batches
        assert _job_states(out) == ["preparing" if step.startswith("upload") else "uploaded"]
        made_before = len(srv.batches.ids())
        assert main(_args(dataset, out, srv.base_url)) == 75
        assert main(_args(dataset, out, srv.base_url)) == 75   # and once more: polls only
        ids = [cid for _, cid, _ in srv.batches.submitted]
        assert len(ids) == len(set(ids)) == 16                 # every request submitted exactly once
        assert len(srv.batches.ids()) == 2                     # 10 + 6: no batch made twice
        assert made_before == (1 if step == "create_after" else 0)
        inputs = [f for f in srv.batches.files.values() if f["purpose"] == "batch"]
        assert len(inputs) == 2                                # an upload the server took is found, not redone
        for b in srv.batches.ids():
            srv.batches.complete(b)
        assert main(_args(dataset, out, srv.base_url)) == 0
    assert _answers(out) == live_answers


def test_killed_while_downloading_results_stores_them_on_rerun(dataset, tmp_path, live_answers, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key-not-secret")
    out = tmp_path / "out"
    with FakeOpenAIServer() as srv:
        assert main(_args(dataset, out, srv.base_url)) == 75
        for b in srv.batches.ids():
            srv.batches.complete(b)
        _killed_at(srv, "content", dataset, out)
        assert main(_args(dataset, out, srv.base_url)) == 0
        assert len(srv.batches.ids()) == 2 and len(srv.batches.submitted) == 16
    assert _answers(out) == live_answers
    assert load_run(out, "gpt-4o").record["usage"]["batch"]["requests"] == 16
