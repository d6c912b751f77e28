"""OpenAIBackend against the fake server over real HTTP: payload, recording, retries, faults, limits."""
import base64
import io
import json

import pytest
from PIL import Image

from backend_helpers import make_registry, make_request, run_backend
from mmad_eval.backends.base import GenerationSettings
from mmad_eval.backends.openai_api import OpenAIBackend, retry_after_s
from mmad_eval.errors import ConfigError
from mmad_eval.testing import FakeOpenAIServer, Fault

FAST = {"backoff_s": 0.01, "backoff_max_s": 0.05, "timeout": 5.0}


def backend(srv, gen=None, registry=None, **opts):
    urls = opts.pop("base_url", None) or srv.base_url
    return OpenAIBackend("m-test", gen or GenerationSettings(), registry or make_registry(),
                         base_url=urls, api_key="sk-secret-123", **{**FAST, **opts})


def test_payload_carries_images_settings_and_extra_body(image_files):
    reg = make_registry(detail="high", max_side=16)
    gen = GenerationSettings(temperature=0.3, max_tokens=7, seed=11, top_p=0.9)
    with FakeOpenAIServer() as srv:
        b = backend(srv, gen, reg, extra_body={"top_k": 5})
        req = make_request(reg, images=image_files[:2], system="You are an inspector.")
        got = run_backend(b, [("k1", req)])
        body = srv.requests[0]
    assert body["model"] == "m-test" and body["temperature"] == 0.3 and body["seed"] == 11
    assert body["max_completion_tokens"] == 7 and "max_tokens" not in body and body["top_p"] == 0.9
    assert body["top_k"] == 5                       # extra_body is merged into the JSON body
    assert body["messages"][0] == {"role": "system", "content": "You are an inspector."}
    parts = body["messages"][1]["content"]
    assert [p["type"] for p in parts] == ["image_url", "image_url", "text"]
    assert all(p["image_url"]["detail"] == "high" for p in parts[:2])
    url = parts[0]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    img = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert max(img.size) == 16                      # max_side applied before encoding
    assert "logprobs" not in body
    r = got["k1"]
    assert r.ok and r.text in {"A", "B"} and r.attempts == 1
    words = len("You are an inspector. Is there a defect?\nA. Yes\nB. No".split())
    assert r.prompt_tokens == words + 2 * 85          # the server's usage, as recorded
    assert r.completion_tokens == 1 and r.latency_s is not None and r.latency_s >= 0
    assert r.extra["endpoint"] == srv.base_url


def test_max_tokens_field_option_and_images_encoded_once(image_files):
    reg = make_registry()
    with FakeOpenAIServer() as srv:
        b = backend(srv, registry=reg, token_field="max_tokens")
        items = [(f"k{i}", make_request(reg, text=f"Q{i}?\nA. x\nB. y", images=image_files[:2])) for i in range(6)]
        run_backend(b, items)
        assert all(body["max_tokens"] == 128 and "max_completion_tokens" not in body for body in srv.requests)
    assert reg.encodes == 2


def test_logprobs_requested_and_mapped_to_letters(image_files):
    reg = make_registry()
    with FakeOpenAIServer(responder=lambda body: "B") as srv:
        b = backend(srv, GenerationSettings(logprobs=True), reg)
        req = make_request(reg, text="Which?\nA. a\nB. b\nC. c", letters=("A", "B", "C"))
        r = run_backend(b, [("k", req)])["k"]
        assert srv.requests[0]["logprobs"] is True and srv.requests[0]["top_logprobs"] == 20
    assert set(r.letter_logprobs) == {"A", "B", "C"}
    assert max(r.letter_logprobs, key=r.letter_logprobs.get) == "B"


def test_429_retry_after_is_honoured_and_recorded():
    with FakeOpenAIServer(faults=[Fault("rate_limit", retry_after=0.2), Fault("rate_limit", retry_after=0.3)]) as srv:
        r = run_backend(backend(srv), [("k", make_request(make_registry()))])["k"]
        assert srv.count == 3 and srv.status_counts == {429: 2, 200: 1}
    assert r.ok and r.attempts == 3
    # waited what the server asked (plus at most 10% of backoff_s jitter), not the tiny exponential backoff
    assert 0.5 <= r.extra["retry_wait_s"] <= 0.5 + 2 * 0.1 * FAST["backoff_s"]


def test_500_then_success():
    with FakeOpenAIServer(faults=[Fault("server_error")]) as srv:
        r = run_backend(backend(srv), [("k", make_request(make_registry()))])["k"]
        assert srv.count == 2
    assert r.ok and r.attempts == 2 and r.error_type is None


def test_400_is_not_retried():
    with FakeOpenAIServer(faults=lambda i, body: Fault("bad_request")) as srv:
        r = run_backend(backend(srv), [("k", make_request(make_registry()))])["k"]
        assert srv.count == 1
    assert not r.ok and r.text is None and r.error_type == "bad_request" and r.attempts == 1
    assert "400" in r.error_message


def test_timeout_becomes_error_after_all_attempts():
    with FakeOpenAIServer(faults=lambda i, body: Fault("hang", hang_s=10)) as srv:
        r = run_backend(backend(srv, timeout=0.2, max_attempts=3), [("k", make_request(make_registry()))])["k"]
        assert srv.count == 3
    assert r.error_type == "timeout" and r.attempts == 3 and r.text is None


def test_malformed_body_is_an_error_not_text():
    with FakeOpenAIServer(faults=lambda i, body: Fault("malformed")) as srv:
        r = run_backend(backend(srv, max_attempts=2), [("k", make_request(make_registry()))])["k"]
        assert srv.count == 2
    assert r.error_type == "malformed_response" and r.text is None and r.attempts == 2


@pytest.mark.parametrize("kind", ["refusal", "content_filter"])
def test_refusal_is_an_error(kind):
    with FakeOpenAIServer(faults=[Fault(kind)]) as srv:
        r = run_backend(backend(srv), [("k", make_request(make_registry()))])["k"]
        assert srv.count == 1
    assert r.error_type == "refusal" and r.text is None and r.attempts == 1


def test_round_robin_over_two_servers():
    with FakeOpenAIServer() as a, FakeOpenAIServer() as b:
        reg = make_registry()
        be = backend(a, base_url=[a.base_url, b.base_url], registry=reg)
        got = run_backend(be, [(f"k{i}", make_request(reg, text=f"Q{i}\nA. y\nB. n")) for i in range(10)])
        assert a.count == 5 and b.count == 5
    assert {r.extra["endpoint"] for r in got.values()} == {a.base_url, b.base_url}


def test_concurrency_limit_respected_under_load():
    reg = make_registry()
    with FakeOpenAIServer(latency_s=0.03) as srv:
        be = backend(srv, registry=reg, concurrency=4)
        run_backend(be, [(f"k{i}", make_request(reg, text=f"Q{i}\nA. y\nB. n")) for i in range(24)])
        assert srv.count == 24 and 2 <= srv.max_in_flight <= 4


def test_high_concurrency_all_answered():
    reg = make_registry()
    with FakeOpenAIServer(latency_s=0.05) as srv:
        be = backend(srv, registry=reg, concurrency=64)
        got = run_backend(be, [(f"k{i}", make_request(reg, text=f"Q{i}\nA. y\nB. n")) for i in range(128)])
        assert srv.max_in_flight > 16
    assert all(r.ok for r in got.values())


def test_corrupt_image_fails_only_its_request(tmp_path, image_files):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    reg = make_registry()
    with FakeOpenAIServer() as srv:
        got = run_backend(backend(srv, registry=reg), [("bad", make_request(reg, images=[bad])),
                                                        ("good", make_request(reg, images=image_files[:1]))])
        assert srv.count == 1
    assert got["bad"].error_type == "bad_input" and "bad.png" in got["bad"].error_message
    assert got["good"].ok


def test_api_key_never_recorded(monkeypatch):
    with FakeOpenAIServer() as srv:
        be = backend(srv, extra_body={"top_k": 3})
        run_backend(be, [("k", make_request(make_registry()))])
        assert srv.headers[0]["authorization"] == "Bearer sk-secret-123"
    blob = json.dumps(be.describe()) + json.dumps(be.identity())
    assert "sk-secret-123" not in blob
    assert be.identity()["options"] == {"extra_body": {"top_k": 3}}
    assert srv.base_url not in json.dumps(be.identity())      # replicas are transport, not identity
    assert be.describe()["transport"]["base_urls"] == [srv.base_url]


def test_missing_key_for_openai_url_is_a_config_error(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        OpenAIBackend("gpt-4o", GenerationSettings(), make_registry())
    # a local server works with no key at all
    local = OpenAIBackend("m", GenerationSettings(), make_registry(), base_url="http://127.0.0.1:9/v1")
    assert local._api_key == "EMPTY"


def test_env_key_is_used(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-456")
    with FakeOpenAIServer() as srv:
        be = OpenAIBackend("m", GenerationSettings(), make_registry(), base_url=srv.base_url)
        run_backend(be, [("k", make_request(make_registry()))])
        assert srv.headers[0]["authorization"] == "Bearer sk-env-456"
    assert "sk-env-456" not in json.dumps(be.describe())


def test_retry_after_parsing():
    assert retry_after_s({"retry-after": "2"}) == 2.0
    assert retry_after_s({"retry-after-ms": "250"}) == 0.25
    assert retry_after_s({}) is None
    assert retry_after_s({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0  # a date in the past


def test_retry_after_odd_forms():
    # an HTTP date is always GMT, even when the zone is left off
    import email.utils
    import time as _time
    soon = email.utils.formatdate(_time.time() + 30, usegmt=True)
    assert 25 <= retry_after_s({"retry-after": soon}) <= 31
    assert 25 <= retry_after_s({"retry-after": soon.removesuffix(" GMT")}) <= 31
    # a header that is neither seconds nor a date is ignored, never an exception
    assert retry_after_s({"retry-after": "soon"}) is None
    assert retry_after_s({"retry-after-ms": "x", "retry-after": "1.5"}) == 1.5


def test_unparsable_retry_after_falls_back_to_backoff():
    faults = [Fault("rate_limit", headers={"retry-after": "later, please"}), None]
    with FakeOpenAIServer(faults=faults) as srv:
        got = run_backend(backend(srv), [("k", make_request(make_registry()))])
        assert srv.count == 2
    assert got["k"].ok and got["k"].attempts == 2


def test_retry_after_ms_is_honoured_over_retry_after():
    """The HTTP-date form is checked on the parser above (a live date would make this test clock-dependent)."""
    faults = [Fault("rate_limit", headers={"retry-after-ms": "300", "retry-after": "9"})]
    with FakeOpenAIServer(faults=faults) as srv:
        r = run_backend(backend(srv), [("k", make_request(make_registry()))])["k"]
        assert srv.count == 2
    assert r.ok and r.attempts == 2 and 0.3 <= r.extra["retry_wait_s"] < 9


def test_auth_error_stops_everything_and_never_shows_the_key():
    """A 401 (the server echoes the masked key, as OpenAI does) stops the whole batch after the first reply:
    nothing more is sent, nothing is emitted (so a rerun with the right key asks it), no key fragment shown."""
    import asyncio

    from mmad_eval.errors import BackendStopped

    reg = make_registry()
    items = [(f"k{i}", make_request(reg, text=f"Q{i}\nA. y\nB. n")) for i in range(30)]
    got = []
    with FakeOpenAIServer(faults=lambda i, body: Fault("auth")) as srv:
        be = OpenAIBackend("m-test", GenerationSettings(), reg, base_url=srv.base_url,
                           api_key="sk-proj-AbCdEfGh12345678wxyz", concurrency=1, **FAST)
        with pytest.raises(BackendStopped) as err:
            asyncio.run(be.generate(items, got.append))
        assert srv.count == 1
    msg = str(err.value)
    assert got == [] and "401" in msg and "Incorrect API key" in msg and "OPENAI_API_KEY" in msg
    for piece in ("sk-proj-AbCdEfGh12345678wxyz", "sk-pro", "wxyz", "AbCdEf"):
        assert piece not in msg


def test_spent_quota_is_not_retried_like_a_rate_limit():
    with FakeOpenAIServer(faults=lambda i, body: Fault("quota")) as srv:
        r = run_backend(backend(srv), [("k", make_request(make_registry()))])["k"]
        assert srv.count == 1
    assert r.error_type == "quota" and r.attempts == 1 and "quota" in r.error_message


def test_cancelled_run_keeps_emitted_answers_and_stops_sending():
    """Ctrl-C cancels the event loop: what was emitted is complete; nothing is emitted or sent afterwards."""
    import asyncio

    from mmad_eval.backends import http_json

    reg = make_registry()
    items = [(f"k{i}", make_request(reg, text=f"Q{i}\nA. y\nB. n")) for i in range(40)]
    got, posts = [], []
    real_post = http_json.JSONPoster.post

    async def counted_post(self, *args):
        posts.append(1)
        return await real_post(self, *args)

    with FakeOpenAIServer(latency_s=0.05) as srv, pytest.MonkeyPatch.context() as mp:
        mp.setattr(http_json.JSONPoster, "post", counted_post)
        be = backend(srv, registry=reg, concurrency=4)

        async def main():
            task = asyncio.ensure_future(be.generate(items, got.append))
            while len(got) < 6:
                await asyncio.sleep(0.01)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            n_emitted, n_posted = len(got), len(posts)
            await asyncio.sleep(0.3)
            # nothing emitted or posted after the cancel (the server may still be reading what was posted)
            assert len(got) == n_emitted and len(posts) == n_posted and srv.count <= n_posted
            assert not [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]

        asyncio.run(main())
    assert 6 <= len(got) < 40 and all(r.ok and r.text for r in got)
    assert len({r.key for r in got}) == len(got)


def test_empty_reply_cut_by_the_token_limit_is_an_error_not_an_answer():
    """A reasoning model that spends max_completion_tokens before answering returns content "" with
    finish_reason "length": a run of those must show as errors naming the cause, not as unparsed answers."""
    with FakeOpenAIServer(responder=lambda body: {"content": "", "finish_reason": "length"}) as srv:
        r = run_backend(backend(srv), [("k", make_request(make_registry()))])["k"]
    assert not r.ok and r.text is None and r.error_type == "empty_response"
    assert "length" in r.error_message and "max_tokens" in r.error_message
    with FakeOpenAIServer(responder=lambda body: {"content": ""}) as srv:   # an empty answer the model chose
        r = run_backend(backend(srv), [("k", make_request(make_registry()))])["k"]
    assert r.ok and r.text == ""


def test_credentials_in_a_base_url_are_not_recorded():
    from mmad_eval.backends.openai_api import OpenAIBackend
    from mmad_eval.backends.base import GenerationSettings
    from mmad_eval.prompt.images import ImageRegistry

    be = OpenAIBackend("m", GenerationSettings(), ImageRegistry(),
                       base_url=["http://alice:s3cret@127.0.0.1:8000/v1", "http://127.0.0.1:8001/v1"])
    text = str(be.describe()) + str(be.identity())
    assert "s3cret" not in text and "alice" not in text
    assert be.describe()["transport"]["base_urls"] == ["http://127.0.0.1:8000/v1", "http://127.0.0.1:8001/v1"]


def test_body_is_encoded_once_per_request_and_resent_unchanged_on_retry(image_files, monkeypatch):
    reg = make_registry()
    req = make_request(reg, images=image_files[:2], text='Quote " and \\ and \u00e9 and \x00mark?\nA. y\nB. n')
    built = []
    with FakeOpenAIServer(faults=[Fault("server_error"), Fault("rate_limit", retry_after=0.01)]) as srv:
        b = backend(srv, registry=reg)
        original = b.body
        monkeypatch.setattr(b, "body", lambda r, urls=None: built.append(r) or original(r, urls))
        got = run_backend(b, [("k", req)])
        bodies = srv.requests
    assert got["k"].ok and got["k"].attempts == 3 and len(built) == 1
    assert bodies[0] == bodies[1] == bodies[2] == json.loads(original(req)) == b.payload(req)


def test_body_of_a_prompt_containing_the_image_mark_is_still_exact(image_files):
    from mmad_eval.backends.openai_api import _IMAGE_MARK

    reg = make_registry()
    b = OpenAIBackend("m", GenerationSettings(), reg, base_url="http://127.0.0.1:9/v1", api_key="k")
    req = make_request(reg, images=image_files[:1], text=f"odd {_IMAGE_MARK} text?\nA. y\nB. n")
    assert json.loads(b.body(req)) == b.payload(req)


def test_first_wave_goes_out_together_once_its_images_are_ready(tmp_path, monkeypatch):
    """Requests are sent as their images are ready; the first ``concurrency`` of them wait for each other,
    so a server sees them arrive together (as from a client with bodies built in advance). Checked on the
    order of events (no post before the wave's last image is made), not on arrival times, which a loaded
    machine spreads."""
    import time

    from mmad_eval.backends import http_json
    from mmad_eval.prompt.images import ImageRegistry

    paths = []
    for i in range(6):     # JPEG files sent as PNG: each is encoded in a thread (small PNGs are sent as they are)
        paths.append(tmp_path / f"img{i}.jpg")
        Image.new("RGB", (16, 16), (i * 40, 40, 80)).save(paths[-1])
    slow, real_post, events = ImageRegistry._encode, http_json.JSONPoster.post, []

    def slow_encode(self, sha):
        if events:              # the first image is quick, the others slow: sent as ready, the first request
            time.sleep(0.2)     # would go out while the second image is still being made
        out = slow(self, sha)
        events.append("image")
        return out

    async def logged_post(self, *args):
        events.append("post")
        return await real_post(self, *args)

    monkeypatch.setattr(ImageRegistry, "_encode", slow_encode)
    monkeypatch.setattr(http_json.JSONPoster, "post", logged_post)
    reg = make_registry()
    items = [(f"k{i}", make_request(reg, text=f"Q{i}\nA. y\nB. n", images=[paths[i]])) for i in range(6)]
    with FakeOpenAIServer(latency_s=0.3) as srv:
        got = run_backend(backend(srv, registry=reg, concurrency=4, prepare_threads=1), items)
    assert all(r.ok for r in got.values())
    assert events.count("image") == 6 and events.count("post") == 6, events
    assert events[:4] == ["image"] * 4, events     # the first four posts wait for the first four images


def test_a_damaged_small_png_made_in_place_fails_only_its_request(tmp_path, image_files):
    img = Image.new("RGB", (16, 16), (3, 4, 5))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    data = buf.getvalue()
    at = data.index(b"IDAT") + 6
    bad = tmp_path / "crc.png"
    bad.write_bytes(data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1:])
    reg = make_registry()
    request = make_request(reg, images=[bad])
    assert reg.quick_to_send(request.images()[0].sha256)        # made on the event loop, not in a thread
    with FakeOpenAIServer() as srv:
        got = run_backend(backend(srv, registry=reg), [("bad", request),
                                                        ("good", make_request(reg, images=image_files[:1]))])
        assert srv.count == 1
    assert got["bad"].error_type == "bad_input" and "crc.png" in got["bad"].error_message
    assert "CRC" in got["bad"].error_message and got["good"].ok


class _FewerThanLen:
    """Lazily claimed items (run/leases.py ClaimingItems): ``len`` counts every pending key, but another
    process holds some claims, so fewer requests come out of the iteration."""

    def __init__(self, items, length):
        self.items, self.length = items, length

    def __len__(self):
        return self.length

    def __iter__(self):
        return iter(self.items)


@pytest.mark.parametrize("arrive, concurrency, lookahead", [(3, 8, None), (0, 8, 2), (1, 4, 2)])
def test_fewer_requests_than_claimed_keys_do_not_hang_the_first_wave(image_files, arrive, concurrency,
                                                                       lookahead):
    import asyncio

    reg = make_registry()
    items = [(f"k{i}", make_request(reg, text=f"Q{i}\nA. y\nB. n", images=image_files[:1])) for i in range(arrive)]
    got = {}
    with FakeOpenAIServer() as srv:
        b = backend(srv, registry=reg, concurrency=concurrency, lookahead=lookahead)

        async def main():
            await asyncio.wait_for(b.generate(_FewerThanLen(items, 10), lambda r: got.setdefault(r.key, r)), 10)

        asyncio.run(main())
    assert set(got) == {k for k, _ in items} and all(r.ok for r in got.values())


def test_garbage_collection_settings_are_restored_after_sending():
    import gc

    before = gc.get_threshold()
    seen = []
    reg = make_registry()
    with FakeOpenAIServer(responder=lambda body: seen.append(gc.get_threshold()) or "A") as srv:
        run_backend(backend(srv, registry=reg), [("k", make_request(reg))])
    assert seen and seen[0][0] > before[0]            # fewer collections while requests are in flight ...
    assert gc.get_threshold() == before               # ... and the process's own settings back afterwards


class _DriverGone(BaseException):
    """What a Ray worker's check does when its driver died (there: os._exit)."""


@pytest.mark.parametrize("allowed, faults", [(0, []), (3, []), (2, [Fault("server_error")])])
def test_the_run_context_is_asked_before_every_request_leaves_retries_included(allowed, faults):
    """A Ray worker passes its driver check as ``before_send``: once it fails, nothing more is sent (billed)."""
    from mmad_eval.backends.base import RunContext

    calls = []

    def before_send():
        calls.append(1)
        if len(calls) > allowed:
            raise _DriverGone

    reg = make_registry()
    items = [(f"k{i}", make_request(reg, text=f"Question {i}?\nA. Yes\nB. No")) for i in range(6)]
    with FakeOpenAIServer(faults=faults) as srv:
        be = OpenAIBackend("fake-vlm", GenerationSettings(), reg, base_url=srv.base_url, api_key="k",
                           context=RunContext(before_send=before_send), concurrency=1, **FAST)
        with pytest.raises(_DriverGone):
            run_backend(be, items)
        assert srv.count == allowed == len(calls) - 1     # the failed retry (a 500) was asked before it left
