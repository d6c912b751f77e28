"""JSON over HTTP for the OpenAI-compatible backend, as lean as a hand-written httpx client.

Bodies arrive as bytes (encoded once per request, reused by every attempt); replies are parsed with
``json.loads``. Each worker has its own httpx client with one connection: httpx scans its whole pool on every
request and response (checking each idle connection's socket), so one pool of 256 connections costs several
times the CPU of 16 pools of 16, and those cost more than 256 clients of one (0.83 against 0.60 CPU ms per
request at 256 in flight, ``bench/bench_api.py``'s lean client).

Every reply is bounded: it is read as it streams in and cut off past ``max_reply_bytes`` (or at once when its
Content-Length says it is larger), and a whole request (connect, send, every read) has a deadline of
``timeout`` seconds, so a reply trickled a byte at a time ends too (httpx's own timeout is per read). Failures
are raised as :class:`ReplyTooLarge`, ``TimeoutError`` (the deadline) or httpx's own timeout/transport errors,
:class:`HTTPStatusError` for a non-2xx reply, or ``ValueError`` for a 2xx body that is not a JSON object.
"""
from __future__ import annotations

import asyncio
import json
import math
from urllib.parse import parse_qsl, urlsplit, urlunsplit
import os

import mmad_eval

CONNECTIONS_PER_POOL = 1
DEFAULT_MAX_REPLY_BYTES = 16 << 20     # 16 MiB: far above any real completion (128k tokens of text ~ 0.5 MB)
_DEADLINE = getattr(asyncio, "timeout", None)    # Python >= 3.11; else asyncio.wait_for


class ReplyTooLarge(Exception):
    """A reply longer than ``max_reply_bytes`` (declared by its Content-Length, or counted as it came)."""

    def __init__(self, limit: int, declared: int | None = None):
        self.limit, self.declared = limit, declared
        told = f"its Content-Length is {declared:,} bytes" if declared is not None else \
            f"cut off after {limit:,} bytes"
        super().__init__(f"reply larger than max_reply_bytes={limit:,} ({told}); not stored")


class HTTPStatusError(Exception):
    """A non-2xx reply: status, headers and the error body (the ``error`` object when it has one)."""

    def __init__(self, status: int, headers, text: str):
        self.status_code, self.headers, self.text = status, headers, text
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        self.body = parsed.get("error", parsed) if isinstance(parsed, dict) else parsed
        err = self.body if isinstance(self.body, dict) else {}
        self.message = str(err.get("message") or text.strip()[:500] or f"status {status}")
        super().__init__(f"HTTP {status}: {self.message}")


def default_headers(api_key: str) -> dict:
    """What the ``openai`` client sends: bearer key, JSON, and the organisation/project of the standard
    ``OPENAI_ORG_ID`` / ``OPENAI_PROJECT_ID`` variables when set."""
    h = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json", "Accept": "application/json",
         "User-Agent": f"mmad-eval/{mmad_eval.__version__}"}
    for var, name in (("OPENAI_ORG_ID", "OpenAI-Organization"), ("OPENAI_PROJECT_ID", "OpenAI-Project")):
        if os.environ.get(var):
            h[name] = os.environ[var]
    return h


class JSONPoster:
    """Round-robin POSTs over ``base_urls``. Each URL has one client per worker (``CONNECTIONS_PER_POOL``
    connection each; worker ``w`` always uses client ``w``): no request ever queues in httpx."""

    def __init__(self, base_urls: list[str], api_key: str, timeout: float, concurrency: int,
                 max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES):
        import httpx

        self.deadline_s, self.max_reply_bytes = timeout, max_reply_bytes

        shards = max(1, math.ceil(concurrency / CONNECTIONS_PER_POOL))
        limits = httpx.Limits(max_connections=CONNECTIONS_PER_POOL, max_keepalive_connections=CONNECTIONS_PER_POOL)
        headers = default_headers(api_key)
        split = [urlsplit(u) for u in base_urls]     # a query (api-version, a gateway token) goes on each request
        bases = [urlunsplit(p._replace(query="")).rstrip("/") + "/" for p in split]
        self._queries = [parse_qsl(p.query, keep_blank_values=True) for p in split]
        tls = httpx.create_ssl_context()    # what each client would load for itself (~20 ms of CPU each): once
        self.pools = [[httpx.AsyncClient(base_url=u, timeout=timeout, limits=limits, headers=headers, verify=tls)
                       for _ in range(shards)] for u in bases]
        self._base_urls = bases
        self._targets: dict[tuple[int, str], object] = {}   # parsed once: httpx re-parses a string per request
        self._next = 0

    async def post(self, path: str, body: bytes, worker: int) -> tuple[int, dict]:
        """(index of the URL used, the reply's JSON object), for one of ``concurrency`` workers, within the
        request deadline (``TimeoutError`` past it)."""
        if _DEADLINE is not None:
            async with _DEADLINE(self.deadline_s):
                return await self._post(path, body, worker)
        return await asyncio.wait_for(self._post(path, body, worker), self.deadline_s)

    async def _post(self, path: str, body: bytes, worker: int) -> tuple[int, dict]:
        i = self._next % len(self.pools)
        client = self.pools[i][worker % len(self.pools[i])]
        self._next += 1
        target = self._targets.get((i, path))
        if target is None:
            import httpx

            target = self._targets[(i, path)] = httpx.URL(self._base_urls[i] + path.lstrip("/"),
                                                          params=self._queries[i] or None)
        r = await client.send(client.build_request("POST", target, content=body), stream=True)
        try:
            content = await self._read(r)
        finally:
            await r.aclose()
        if not 200 <= r.status_code < 300:
            raise HTTPStatusError(r.status_code, r.headers, content.decode("utf-8", "replace"))
        data = json.loads(content)
        if not isinstance(data, dict):
            raise ValueError("response body is not a JSON object")
        return i, data

    async def _read(self, r) -> bytes:
        """The reply's body (decoded), at most ``max_reply_bytes`` of it (else :class:`ReplyTooLarge`)."""
        limit = self.max_reply_bytes
        declared = r.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise ReplyTooLarge(limit, int(declared))
        chunks, size = [], 0
        async for chunk in r.aiter_bytes():
            size += len(chunk)
            if size > limit:
                raise ReplyTooLarge(limit)
            chunks.append(chunk)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def aclose(self) -> None:
        for group in self.pools:
            for c in group:
                await c.aclose()
