"""OpenAI-compatible chat-completions backend (OpenAI, ``vllm serve``, any compatible server).

Many requests in flight (a fixed pool of workers); our own retry loop that honours ``Retry-After`` on 429,
retries 5xx/timeouts/connection errors/malformed bodies with exponential backoff and jitter, and never
retries other 4xx. Every outcome becomes a :class:`Response`; failures are never text.

Speed (the per-request cost of a hand-written httpx client): each distinct image becomes its data URL once,
in a thread pool, in order of first use, a bounded number of requests ahead of sending (an 8-bit RGB PNG that
needs no change is sent as its original bytes); each request's JSON body is encoded once (a small skeleton
joined with the cached image bytes) and reused by every attempt; bodies are posted with plain httpx, one client
of one connection per worker (:mod:`.http_json`), and the reply's JSON is read directly.
"""
from __future__ import annotations

import asyncio
import gc
import json
import os
import random
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

from ..errors import BackendStopped, ConfigError, MmadError
from ..redact import redact_mapping, redact_url, register_secret
from ..prompt.conversations import get_conversation
from ..prompt.message import Request
from ..prompt.tools import function_tools
from .base import Backend, Emit, Response
from .batch_download import DOWNLOAD_TIMEOUT_S
from .convert import request_letters, to_openai
from .http_json import DEFAULT_MAX_REPLY_BYTES, HTTPStatusError, JSONPoster, ReplyTooLarge
from .openai_replies import (completion_response, error_code, is_openai_host, redact_key, retry_after_s,
                             status_error_kind)

OPENAI_URL = "https://api.openai.com/v1"
TOKEN_FIELDS = ("max_completion_tokens", "max_tokens")
FATAL_KINDS = ("auth", "not_found")   # a wrong key, no permission, unknown model: no later request can succeed
# collections while sending: the default (700, 10, 10) rescans the in-flight requests' objects every few
# hundred allocations (60-85 ms of 1,280 requests at 256 in flight); these cut it to 20-25 ms (bench_api.py)
GC_THRESHOLDS = (50_000, 50, 100)
_IMAGE_MARK = "\x00mmad-eval image\x00"           # stands for an image URL in a body's JSON skeleton
_IMAGE_MARK_JSON = json.dumps(_IMAGE_MARK).encode()


class OpenAIBackend(Backend):
    """Options: ``base_url`` (str or list, round-robin), ``api_key`` (else env OPENAI_API_KEY; never recorded),
    ``concurrency`` (16), ``timeout`` (s, 120: the deadline of each attempt, connect to last byte),
    ``max_reply_bytes`` (16 MiB: a longer reply is cut off, a ``reply_too_large`` error; with the Batch API,
    a longer result line, and files over that times their job's requests are cut off),
    ``batch_download_timeout_s`` (3600: the deadline of downloading one Batch API result file), ``max_attempts`` (6),
    ``backoff_s`` (1.0), ``backoff_max_s`` (60), ``max_retry_after_s`` (300), ``token_field`` (``max_completion_tokens`` or ``max_tokens``),
    ``top_logprobs`` (20), ``extra_body`` (dict sent as-is, e.g. vLLM's ``top_k``), ``prepare_threads``
    (threads that encode images ahead of sending; default min(4, CPUs)), ``lookahead`` (requests prepared
    ahead of the ones in flight; default = concurrency)."""

    kind = "openai"
    supports_tools = True    # agent mode: tools sent as OpenAI function specs, tool_calls read from replies
    lazy_items = True        # generate() takes requests one by one as it sends them (see run/leases.py)

    def __init__(self, model, generation, images, **options):
        super().__init__(model, generation, images, **options)
        urls = options.get("base_url") or OPENAI_URL
        self.base_urls: list[str] = [urls] if isinstance(urls, str) else list(urls)
        if not self.base_urls:
            raise ConfigError("base_url list is empty", culprit="base_url")
        self.key_variable = options.get("api_key_env") or "OPENAI_API_KEY"
        key = options.get("api_key") or os.environ.get("OPENAI_API_KEY")
        register_secret(key)
        if not key:
            if any(is_openai_host(u) for u in self.base_urls):
                raise ConfigError("no API key: set the OPENAI_API_KEY environment variable", culprit=model)
            key = "EMPTY"  # local servers (vllm serve) accept any key
        self._api_key = key
        self.concurrency = int(options.get("concurrency", 16))
        self.timeout = float(options.get("timeout", 120.0))
        self.max_reply_bytes = int(options.get("max_reply_bytes", DEFAULT_MAX_REPLY_BYTES))
        self.batch_download_timeout_s = float(options.get("batch_download_timeout_s", DOWNLOAD_TIMEOUT_S))
        if self.timeout <= 0 or self.max_reply_bytes < 1 or self.batch_download_timeout_s <= 0:
            raise ConfigError("timeout, max_reply_bytes and batch_download_timeout_s must be positive",
                              culprit="backend options")
        self.max_attempts = max(1, int(options.get("max_attempts", 6)))
        self.backoff_s = float(options.get("backoff_s", 1.0))
        self.backoff_max_s = float(options.get("backoff_max_s", 60.0))
        self.max_retry_after_s = float(options.get("max_retry_after_s", 300.0))
        self.token_field = options.get("token_field", "max_completion_tokens")
        if self.token_field not in TOKEN_FIELDS:
            raise ConfigError(f"token_field must be one of {TOKEN_FIELDS}", culprit=str(self.token_field))
        self.top_logprobs = int(options.get("top_logprobs", 20))
        self.extra_body = dict(options.get("extra_body") or {})
        redact_mapping(self.extra_body)      # its secrets registered: kept out of every message too
        self.conversation = (get_conversation(options["conversation"]).template()
                             if options.get("conversation") else None)
        if self.concurrency < 1:
            raise ConfigError("concurrency must be >= 1", culprit="concurrency")
        self.prepare_threads = max(1, int(options.get("prepare_threads") or min(4, os.cpu_count() or 1)))
        self.lookahead = max(1, int(options.get("lookahead") or self.concurrency))
        images.urls_on_read = True     # small PNGs sent as they are: their data URLs made from the bytes the
        #                                plan reads and hashes anyway (no second read and hash while sending)
        self._fatal: MmadError | None = None

    # -- recorded settings ---------------------------------------------------------------------------
    def answer_options(self) -> dict:
        """``extra_body`` as recorded (and hashed into request keys): values under secret-looking names (an
        ``api_key`` a gateway wants in the body) replaced by a mark, they do not change answers; the
        conversation template, if any."""
        out = {"extra_body": redact_mapping(self.extra_body)} if self.extra_body else {}
        if self.options.get("conversation"):
            out["conversation"] = self.options["conversation"]
        return out

    def worker_options(self) -> dict:
        """The key this process read from OPENAI_API_KEY goes with the options (a Ray worker on another node
        has no such variable, and would send requests without it)."""
        return {**self.options, "api_key": self._api_key} if self._api_key != "EMPTY" else dict(self.options)

    def describe(self) -> dict:
        d = dict(self.identity())
        d["transport"] = {"base_urls": [redact_url(u) for u in self.base_urls],
                          "concurrency": self.concurrency, "timeout_s": self.timeout,
                          "max_reply_bytes": self.max_reply_bytes,
                          "batch_download_timeout_s": self.batch_download_timeout_s,
                          "max_attempts": self.max_attempts, "token_field": self.token_field,
                          "backoff_s": self.backoff_s, "top_logprobs": self.top_logprobs,
                          "prepare_threads": self.prepare_threads, "lookahead": self.lookahead}
        return d

    # -- requests ------------------------------------------------------------------------------------
    def payload(self, request: Request, image_url=None) -> dict:
        """The JSON body of ``POST /chat/completions`` for one request (sampling sent explicitly;
        ``extra_body`` merged last, as the client's ``extra_body`` does). ``image_url(sha)`` replaces the
        registry's data URLs (the body skeleton uses a mark)."""
        g = self.generation
        p = {"model": self.model, "messages": to_openai(request, self.images, image_url)}
        if g.temperature is not None:
            p["temperature"] = g.temperature
        p[self.token_field] = g.max_tokens
        if g.seed is not None:
            p["seed"] = g.sent_seed
        if g.top_p is not None:
            p["top_p"] = g.top_p
        if g.top_k is not None:              # vLLM/SGLang sampling extensions, sent only when set
            p["top_k"] = g.top_k or -1       # our 0 = no cut, their -1
        if g.repetition_penalty is not None:
            p["repetition_penalty"] = g.repetition_penalty
        if self.conversation:   # vLLM's chat_template request field: the script's conversation on the server
            p["chat_template"] = self.conversation
        if g.letter_probs and request_letters(request):
            p["logprobs"] = True
            p["top_logprobs"] = self.top_logprobs
        if g.reasoning_effort:
            p["reasoning_effort"] = g.reasoning_effort
        if request.tools:                                     # agent mode: the inspection tools it may call
            p["tools"] = function_tools(request.tools)
            p["tool_choice"] = "auto"
        if self.extra_body:
            p.update(self.extra_body)
        return p

    def request_body(self, key: str, request: Request) -> dict | Response:
        """The JSON body a live call sends (the Batch API sends the same), or a ``bad_input`` response."""
        try:
            return self.payload(request)
        except MmadError as e:
            return Response(key=key, error_type="bad_input", error_message=str(e), attempts=0)

    def body(self, request: Request, urls: Sequence[bytes] | None = None) -> bytes:
        """``payload`` as JSON bytes, encoded once: the skeleton (text, settings) is dumped with a mark for
        each image, then joined with each image's cached JSON-ready data URL (base64 needs no escaping);
        ``urls``: those data URLs in the order of ``request.images()``, when the caller has them."""
        skeleton = json.dumps(self.payload(request, lambda sha: _IMAGE_MARK), separators=(",", ":")).encode()
        pieces = skeleton.split(_IMAGE_MARK_JSON)
        images = request.images()
        if len(pieces) != len(images) + 1:           # a prompt containing the mark itself: the slow, exact way
            return json.dumps(self.payload(request), separators=(",", ":")).encode()
        if urls is None:
            urls = [self.images.data_url_bytes(part.sha256) for part in images]
        out = [pieces[0]]
        for url, piece in zip(urls, pieces[1:]):
            out += (b'"', url, b'"', piece)
        return b"".join(out)

    def _prepare(self, key: str, request: Request, urls: Sequence[bytes] | None = None) -> bytes | Response:
        """The body, or a ``bad_input`` response for a corrupt/missing image (this request only)."""
        try:
            return self.body(request, urls)
        except MmadError as e:
            return Response(key=key, error_type="bad_input", error_message=str(e), attempts=0)

    async def generate(self, items: Sequence[tuple[str, Request]], emit: Emit) -> None:
        # ``items`` is iterated once, lazily, as requests go out (the run engine claims them as they are
        # taken, so several processes on one store share the work: see run/leases.py)
        if not len(items):
            return
        pool = ThreadPoolExecutor(self.prepare_threads, thread_name_prefix="mmad-prepare")
        queue: asyncio.Queue = asyncio.Queue(maxsize=self.lookahead)
        n_workers = min(self.concurrency, len(items))
        first_wave = asyncio.Event()

        async def work(worker: int) -> None:
            await first_wave.wait()
            while (job := await queue.get()) is not None:
                if self._fatal is None:          # after a refused key or model nothing more is sent
                    await self._handle(poster, worker, *job, emit)

        poster = None
        tasks = [asyncio.ensure_future(self._produce(items, queue, pool, n_workers, first_wave))]
        gc.freeze()   # what exists now (questions, requests, caches) is not rescanned by each GC pass while sending
        thresholds = gc.get_threshold()
        gc.set_threshold(*GC_THRESHOLDS)
        try:   # clients are made in a thread (SSL set-up takes ~20 ms each) while the first images encode
            poster = await asyncio.to_thread(JSONPoster, self.base_urls, self._api_key, self.timeout,
                                             self.concurrency, self.max_reply_bytes)
            tasks += [asyncio.ensure_future(work(w)) for w in range(n_workers)]
            await asyncio.gather(*tasks)
            if self._fatal is not None:
                raise self._fatal
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            pool.shutdown(wait=False, cancel_futures=True)
            if poster is not None:
                await poster.aclose()
            gc.set_threshold(*thresholds)
            gc.unfreeze()

    async def _produce(self, items, queue: asyncio.Queue, pool: ThreadPoolExecutor, n_workers: int,
                       first_wave: asyncio.Event) -> None:
        """Queue ``(key, request, image jobs)`` for the workers, then one ``None`` per worker. Each distinct
        image is encoded by one thread job, in order of first use, at most ``lookahead`` requests ahead
        (threads work on different images: requests of one image are consecutive); an image whose data URL is
        quick to make (a small PNG sent as it is) is made in place: handing it to a thread costs more. ``first_wave`` is set when
        the first requests (as many as can be in flight) have their images, so they go out at once."""
        loop = asyncio.get_running_loop()
        jobs: OrderedDict[str, asyncio.Future] = OrderedDict()
        wave: list = []
        wave_size = min(n_workers, self.lookahead)
        try:
            for i, (key, request) in enumerate(items):
                waits = []
                for part in request.images():
                    job = jobs.get(part.sha256)
                    if job is None:
                        job = jobs[part.sha256] = (_done_now(loop, self.images.data_url_bytes, part.sha256)
                                                   if self.images.quick_to_send(part.sha256) else
                                                   loop.run_in_executor(pool, self.images.data_url_bytes,
                                                                        part.sha256))
                        if len(jobs) > 4 * self.lookahead:   # forget old jobs (their results stay cached)
                            jobs.popitem(last=False)
                    waits.append(job)
                await queue.put((key, request, waits))
                if not first_wave.is_set():
                    wave += waits
                    if i + 1 >= wave_size:
                        if wave:
                            await asyncio.wait(wave)
                        first_wave.set()
            first_wave.set()     # fewer requests than a wave (others' claims): the workers must take the Nones
            for _ in range(n_workers):
                await queue.put(None)
        finally:
            first_wave.set()

    async def _handle(self, poster: JSONPoster, worker: int, key: str, request: Request, waits: list,
                      emit: Emit) -> None:
        """One request: its images ready, its body, its answer emitted (or the run stopped on it)."""
        if not all(w.done() for w in waits):     # (usually done: encoded while earlier requests were sent)
            await asyncio.wait(waits)
        failed = [w for w in waits if w.cancelled() or w.exception() is not None]   # (errors retrieved)
        # the images' data URLs as their jobs made them; after a failure the body names the culprit
        body = self._prepare(key, request, None if failed else [w.result() for w in waits])
        if not isinstance(body, Response):
            body = await self._answer(poster, worker, key, request, body)
        if body.error_type in FATAL_KINDS or body.extra.get("no_logprobs") and self.generation.answer_mode == \
                "likelihood":
            self._stop_on(body)
        else:
            emit(body)
            await asyncio.sleep(0)   # the store commits what was emitted right after this iteration: so this
            #                          worker sends nothing more before its answer is committed (a kill loses
            #                          at most this worker's one request)

    def _stop_on(self, resp: Response) -> None:
        """Remember the first auth/permission/unknown-model failure (or, answering by likelihood, the first
        reply without log-probabilities): nothing more is sent, the run stops with one line naming the
        server (the request is not stored, so the rerun after the fix asks it)."""
        if self._fatal is not None:
            return
        what = resp.error_message
        if resp.ok:      # a likelihood run's reply without log-probabilities
            what = "this server does not return log-probabilities, which --answer-mode likelihood needs"
            fix = "use --answer-mode generate, or a server that returns logprobs (e.g. vllm serve)"
        elif resp.error_type == "auth":
            fix = f"check the API key in the environment variable {self.key_variable}"
        else:
            fix = f"check the model name {self.model!r} (or --base-url) for this server"
        url = resp.extra.get("endpoint") or self.base_urls[0]
        self._fatal = BackendStopped(f"{what}; stopped after the first such reply, nothing more was sent: {fix}",
                                     culprit=redact_url(url))

    async def _answer(self, poster: JSONPoster, worker: int, key: str, request: Request,
                      body: bytes) -> Response:
        """One answer; asked again while the reply holds a refusal keyword (``refusal_tries`` in all)."""
        g = self.generation
        resp = await self._answer_once(poster, worker, key, request, body)
        tries, earlier = 1, {"attempts": 0, "prompt_tokens": 0, "completion_tokens": 0}
        while resp.ok and g.refused(resp.text):
            if tries >= g.refusal_tries:
                return Response(key=key, error_type="refusal", attempts=resp.attempts, latency_s=resp.latency_s,
                                prompt_tokens=resp.prompt_tokens, completion_tokens=resp.completion_tokens,
                                error_message=f"every one of {tries} replies held a refusal keyword; last: "
                                              f"{resp.text[:200]!r}",
                                extra={**resp.extra, "refusal_tries": tries, "earlier": earlier})
            for field in earlier:           # the refused reply was billed: kept with the one stored
                earlier[field] += getattr(resp, field) or 0
            resp = await self._answer_once(poster, worker, key, request, body)
            tries += 1
        if tries > 1:
            resp.extra.update(refusal_tries=tries, earlier=earlier)
        return resp

    async def _answer_once(self, poster: JSONPoster, worker: int, key: str, request: Request,
                           body: bytes) -> Response:
        start = time.monotonic()
        waited = 0.0
        kind, message = "error", ""
        for attempt in range(1, self.max_attempts + 1):
            t0 = time.monotonic()
            self.context.check_send()
            try:
                idx, data = await poster.post("chat/completions", body, worker)
            except Exception as e:  # noqa: BLE001 - classified below, never raised past the request
                kind, message, retry, hint = self._classify(e)
                message = redact_key(message, self._api_key)
                if not retry or attempt == self.max_attempts:
                    return Response(key=key, error_type=kind, error_message=message, attempts=attempt,
                                    latency_s=time.monotonic() - t0,
                                    extra={"wall_s": time.monotonic() - start, "retry_wait_s": waited})
                delay = self._delay(attempt, hint)
                waited += delay
                await asyncio.sleep(delay)
                continue
            try:
                resp = self._to_response(key, request, data, attempt)
            except Exception as e:  # noqa: BLE001 - a reply of an unexpected shape fails only its request
                resp = Response(key=key, error_type="malformed_response", attempts=attempt,
                                error_message=f"reply of an unexpected shape ({type(e).__name__}: {e})")
            resp.latency_s = time.monotonic() - t0
            resp.extra.update({"wall_s": time.monotonic() - start, "retry_wait_s": waited,
                               "endpoint": self.base_urls[idx]})
            return resp
        raise AssertionError("unreachable")  # pragma: no cover

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_retry_after_s) + random.uniform(0, 0.1 * self.backoff_s)
        base = min(self.backoff_max_s, self.backoff_s * 2 ** (attempt - 1))
        return base * random.uniform(0.5, 1.0)

    def _classify(self, e: Exception) -> tuple[str, str, bool, float | None]:
        """(error_type, message, retryable, retry-after seconds) for a failed attempt."""
        import httpx

        if isinstance(e, (httpx.TimeoutException, TimeoutError)):
            return "timeout", f"no complete reply within timeout={self.timeout:g} s", True, None
        if isinstance(e, ReplyTooLarge):     # asked again, it would be as long (and billed again)
            return "reply_too_large", str(e), False, None
        if isinstance(e, httpx.TransportError):
            return "connection", f"connection error: {type(e).__name__}: {e}", True, None
        if isinstance(e, HTTPStatusError):
            status = e.status_code
            kind, retry = status_error_kind(status, error_code(e))
            msg = f"HTTP {status}: {e.message}"
            return kind, msg, retry, retry_after_s(e.headers) if retry else None
        if isinstance(e, ValueError):  # a 2xx body that is not (a) JSON (object)
            return "malformed_response", f"malformed response body: {e}", True, None
        return "error", f"{type(e).__name__}: {e}", False, None

    def _to_response(self, key: str, request: Request, data: dict, attempts: int) -> Response:
        return completion_response(key, request_letters(request), data, attempts)


def _done_now(loop: asyncio.AbstractEventLoop, fn, arg) -> asyncio.Future:
    """A future already holding ``fn(arg)`` or its error (work too small to hand to a thread)."""
    future = loop.create_future()
    try:
        future.set_result(fn(arg))
    except Exception as e:  # noqa: BLE001 - delivered to the request that needs it, as a thread job's would be
        future.set_exception(e)
    return future


