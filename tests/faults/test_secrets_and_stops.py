"""Secrets never reach a file or the terminal; a wrong key / unknown model stops the run after one reply."""
from __future__ import annotations

import contextlib
import json
import sqlite3

import pytest
from hypothesis import given, settings, strategies as st

from fault_helpers import cli, one_error_line, run_args, dataset  # noqa: F401 (fixtures)

from mmad_eval import redact as redact_module
from mmad_eval.redact import redact, redact_url, register_secret
from mmad_eval.testing.openai_server import Fault, FakeOpenAIServer


@contextlib.contextmanager
def registered(key):
    """``key`` registered as a secret of this test only (the registry is process-wide)."""
    register_secret(key)
    try:
        yield
    finally:
        redact_module._SECRETS.discard(key)


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



@pytest.mark.parametrize("query, body, fault", [
    ("?subscription-key=SubKey77x&api-version=2024-10-21", {"api_key": "BodyKey88y", "top_k": 5}, None),
    ("?sig=SigVal99z&code=CodeVal11w&access_token=AccTok22v&deployment=d",
     {"nested": {"x-api-key": "Deep33u", "auth": {"token": "Deeper44t"}}, "top_k": 5}, Fault("auth")),
])
def test_secrets_in_the_base_url_and_in_extra_body_are_never_written_or_printed(dataset, tmp_path, query, body,
                                                                                fault):
    out, page = tmp_path / "out", tmp_path / "r.html"
    with FakeOpenAIServer(faults=(lambda i, b: fault)) as srv:
        proc = cli(*run_args(dataset, out, srv.base_url + query, "--backend-option",
                             f"extra_body={json.dumps(body)}"))
        sent = srv.requests
    assert proc.returncode == (2 if fault else 0), proc.stderr
    assert all(b["top_k"] == 5 for b in sent) and sent        # the body is sent as given, secrets included
    if not fault:
        assert cli("report", out, "--out", page, "--no-images").returncode == 0
        assert b'"top_k": 5' in _everything_written(out) and "top_k" in page.read_text()
    written = _everything_written(out) + (page.read_bytes() if page.exists() else b"")
    secrets = [v.split("=")[1] for v in query[1:].split("&") if v[:3] in ("sub", "sig", "cod", "acc")]
    secrets += [s for s in ("BodyKey88y", "Deep33u", "Deeper44t") if s in json.dumps(body)]
    assert len(secrets) >= 2
    for s in secrets:
        assert s.encode() not in written and s not in proc.stdout + proc.stderr
    assert b"api-version=2024-10-21" in written or b"deployment=d" in written


@pytest.mark.parametrize("key, host", [("local", "localhost"), ("abc", "abcdef.localtest.me")])
def test_a_short_key_is_redacted_as_a_word_not_inside_longer_words(key, host):
    with registered(key):
        url = f"http://{host}:8000/v1"
        assert redact_url(url) == url
        assert redact(f"Incorrect API key provided: {key}. Bearer {key} ({url})") == \
            f"Incorrect API key provided: [redacted]. Bearer [redacted] ({url})"
        assert redact(f"key {key[:6]}{key[-4:]} echoed") == "key [redacted] echoed"     # OpenAI's echo


@settings(derandomize=True, max_examples=200, deadline=None)
@given(key=st.text("abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=3, max_size=7),
       before=st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=6),
       after=st.text("abcdefghijklmnopqrstuvwxyz", max_size=6))
def test_short_keys_vanish_as_words_and_longer_words_survive(key, before, after):
    with registered(key):
        _check_short_key(key, before, after)


def _check_short_key(key, before, after):
    text = f"see {key} and {before}{key}{after}!"
    got = redact(text)
    assert f" {key} " not in got and got.startswith("see [redacted] and ")
    rest = f"{before}{key}{after}"
    for piece in sorted({key} | {key[:k] for k in range(min(4, len(key)), len(key) + 1)}
                        | {key[-k:] for k in range(min(4, len(key)), len(key) + 1)}, key=len, reverse=True):
        rest = rest.replace(piece, "")
    if any(c.isalnum() for c in rest):       # a longer word that holds the key is kept whole
        assert got.endswith(f"{before}{key}{after}!")
