"""The fake server's Files and Batch API, driven by the real ``openai`` client."""
import json

import pytest
from openai import NotFoundError, OpenAI

from mmad_eval.testing.openai_server import FakeOpenAIServer


def _line(cid: str, text: str = "Is it broken?\nA. Yes\nB. No") -> dict:
    return {"custom_id": cid, "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": "m", "messages": [{"role": "user", "content": text}], "max_completion_tokens": 8}}


def _jsonl(lines) -> bytes:
    return "".join(json.dumps(x) + "\n" for x in lines).encode()


@pytest.fixture()
def srv():
    with FakeOpenAIServer() as s:
        yield s


def _client(srv):
    return OpenAI(base_url=srv.base_url, api_key="k", max_retries=0)


def _batch(client, lines, **meta):
    f = client.files.create(file=("in.jsonl", _jsonl(lines)), purpose="batch")
    return client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h",
                                 metadata=meta or None)


def test_files_upload_list_retrieve_content(srv):
    c = _client(srv)
    data = _jsonl([_line("a"), _line("b")])
    f = c.files.create(file=("job-1.jsonl", data), purpose="batch")
    assert (f.filename, f.bytes, f.purpose) == ("job-1.jsonl", len(data), "batch")
    assert c.files.retrieve(f.id).id == f.id
    assert [x.filename for x in c.files.list(purpose="batch")] == ["job-1.jsonl"]
    assert c.files.content(f.id).content == data
    with pytest.raises(NotFoundError):
        c.files.retrieve("file-nope")


def test_batch_states_and_output_lines_match_live_answers(srv):
    c = _client(srv)
    lines = [_line("a"), _line("b", "Which defect?\nA. Scratch\nB. Hole\nC. Stain")]
    b = _batch(c, lines, job="j1")
    assert (b.status, b.request_counts.total, b.metadata) == ("validating", 2, {"job": "j1"})
    srv.batches.start(b.id)
    assert c.batches.retrieve(b.id).status == "in_progress"
    srv.batches.complete(b.id)
    done = c.batches.retrieve(b.id)
    assert done.status == "completed" and done.request_counts.completed == 2 and done.error_file_id is None
    out = [json.loads(x) for x in c.files.content(done.output_file_id).content.splitlines()]
    assert [x["custom_id"] for x in out] == ["a", "b"]
    live = [c.chat.completions.create(**x["body"]).choices[0].message.content for x in lines]
    assert [x["response"]["body"]["choices"][0]["message"]["content"] for x in out] == live
    assert all(x["response"]["status_code"] == 200 and x["error"] is None for x in out)


def test_expired_batch_has_error_lines_for_what_it_never_ran(srv):
    c = _client(srv)
    b = _batch(c, [_line(str(i)) for i in range(5)])
    srv.batches.expire(b.id, answered=2)
    got = c.batches.retrieve(b.id)
    assert got.status == "expired" and got.request_counts.completed == 2 and got.request_counts.failed == 3
    err = [json.loads(x) for x in c.files.content(got.error_file_id).content.splitlines()]
    assert [(x["custom_id"], x["response"], x["error"]["code"]) for x in err] == \
        [(str(i), None, "batch_expired") for i in (2, 3, 4)]


def test_cancel_then_cancelled_with_partial_results(srv):
    c = _client(srv)
    b = _batch(c, [_line(str(i)) for i in range(3)])
    assert c.batches.cancel(b.id).status == "cancelling"
    srv.batches.finish_cancel(b.id, answered=1)
    got = c.batches.retrieve(b.id)
    assert got.status == "cancelled" and got.output_file_id and got.error_file_id


def test_line_errors_go_to_the_error_file_with_their_status():
    with FakeOpenAIServer(batch_line_errors=lambda cid, body: 400 if cid == "bad" else None) as srv:
        c = _client(srv)
        b = _batch(c, [_line("ok"), _line("bad")])
        srv.batches.complete(b.id)
        got = c.batches.retrieve(b.id)
        err = json.loads(c.files.content(got.error_file_id).content)
        assert err["custom_id"] == "bad" and err["response"]["status_code"] == 400
        assert got.request_counts.completed == 1 and got.request_counts.failed == 1


def test_duplicate_custom_ids_fail_validation(srv):
    b = _batch(_client(srv), [_line("x"), _line("x")])
    assert b.status == "failed" and b.errors.data[0].code == "invalid_request"


def test_auto_mode_moves_one_state_per_retrieve_and_list_pages():
    with FakeOpenAIServer(batch_auto=True) as srv:
        c = _client(srv)
        b = _batch(c, [_line("a")])
        seen = [c.batches.retrieve(b.id).status for _ in range(3)]
        assert seen == ["in_progress", "finalizing", "completed"]
        ids = {_batch(c, [_line("a")]).id for _ in range(3)} | {b.id}
        page = c.batches.list(limit=2)
        assert len(page.data) == 2 and page.has_more
        assert {x.id for x in c.batches.list(limit=2)} == ids        # auto-pagination over the cursor
