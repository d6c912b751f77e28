"""Secrets never reach a file or the terminal; a wrong key / unknown model stops the run after one reply."""
from __future__ import annotations

import json
import sqlite3

import pytest

from fault_helpers import cli, one_error_line, run_args, dataset  # noqa: F401 (fixtures)

from mmad_eval.redact import redact, redact_url, register_secret
from mmad_eval.testing.openai_server import Fault, FakeOpenAIServer


def _everything_written(out) -> bytes:
    return b"".join(p.read_bytes() for p in out.rglob("*") if p.is_file())


def test_short_key_echoed_by_a_401_is_never_stored_or_printed_and_nothing_more_is_sent(dataset, tmp_path):
    key = "sk-a1b2c3d"      # 10 characters: the server echoes "sk-a1b" + "2c3d"
    out = tmp_path / "out"
    with FakeOpenAIServer(faults=lambda i, body: Fault("auth")) as srv:
        proc = cli(*run_args(dataset, out, srv.base_url), env={"OPENAI_API_KEY": key})
        sent = srv.count
    line = one_error_line(proc)
    assert sent <= 2                          # the requests in flight at the first 401 (concurrency 2), no more
    assert "401" in line and "OPENAI_API_KEY" in line and "nothing more was sent" in line
    for fragment in (key, key[:6], key[-4:], "a1b2", "2c3d"):
        assert fragment not in proc.stdout + proc.stderr
        assert fragment.encode() not in _everything_written(out)
    with sqlite3.connect(out / "mmad-eval.sqlite") as db:   # the 401 is not stored: the rerun asks it
        assert db.execute("SELECT COUNT(*) FROM requests").fetchone()[0] == 0
        record = json.loads(db.execute("SELECT record FROM runs").fetchone()[0])
    assert record["invocation_log"][0]["outcome"] == "stopped: BackendStopped"


def test_api_key_env_is_named_in_the_stop_line(dataset, tmp_path):
    with FakeOpenAIServer(faults=lambda i, body: Fault("auth")) as srv:
        proc = cli(*run_args(dataset, tmp_path / "o", srv.base_url, "--api-key-env", "MY_KEY"),
                   env={"MY_KEY": "abc"})
    line = one_error_line(proc)
    assert "MY_KEY" in line and "abc" not in line.split("error:", 1)[1].replace("[redacted]", "")


def test_secret_query_parameters_of_the_base_url_are_not_recorded(dataset, tmp_path):
    out = tmp_path / "out"
    with FakeOpenAIServer() as srv:
        url = srv.base_url + "?api-key=SeCrEt123&deployment=x"
        proc = cli(*run_args(dataset, out, url))
    assert proc.returncode == 0, proc.stderr
    data = _everything_written(out)
    assert b"SeCrEt123" not in data and b"SeCrEt123" not in (proc.stdout + proc.stderr).encode()
    assert b"deployment=x" in data            # the harmless part is kept


def test_redaction_of_fragments_whatever_the_key_length():
    for key in ("k3y", "sk-12345", "sk-abcdefghij", "sk-proj-" + "Z" * 40):
        register_secret(key)
        shown = f"{key[:6]}{'*' * max(0, len(key) - 10)}{key[-4:]}"
        text = redact(f"Incorrect API key provided: {shown}. See https://x/?token=abc&user=me")
        assert key[:3] not in text.replace("[redacted]", "") or len(key) < 4
        assert key[-3:] not in text and "abc" not in text and "user=me" in text
    assert redact_url("https://u:pw@h/v1?key=1&x=2") == "https://h/v1?key=%5Bredacted%5D&x=2" or \
        "pw" not in redact_url("https://u:pw@h/v1?key=1&x=2")


@pytest.mark.parametrize("kind, status, fix", [("forbidden", "403", "OPENAI_API_KEY"),
                                               ("unknown_model", "404", "model name")])
def test_permission_or_unknown_model_stops_after_the_first_reply(dataset, tmp_path, kind, status, fix):
    with FakeOpenAIServer(faults=lambda i, body: Fault(kind)) as srv:
        proc = cli(*run_args(dataset, tmp_path / "out", srv.base_url))
        sent = srv.count
    line = one_error_line(proc)
    assert sent <= 2 and status in line and fix in line and "nothing more was sent" in line

