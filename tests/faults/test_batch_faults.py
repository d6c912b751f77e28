"""The Batch API under hostile servers: batches that keep expiring, batches that never end, an upload killed
against a server that cannot list files. Each request is sent at most once per way forward, and there always
is a way forward."""
from __future__ import annotations

import collections
import os
import signal
import sqlite3
import subprocess
import sys

import pytest

from fault_helpers import cli, run_args, dataset  # noqa: F401 (fixtures)

from mmad_eval.testing.openai_server import FakeOpenAIServer

pytestmark = pytest.mark.skipif(os.name != "posix", reason="needs SIGKILL")


def _batch_args(dataset, out, url, *extra):
    return [*run_args(dataset, out, url), "--batch-api", *extra]


@pytest.mark.parametrize("per_batch", [50000, 5])
def test_wait_with_batches_that_keep_expiring_ends(per_batch, dataset, tmp_path):
    """Every batch expires unrun: the requests are sent again at most 3 times in one invocation, then the
    run ends with a note (before the fix it uploaded new batches without end)."""
    with FakeOpenAIServer(batch_auto="expire") as srv:
        proc = cli(*_batch_args(dataset, tmp_path / "out", srv.base_url, "--wait", "--poll-s", "0.05",
                                "--batch-max-requests", per_batch), timeout=120)
        sent = collections.Counter(cid for _, cid, _ in srv.batches.submitted)
    assert proc.returncode == 1, proc.stderr                  # not everything was answered
    assert len(sent) == 16 and set(sent.values()) == {3}, sent
    assert "16 requests came back unrun from 3 failed, expired or cancelled batches" in proc.stdout


@pytest.mark.parametrize("command", ["run", "batch status"])
def test_wait_is_bounded(command, dataset, tmp_path):
    """A batch that never ends: `--wait-max-s` ends the wait (exit 75: batches still open), nothing resent."""
    out = tmp_path / "out"
    with FakeOpenAIServer() as srv:                    # batches stay "validating"
        assert cli(*_batch_args(dataset, out, srv.base_url)).returncode == 75
        wait = ["--wait", "--poll-s", "0.05", "--wait-max-s", "0.5"]
        if command == "run":
            proc = cli(*_batch_args(dataset, out, srv.base_url, *wait), timeout=120)
        else:
            proc = cli("batch", "status", out, *wait, timeout=120)
        assert proc.returncode == 75, proc.stdout + proc.stderr
        assert len(srv.batches.submitted) == 16
    if command == "run":
        assert "stopped waiting after" in proc.stdout


def _killed_during_upload(srv, step, args) -> None:
    srv.batches.hold(step)
    proc = subprocess.Popen([sys.executable, "-m", "mmad_eval", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={**os.environ, "OPENAI_API_KEY": "EMPTY"})
    try:
        assert srv.batches.reached(step, timeout=60), proc.communicate(timeout=5)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        srv.batches.release(step, drop=step.endswith("_before"))
    assert srv.batches.idle()


@pytest.mark.parametrize("step,then", [("upload_before", "batch"), ("upload_after", "live")])
def test_upload_killed_against_a_server_that_cannot_list_files(step, then, dataset, tmp_path):
    """The job is left "preparing" and the server cannot say whether the file arrived: the job is abandoned
    (no batch was ever made from it, a file alone is not billed) and its requests are asked once, in a new
    batch or live. Before the fix every batch command failed and a live run skipped them forever."""
    out = tmp_path / "out"
    with FakeOpenAIServer() as srv:
        srv.batches.can_list_files = False
        _killed_during_upload(srv, step, _batch_args(dataset, out, srv.base_url))
        assert srv.batches.ids() == []
        if then == "batch":
            again = cli(*_batch_args(dataset, out, srv.base_url))
            assert again.returncode == 75, again.stdout + again.stderr
            for b in srv.batches.ids():
                srv.batches.complete(b)
            assert cli(*_batch_args(dataset, out, srv.base_url)).returncode == 0
        else:
            live = cli(*run_args(dataset, out, srv.base_url))
            assert live.returncode == 0 and "asked 16" in live.stdout, live.stdout + live.stderr
        status = cli("batch", "status", out)
        assert status.returncode == 0 and "abandoned" in status.stdout, status.stdout + status.stderr
        sent = collections.Counter(cid for _, cid, _ in srv.batches.submitted)
        live_asked = srv.count
    assert (len(sent), live_asked) == ((16, 0) if then == "batch" else (0, 16))
    assert set(sent.values()) <= {1}                                   # nothing submitted twice
    with sqlite3.connect(out / "mmad-eval.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM requests WHERE status = 'ok'").fetchone()[0] == 16


@pytest.mark.parametrize("step", ["create_before", "create_after"])
def test_create_killed_against_a_server_that_cannot_list_batches(step, dataset, tmp_path):
    """Killed around the create on a server that cannot list batches: whether the batch exists cannot be
    known, so nothing is created again; the line names `batch cancel`, which gives the job up (its requests
    stored as errors), and only --retry-failed sends them again. Each request is sent at most once unasked."""
    out = tmp_path / "out"
    with FakeOpenAIServer() as srv:
        srv.batches.can_list_batches = False
        _killed_during_upload(srv, step, _batch_args(dataset, out, srv.base_url))
        made = len(srv.batches.ids())
        stuck = cli(*_batch_args(dataset, out, srv.base_url))
        assert stuck.returncode == 2 and "batch cancel" in stuck.stderr, stuck.stdout + stuck.stderr
        assert len(srv.batches.ids()) == made                            # nothing created again
        cancel = cli("batch", "cancel", out)
        assert cancel.returncode == 0, cancel.stdout + cancel.stderr
        after = cli(*_batch_args(dataset, out, srv.base_url))
        assert after.returncode in (0, 1) and "16 earlier errors kept" in after.stdout, after.stdout + after.stderr
        assert len(srv.batches.ids()) == made and srv.count == 0         # nothing sent again unasked
        again = cli(*_batch_args(dataset, out, srv.base_url, "--retry-failed"))
        assert again.returncode == 75, again.stdout + again.stderr
        sent = collections.Counter(cid for _, cid, _ in srv.batches.submitted)
    assert made == (1 if step == "create_after" else 0)
    assert len(sent) == 16 and set(sent.values()) == {made + 1}
