"""Batch API result files from a hostile or broken server: a line far larger than any reply, a file that never
ends, a file trickled a byte at a time. The download is streamed and bounded (``max_reply_bytes`` per line,
that times the job's requests per file, ``batch_download_timeout_s`` for a whole file): what fits is stored,
a line over the cap is its request's ``reply_too_large`` error, the requests a cut-off file leaves without a
result are ``batch_result_cut_off`` errors (never sent again unasked: they were run, and billed), and one note
names the file and the server."""
from __future__ import annotations

import collections
import os
import sqlite3

import pytest

from fault_helpers import cli, run_args, dataset  # noqa: F401 (fixtures)

from mmad_eval.testing.batch_server import HostileOutput
from mmad_eval.testing.openai_server import FakeOpenAIServer

pytestmark = pytest.mark.skipif(os.name != "posix", reason="real processes and sockets")


def _rows(out) -> dict[str, tuple]:
    with sqlite3.connect(out / "mmad-eval.sqlite") as db:
        return {k: (s, t, e, len(x or "")) for k, s, t, e, x in
                db.execute("SELECT key, status, error_type, error_message, text FROM requests")}


def _run(dataset, out, url, *options):
    extra = [x for o in options for x in ("--backend-option", o)]
    return cli(*run_args(dataset, out, url, "--batch-api", "--wait", "--poll-s", "0.05", *extra), timeout=180)


@pytest.mark.parametrize("at", [0, 7])
def test_a_result_line_over_the_cap_is_its_requests_error(at, dataset, tmp_path):
    """One line carries a 3 MB reply, max_reply_bytes is 1 MB: that request gets ``reply_too_large`` (nothing
    of it stored), the 15 others their answers; one note names the file and the server."""
    out = tmp_path / "out"
    with FakeOpenAIServer(batch_auto=True) as srv:
        srv.batches.hostile_output = HostileOutput("huge_line", size=3_000_000, after=at)
        proc = _run(dataset, out, srv.base_url, "max_reply_bytes=1000000")
        sent = collections.Counter(cid for _, cid, _ in srv.batches.submitted)
        base = srv.base_url
    rows = _rows(out)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    bad = [k for k, r in rows.items() if r[0] == "error"]
    assert len(rows) == 16 and len(bad) == 1 and rows[bad[0]][1] == "reply_too_large", rows
    assert "max_reply_bytes=1,000,000" in rows[bad[0]][2] and rows[bad[0]][3] == 0
    assert all(r[3] < 100 for r in rows.values())                  # no 3 MB text stored anywhere
    notes = [x for x in proc.stdout.splitlines() if "larger than max_reply_bytes" in x]
    assert len(notes) == 1 and base in notes[0] and "file-" in notes[0], proc.stdout
    assert "failed 1" in proc.stdout and set(sent.values()) == {1}


@pytest.mark.parametrize("after", [0, 5])
def test_an_output_file_that_never_ends_is_cut_off_and_nothing_is_sent_again(after, dataset, tmp_path):
    """The output file streams blank lines without end after ``after`` good lines: the download stops at
    16 x (max_reply_bytes + envelope); the good lines are stored, the 16 - after others are
    ``batch_result_cut_off`` errors (run and billed: not sent again unasked). Before: the download never ended."""
    out = tmp_path / "out"
    with FakeOpenAIServer(batch_auto=True) as srv:
        srv.batches.hostile_output = HostileOutput("endless", after=after)
        proc = _run(dataset, out, srv.base_url, "max_reply_bytes=50000")
        again = _run(dataset, out, srv.base_url, "max_reply_bytes=50000")
        sent = collections.Counter(cid for _, cid, _ in srv.batches.submitted)
    rows = _rows(out)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    kinds = collections.Counter(r[1] for r in rows.values())
    assert kinds == collections.Counter({None: after, "batch_result_cut_off": 16 - after}), rows
    assert "was cut off" in proc.stdout and "file-" in proc.stdout, proc.stdout
    assert f"failed {16 - after}" in proc.stdout
    assert len(sent) == 16 and set(sent.values()) == {1}            # the rerun sent nothing again
    assert f"{16 - after} earlier errors kept" in again.stdout, again.stdout


def test_an_output_file_trickled_a_byte_at_a_time_ends_at_the_download_deadline(dataset, tmp_path):
    """Each byte comes 20 ms apart: the whole-file deadline (batch_download_timeout_s=2) ends the download; what
    arrived whole is stored, the rest are ``batch_result_cut_off`` errors."""
    out = tmp_path / "out"
    with FakeOpenAIServer(batch_auto=True) as srv:
        srv.batches.hostile_output = HostileOutput("trickle", interval_s=0.02)
        proc = _run(dataset, out, srv.base_url, "batch_download_timeout_s=2")
    rows = _rows(out)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    kinds = collections.Counter(r[1] for r in rows.values())
    assert kinds["batch_result_cut_off"] >= 14 and sum(kinds.values()) == 16, rows   # ~100 bytes arrive in 2 s
    assert "not complete within 2 s" in proc.stdout, proc.stdout


def test_the_download_caps_are_recorded_with_the_run(dataset, tmp_path):
    out = tmp_path / "out"
    with FakeOpenAIServer(batch_auto=True) as srv:
        proc = _run(dataset, out, srv.base_url, "batch_download_timeout_s=30", "max_reply_bytes=70000")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    import json
    with sqlite3.connect(out / "mmad-eval.sqlite") as db:
        record = json.loads(db.execute("SELECT record FROM runs").fetchone()[0])
    transport = record["backend"]["transport"]
    assert (transport["batch_download_timeout_s"], transport["max_reply_bytes"]) == (30.0, 70000)
