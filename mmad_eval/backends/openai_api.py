"""OpenAI-compatible chat-completions backend (OpenAI, ``vllm serve``, any compatible server).

Many requests in flight under a semaphore; our own retry loop (the client's is off) that honours
``Retry-After`` on 429, retries 5xx/timeouts/connection errors/malformed bodies with exponential backoff and
jitter, and never retries other 4xx. Every outcome becomes a :class:`Response`; failures are never text.
"""
from __future__ import annotations

import asyncio
import email.utils
import os
import random
import time
from typing import Sequence
from urllib.parse import urlparse

from ..errors import ConfigError, MmadError
from ..prompt.message import Request
from .base import Backend, Emit, Response
from .convert import letter_logprobs, request_letters, to_openai

OPENAI_URL = "https://api.openai.com/v1"
TOKEN_FIELDS = ("max_completion_tokens", "max_tokens")
RETRYABLE_STATUS = {408, 409, 429}


def _is_openai_host(url: str) -> bool:
    return (urlparse(url).hostname or "").endswith("openai.com")


def retry_after_s(headers) -> float | None:
    """Seconds asked by ``retry-after-ms`` / ``retry-after`` (seconds or an HTTP date), if any."""
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    ra = headers.get("retry-after")
    if not ra:
        return None
    try:
        return max(0.0, float(ra))
    except ValueError:
        when = email.utils.parsedate_to_datetime(ra) if ra else None
        return max(0.0, when.timestamp() - time.time()) if when else None


class OpenAIBackend(Backend):
    """Options: ``base_url`` (str or list, round-robin), ``api_key`` (else env OPENAI_API_KEY; never recorded),
    ``concurrency`` (16), ``timeout`` (s, 120), ``max_attempts`` (6), ``backoff_s`` (1.0), ``backoff_max_s``
    (60), ``max_retry_after_s`` (300), ``token_field`` (``max_completion_tokens`` or ``max_tokens``),
    ``top_logprobs`` (20), ``extra_body`` (dict sent as-is, e.g. vLLM's ``top_k``)."""

    kind = "openai"

    def __init__(self, model, generation, images, **options):
        super().__init__(model, generation, images, **options)
        urls = options.get("base_url") or OPENAI_URL
        self.base_urls: list[str] = [urls] if isinstance(urls, str) else list(urls)
        if not self.base_urls:
            raise ConfigError("base_url list is empty", culprit="base_url")
        key = options.get("api_key") or os.environ.get("OPENAI_API_KEY")
        if not key:
            if any(_is_openai_host(u) for u in self.base_urls):
                raise ConfigError("no API key: set the OPENAI_API_KEY environment variable", culprit=model)
            key = "EMPTY"  # local servers (vllm serve) accept any key
        self._api_key = key
        self.concurrency = int(options.get("concurrency", 16))
        self.timeout = float(options.get("timeout", 120.0))
        self.max_attempts = max(1, int(options.get("max_attempts", 6)))
        self.backoff_s = float(options.get("backoff_s", 1.0))
        self.backoff_max_s = float(options.get("backoff_max_s", 60.0))
        self.max_retry_after_s = float(options.get("max_retry_after_s", 300.0))
        self.token_field = options.get("token_field", "max_completion_tokens")
        if self.token_field not in TOKEN_FIELDS:
            raise ConfigError(f"token_field must be one of {TOKEN_FIELDS}", culprit=str(self.token_field))
        self.top_logprobs = int(options.get("top_logprobs", 20))
        self.extra_body = dict(options.get("extra_body") or {})
        if self.concurrency < 1:
            raise ConfigError("concurrency must be >= 1", culprit="concurrency")
        self._next = 0

    # -- recorded settings ---------------------------------------------------------------------------
    def answer_options(self) -> dict:
        return {"extra_body": self.extra_body} if self.extra_body else {}

    def describe(self) -> dict:
        d = dict(self.identity())
        d["transport"] = {"base_urls": self.base_urls, "concurrency": self.concurrency, "timeout_s": self.timeout,
                          "max_attempts": self.max_attempts, "token_field": self.token_field,
                          "backoff_s": self.backoff_s, "top_logprobs": self.top_logprobs}
        return d

    # -- requests ------------------------------------------------------------------------------------
    def payload(self, request: Request) -> dict:
        """The keyword arguments of ``chat.completions.create`` for one request (sampling sent explicitly)."""
        g = self.generation
        p = {"model": self.model, "messages": to_openai(request, self.images), "temperature": g.temperature,
             self.token_field: g.max_tokens}
        if g.seed is not None:
            p["seed"] = g.seed
        if g.top_p is not None:
            p["top_p"] = g.top_p
        if g.logprobs and request_letters(request):
            p["logprobs"] = True
            p["top_logprobs"] = self.top_logprobs
        if self.extra_body:
            p["extra_body"] = self.extra_body
        return p

    async def generate(self, items: Sequence[tuple[str, Request]], emit: Emit) -> None:
        try:
            from openai import AsyncOpenAI
        except ImportError:  # pragma: no cover - openai is a core dependency
            from ..errors import MissingExtraError
            raise MissingExtraError("openai", "openai") from None
        clients = [AsyncOpenAI(base_url=u, api_key=self._api_key, max_retries=0, timeout=self.timeout)
                   for u in self.base_urls]
        sem = asyncio.Semaphore(self.concurrency)

        async def one(key: str, request: Request) -> None:
            async with sem:
                resp = await self._answer(clients, key, request)
            emit(resp)

        try:
            await asyncio.gather(*(one(k, r) for k, r in items))
        finally:
            for c in clients:
                await c.close()

    def _client(self, clients):
        i = self._next % len(clients)
        self._next += 1
        return i, clients[i]

    async def _answer(self, clients, key: str, request: Request) -> Response:
        try:
            payload = self.payload(request)
        except MmadError as e:  # corrupt/missing image: this request only
            return Response(key=key, error_type="bad_input", error_message=str(e), attempts=0)
        start = time.monotonic()
        waited = 0.0
        kind, message = "error", ""
        for attempt in range(1, self.max_attempts + 1):
            idx, client = self._client(clients)
            t0 = time.monotonic()
            try:
                completion = await client.chat.completions.create(**payload)
            except Exception as e:  # noqa: BLE001 - classified below, never raised past the request
                kind, message, retry, hint = self._classify(e)
                if not retry or attempt == self.max_attempts:
                    return Response(key=key, error_type=kind, error_message=message, attempts=attempt,
                                    latency_s=time.monotonic() - t0,
                                    extra={"wall_s": time.monotonic() - start, "retry_wait_s": waited})
                delay = self._delay(attempt, hint)
                waited += delay
                await asyncio.sleep(delay)
                continue
            resp = self._to_response(key, request, completion, attempt)
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

    @staticmethod
    def _classify(e: Exception) -> tuple[str, str, bool, float | None]:
        """(error_type, message, retryable, retry-after seconds) for a failed attempt."""
        import openai

        if isinstance(e, openai.APITimeoutError):
            return "timeout", "request timed out", True, None
        if isinstance(e, openai.APIConnectionError):
            return "connection", f"connection error: {e}", True, None
        if isinstance(e, openai.APIStatusError):
            status = e.status_code
            hint = retry_after_s(e.response.headers)
            msg = f"HTTP {status}: {getattr(e, 'message', e)}"
            if status == 429:
                return "rate_limit", msg, True, hint
            if status >= 500 or status in RETRYABLE_STATUS:
                return "server_error", msg, True, hint
            kinds = {400: "bad_request", 401: "auth", 403: "auth", 404: "not_found", 413: "too_large",
                     422: "bad_request"}
            return kinds.get(status, "client_error"), msg, False, None
        if isinstance(e, (ValueError, openai.APIResponseValidationError)):  # body is not (valid) JSON
            return "malformed_response", f"malformed response body: {e}", True, None
        return "error", f"{type(e).__name__}: {e}", False, None

    def _to_response(self, key: str, request: Request, completion, attempts: int) -> Response:
        usage = getattr(completion, "usage", None)
        r = Response(key=key, attempts=attempts,
                     prompt_tokens=getattr(usage, "prompt_tokens", None),
                     completion_tokens=getattr(usage, "completion_tokens", None))
        if not completion.choices:
            r.error_type, r.error_message = "malformed_response", "response has no choices"
            return r
        choice = completion.choices[0]
        msg = choice.message
        r.extra["finish_reason"] = choice.finish_reason
        refusal = getattr(msg, "refusal", None)
        if refusal:
            r.error_type, r.error_message = "refusal", str(refusal)
        elif choice.finish_reason == "content_filter":
            r.error_type, r.error_message = "refusal", "finish_reason=content_filter"
        elif msg.content is None:
            r.error_type, r.error_message = "empty_response", "no content in response"
        else:
            r.text = msg.content
            r.letter_logprobs = self._letters(request, choice)
        return r

    @staticmethod
    def _letters(request: Request, choice) -> dict[str, float] | None:
        letters = request_letters(request)
        lp = getattr(choice, "logprobs", None)
        if not letters or lp is None or not lp.content:
            return None
        for tok in lp.content:  # first position whose alternatives name an option letter
            alts = [(t.token, t.logprob) for t in (tok.top_logprobs or [])] or [(tok.token, tok.logprob)]
            found = letter_logprobs(alts, letters)
            if found:
                return found
        return None
