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
