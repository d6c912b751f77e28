"""Batch API format and client: input lines carry the live body; result lines become the live Responses."""
import json

import pytest

from backend_helpers import make_registry, make_request, run_backend
from mmad_eval.backends.base import GenerationSettings
from mmad_eval.backends.openai_api import OpenAIBackend
from mmad_eval.backends.openai_batch import (ENDPOINT, BatchAPI, BatchAPIError, BatchLimits, ChunkFile, batch_line,
                                             parse_lines, result_response)
from mmad_eval.testing import FakeOpenAIServer


def _backend(srv, reg, **gen):
    return OpenAIBackend("m-test", GenerationSettings(logprobs=True, **gen), reg, base_url=srv.base_url,
                         api_key="sk-secret-123456789")


def test_line_is_the_live_body_and_results_equal_live_responses(image_files):
    reg = make_registry(max_side=16)
    req = make_request(reg, images=image_files[:2])
    with FakeOpenAIServer() as srv:
        b = _backend(srv, reg, temperature=0.2, seed=3)
        live = run_backend(b, [("k1", req)])["k1"]
        sent = srv.requests[0]
        line = json.loads(batch_line("k1", b.request_body("k1", req)))
        assert line == {"custom_id": "k1", "method": "POST", "url": ENDPOINT, "body": sent}
        out = {"id": "r1", "custom_id": "k1", "error": None,
               "response": {"status_code": 200, "request_id": "x", "body": srv.completion(1, sent, None)}}
    got = result_response(out, ("A", "B"))
    assert (got.text, got.error_type, got.prompt_tokens, got.completion_tokens) == \
        (live.text, None, live.prompt_tokens, live.completion_tokens)
    assert got.letter_logprobs == live.letter_logprobs and got.letter_logprobs


@pytest.mark.parametrize("status,code,kind", [(400, None, "bad_request"), (429, "rate_limit_exceeded", "rate_limit"),
                                              (429, "insufficient_quota", "quota"), (500, None, "server_error"),
                                              (401, "invalid_api_key", "auth")])
def test_failed_lines_become_typed_errors(status, code, kind):
    line = {"custom_id": "k", "error": None, "response": {"status_code": status, "request_id": "r", "body": {
        "error": {"message": "nope sk-secret-123456789", "type": "invalid_request_error", "code": code}}}}
    r = result_response(line, (), api_key="sk-secret-123456789")
    assert r.error_type == kind and r.text is None and f"HTTP {status}" in r.error_message
    assert "secret" not in r.error_message


def test_never_run_lines_are_none_and_other_errors_typed():
    assert result_response({"custom_id": "k", "response": None,
                            "error": {"code": "batch_expired", "message": "m"}}, ()) is None
    assert result_response({"custom_id": "k", "response": None,
                            "error": {"code": "batch_cancelled", "message": "m"}}, ()) is None
    assert result_response({"custom_id": "k", "response": None,
                            "error": {"code": "request_timeout", "message": "m"}}, ()).error_type == "timeout"
    assert result_response({"custom_id": "k"}, ()).error_type == "malformed_response"


def test_parse_lines_skips_blank_and_broken_lines():
    raw = [b'{"custom_id": "a"}', b"", b"{broken", b'{"no_id": 1}', b'{"custom_id": "b"}']
    assert [x["custom_id"] for x in parse_lines(raw)] == ["a", "b"]


def test_chunk_file_limits_by_requests_and_bytes():
    c = ChunkFile(BatchLimits(max_requests=2, max_bytes=100))
    line = b"x" * 40
    assert c.fits(line)
    c.add("a", line)
    c.add("b", line)
    assert not c.fits(line)                     # request limit
    c2 = ChunkFile(BatchLimits(max_requests=10, max_bytes=100))
    c2.add("a", line)
    c2.add("b", line)
    assert not c2.fits(line) and c2.fits(b"y" * 20)   # byte limit, exact fit allowed
    c.file.seek(0)
    assert c.file.read() == line * 2
    c.close()
    c2.close()


def test_api_upload_create_find_and_errors_name_the_call_without_the_key():
    with FakeOpenAIServer() as srv:
        api = BatchAPI(srv.base_url, "sk-secret-123456789")
        c = ChunkFile(BatchLimits())
        c.add("k", batch_line("k", {"model": "m", "messages": [{"role": "user", "content": "A. x"}]}))
        fid = api.upload("mmad-eval-j1.jsonl", c.file)
        assert api.find_file("mmad-eval-j1.jsonl", since=0) == fid and api.find_file("other.jsonl", 0) is None
        made = api.create(fid, "j1", "run")
        assert api.find_batch("j1", since=0)["id"] == made["id"] and api.find_batch("j2", 0) is None
        assert api.retrieve(made["id"])["status"] == "validating"
        with pytest.raises(BatchAPIError) as e:
            api.retrieve("batch_nope")
        assert "retrieve" in str(e.value) and "404" in str(e.value) and "secret" not in str(e.value)
