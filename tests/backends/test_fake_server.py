"""The fake OpenAI server speaks the real protocol (checked with the real openai client)."""
import asyncio

import openai
import pytest
from openai import AsyncOpenAI

from mmad_eval.testing import FakeOpenAIServer, Fault, option_letters

MSGS = [{"role": "user", "content": [{"type": "text", "text": "Is it defective?\nA. Yes\nB. No\nC. Maybe"},
                                     {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}]


def run(coro):
    return asyncio.run(coro)


async def _call(srv, n=1, timeout=5.0, **kw):
    c = AsyncOpenAI(base_url=srv.base_url, api_key="k", max_retries=0, timeout=timeout)
    try:
        out = []
        for _ in range(n):
            try:
                out.append(await c.chat.completions.create(model="m", messages=MSGS, **kw))
            except Exception as e:  # noqa: BLE001 - the test inspects the type
                out.append(e)
        return out
    finally:
        await c.close()


def test_default_answer_is_a_shown_letter_and_deterministic():
    with FakeOpenAIServer() as srv:
        a, b = run(_call(srv, 2))
        assert a.choices[0].message.content == b.choices[0].message.content
        assert a.choices[0].message.content in {"A", "B", "C"}
        assert a.usage.prompt_tokens > 85 and a.usage.completion_tokens == 1
        assert option_letters(srv.requests[0]) == ["A", "B", "C"]
        assert srv.requests[0]["messages"][0]["content"][1]["image_url"]["url"].startswith("data:image/png")
        assert srv.headers[0]["authorization"] == "Bearer k"


def test_logprobs_cover_the_letters():
    with FakeOpenAIServer(responder=lambda body: "B") as srv:
        (r,) = run(_call(srv, logprobs=True, top_logprobs=20))
        top = {t.token: t.logprob for t in r.choices[0].logprobs.content[0].top_logprobs}
        assert set(top) == {"A", "B", "C"} and max(top, key=top.get) == "B"


def test_scripted_faults_in_order():
    faults = [Fault("rate_limit", retry_after=2), Fault("server_error"), Fault("bad_request"), Fault("malformed"),
              Fault("refusal"), Fault("content_filter"), None]
    with FakeOpenAIServer(faults=faults) as srv:
        res = run(_call(srv, len(faults)))
        assert isinstance(res[0], openai.RateLimitError) and res[0].response.headers["retry-after"] == "2"
        assert isinstance(res[1], openai.InternalServerError)
        assert isinstance(res[2], openai.BadRequestError)
        assert isinstance(res[3], ValueError)  # body is not JSON
        assert res[4].choices[0].message.refusal and res[4].choices[0].message.content is None
        assert res[5].choices[0].finish_reason == "content_filter"
        assert res[6].choices[0].message.content in {"A", "B", "C"}
        assert srv.status_counts == {429: 1, 500: 1, 400: 1, 200: 4}


def test_hang_times_out_the_client_and_close_releases_it():
    with FakeOpenAIServer(faults=lambda i, body: Fault("hang", hang_s=30)) as srv:
        (err,) = run(_call(srv, timeout=0.3))
        assert isinstance(err, openai.APITimeoutError)


def test_64_in_flight():
    async def many(srv):
        c = AsyncOpenAI(base_url=srv.base_url, api_key="k", max_retries=0, timeout=10)
        try:
            return await asyncio.gather(*[c.chat.completions.create(model="m", messages=MSGS) for _ in range(64)])
        finally:
            await c.close()

    with FakeOpenAIServer(latency_s=0.2) as srv:
        res = run(many(srv))
        assert len(res) == 64 and srv.count == 64
        assert srv.max_in_flight > 16   # really concurrent, not serialised


def test_models_endpoint():
    async def models(srv):
        c = AsyncOpenAI(base_url=srv.base_url, api_key="k", max_retries=0)
        try:
            return [m.id for m in (await c.models.list()).data]
        finally:
            await c.close()

    with FakeOpenAIServer(model="served") as srv:
        assert run(models(srv)) == ["served"]


def test_unknown_fault_kind_rejected():
    with pytest.raises(ValueError):
        Fault("explode")


def test_server_log_times_each_reply_and_can_drop_bodies():
    with FakeOpenAIServer(latency_s=0.05, keep_bodies=False) as srv:
        out = run(_call(srv, 2))
        assert all(not isinstance(r, Exception) for r in out)
        assert srv.count == 2 and srv.requests == []          # counted, bodies not kept
        assert len(srv.arrivals) == len(srv.replies) == 2
        assert all(r - a >= 0.05 for a, r in zip(srv.arrivals, srv.replies))
