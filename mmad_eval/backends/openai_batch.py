"""OpenAI's Batch API: the JSONL input lines, the per-batch limits, the calls (through the ``openai`` client's
files and batches resources), and the output/error lines turned into :class:`Response` objects.

Input line: ``{"custom_id": <request key>, "method": "POST", "url": "/v1/chat/completions", "body": <the body a
live call sends>}``; a batch file holds at most 50,000 requests and 200 MB. Output and error lines:
``{"id", "custom_id", "response": {"status_code", "request_id", "body"} | null, "error": {"code", "message"} |
null}``; ``batch_expired`` / ``batch_cancelled`` lines were never run. Batch states: validating, in_progress,
finalizing, completed, failed, expired, cancelling, cancelled.

Creating a batch is the one call that must never be repeated blindly: it is sent once (no client retry); when
its answer is lost, :meth:`BatchAPI.find_batch` finds it again by the job id in its ``metadata``.
"""
from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass
from typing import IO, Iterable, Iterator

from ..errors import BackendError
from ..redact import redact_url
from .base import Response
from .batch_download import DOWNLOAD_TIMEOUT_S, DownloadLimits, LineReader
from .http_json import DEFAULT_MAX_REPLY_BYTES
from .openai_replies import completion_response, redact_key, split_query, status_error_kind

ENDPOINT = "/v1/chat/completions"
MAX_REQUESTS = 50_000
MAX_BYTES = 200 * 1024 * 1024
STATES = ("validating", "in_progress", "finalizing", "completed", "failed", "expired", "cancelling", "cancelled")
ENDED = ("completed", "failed", "expired", "cancelled")
NOT_RUN = ("batch_expired", "batch_cancelled")
JOB_META = "mmad_eval_job"
RECONCILE_SLACK_S = 3600      # look this far before a job's local creation time (clock skew between machines)


class BatchAPIError(BackendError):
    """A Batch API call failed (the batch state in the store is unchanged; rerun to resume)."""


@dataclass(frozen=True)
class BatchLimits:
    max_requests: int = MAX_REQUESTS
    max_bytes: int = MAX_BYTES


def batch_line(custom_id: str, body: dict) -> bytes:
    """One line of a batch input file."""
    line = {"custom_id": custom_id, "method": "POST", "url": ENDPOINT, "body": body}
    return (json.dumps(line, separators=(",", ":"), ensure_ascii=False) + "\n").encode()


class ChunkFile:
    """A batch input file being filled (a temporary file: the lines hold base64 images)."""

    def __init__(self, limits: BatchLimits):
        self.limits = limits
        self.keys: list[str] = []
        self.n_bytes = 0
        self.file: IO[bytes] = tempfile.TemporaryFile()

    def fits(self, line: bytes) -> bool:
        return len(self.keys) < self.limits.max_requests and self.n_bytes + len(line) <= self.limits.max_bytes

    def add(self, key: str, line: bytes) -> None:
        self.file.write(line)
        self.keys.append(key)
        self.n_bytes += len(line)

    def close(self) -> None:
        self.file.close()


def result_response(line: dict, letters: tuple[str, ...], api_key: str | None = None) -> Response | None:
    """The Response of one output/error line, exactly as a live call would have stored it; None for a request
    the batch never ran (expired or cancelled: it is pending again)."""
    key = str(line.get("custom_id"))
    resp, err = line.get("response"), line.get("error")
    if isinstance(resp, dict) and isinstance(resp.get("status_code"), int):
        status, body = resp["status_code"], resp.get("body")
        if status == 200 and isinstance(body, dict):
            return completion_response(key, letters, body, attempts=1)
        e = body.get("error") if isinstance(body, dict) else None
        e = e if isinstance(e, dict) else {}
        kind, _ = status_error_kind(status, e.get("code") or e.get("type"))
        message = f"HTTP {status}: {e.get('message') or body}"
        return Response(key=key, error_type=kind, error_message=redact_key(message, api_key), attempts=1)
    if isinstance(err, dict):
        code = err.get("code")
        if code in NOT_RUN:
            return None
        kind = "timeout" if code == "request_timeout" else "error"
        return Response(key=key, error_type=kind, attempts=1,
                        error_message=redact_key(f"{code}: {err.get('message')}", api_key))
    return Response(key=key, error_type="malformed_response", attempts=1,
                    error_message="batch result line has neither a response nor an error")


def parse_lines(lines: Iterable[bytes | str]) -> Iterator[dict]:
    """JSON objects of a JSONL stream (blank and broken lines skipped: their requests stay unanswered)."""
    for raw in lines:
        if not raw or not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except ValueError:
            continue
        if isinstance(obj, dict) and obj.get("custom_id"):
            yield obj


class BatchAPI:
    """The Files and Batches calls, through the synchronous ``openai`` client."""

    def __init__(self, base_url: str, api_key: str, timeout: float = 600.0, key_variable: str = "OPENAI_API_KEY",
                 max_reply_bytes: int | None = None, download_timeout_s: float | None = None):
        from openai import OpenAI

        self.base_url = redact_url(base_url)     # as recorded and shown (no secret query values)
        self._key, self.key_variable, self.timeout = api_key, key_variable, timeout
        # bounds of result files (None: the run's recorded ones, see :meth:`limits`)
        self.max_reply_bytes, self.download_timeout_s = max_reply_bytes, download_timeout_s
        url, query = split_query(base_url)
        client = OpenAI(base_url=url, default_query=query or None, api_key=api_key, max_retries=3, timeout=timeout)
        self.client, self.once = client, client.with_options(max_retries=0)

    def _call(self, what: str, fn, *args, **kwargs):
        import openai

        try:
            return fn(*args, **kwargs)
        except openai.OpenAIError as e:
            raise self._error(what, e) from None

    def _error(self, what: str, e: Exception) -> BatchAPIError:
        status = getattr(e, "status_code", None)
        message = f"HTTP {status}: {getattr(e, 'message', e)}" if status else f"{type(e).__name__}: {e}"
        if status in (401, 403):
            message += f"; check the API key in the environment variable {self.key_variable}"
        return BatchAPIError(redact_key(message, self._key), culprit=f"batch API {what} at {self.base_url}",
                             kind="batch_api")

    @classmethod
    def for_backend(cls, backend, base_url: str | None = None) -> "BatchAPI":
        """A client with an :class:`~.openai_api.OpenAIBackend`'s key, for ``base_url`` (default: its first)."""
        real = next((u for u in backend.base_urls if base_url in (u, redact_url(u))), base_url or backend.base_urls[0])
        return cls(real, backend._api_key, timeout=max(backend.timeout, 600.0), key_variable=backend.key_variable,
                   max_reply_bytes=backend.max_reply_bytes, download_timeout_s=backend.batch_download_timeout_s)

    def result(self, line: dict, letters: tuple[str, ...]) -> Response | None:
        """:func:`result_response` with this client's key kept out of error messages."""
        return result_response(line, letters, self._key)

    def upload(self, filename: str, file: IO[bytes]) -> str:
        file.seek(0)
        obj = self._call("upload", self.once.files.create, file=(filename, file, "application/jsonl"),
                         purpose="batch")
        return obj.id

    def find_file(self, filename: str, since: float) -> str | None:
        """The id of an uploaded batch input file named ``filename`` (newest first, back to ``since``)."""
        page = self._call("file list", self.client.files.list, purpose="batch", order="desc", limit=100)
        for f in page:
            if f.filename == filename:
                return f.id
            if f.created_at < since - RECONCILE_SLACK_S:
                return None
        return None

    def create(self, file_id: str, job: str, run: str) -> dict:
        b = self._call("create", self.once.batches.create, input_file_id=file_id, endpoint=ENDPOINT,
                       completion_window="24h", metadata={JOB_META: job, "mmad_eval_run": run[:500]})
        return b.model_dump()

    def find_batch(self, job: str, since: float) -> dict | None:
        """The batch created for ``job`` (by its metadata), newest first, back to ``since``."""
        for b in self._call("batch list", self.client.batches.list, limit=100):
            if (b.metadata or {}).get(JOB_META) == job:
                return b.model_dump()
            if b.created_at < since - RECONCILE_SLACK_S:
                return None
        return None

    def retrieve(self, batch_id: str) -> dict:
        return self._call("retrieve", self.client.batches.retrieve, batch_id).model_dump()

    def cancel(self, batch_id: str) -> dict:
        return self._call("cancel", self.client.batches.cancel, batch_id).model_dump()

    def limits(self, n_requests: int, transport: dict | None = None) -> DownloadLimits:
        """Bounds of a result file of a job of ``n_requests``: this client's, else those recorded with the run
        (``transport``: the run record's ``backend.transport``), else the defaults."""
        t = transport or {}
        reply = self.max_reply_bytes or _positive(t.get("max_reply_bytes"), int) or DEFAULT_MAX_REPLY_BYTES
        wait = self.download_timeout_s or _positive(t.get("batch_download_timeout_s"), float) or DOWNLOAD_TIMEOUT_S
        return DownloadLimits.for_job(reply, n_requests, wait)

    def results(self, file_id: str, reader: LineReader) -> Iterator[tuple[str, object]]:
        """The lines of an output or error file as they stream in, within ``reader``'s bounds (see
        :mod:`.batch_download`): a silent server past the deadline cuts the file off like a slow one."""
        import httpx
        import openai

        wait = min(reader.limits.deadline_s, self.timeout)
        try:
            with self.client.files.with_streaming_response.content(file_id, timeout=wait) as r:
                yield from reader.read(r.iter_bytes())
        except (openai.APITimeoutError, httpx.TimeoutException):
            reader.timed_out()
        except (openai.OpenAIError, httpx.HTTPError) as e:
            raise self._error("download", e) from None


def _positive(value, kind):
    """``value`` as a positive ``kind`` (int or float), else None (a record from an older version, or edited)."""
    return kind(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0 else None


def wait_s(attempt: int, base: float = 1.0, cap: float = 30.0) -> float:
    return min(cap, base * 2 ** attempt)


def retrying(fn, attempts: int = 3, sleep=time.sleep):
    """Call ``fn`` up to ``attempts`` times on :class:`BatchAPIError` (with backoff); the last error propagates."""
    for i in range(attempts):
        try:
            return fn()
        except BatchAPIError:
            if i == attempts - 1:
                raise
            sleep(wait_s(i))
    raise AssertionError("unreachable")  # pragma: no cover
