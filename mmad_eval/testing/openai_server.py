"""A fake OpenAI-compatible chat-completions server for tests and benchmarks (stdlib only, real HTTP).

    with FakeOpenAIServer(latency_s=0.01, faults=[Fault("rate_limit", retry_after=0.05)]) as srv:
        client = AsyncOpenAI(base_url=srv.base_url, api_key="x", max_retries=0)
        ...
        srv.requests      # JSON bodies received (thread-safe copy), in arrival order
        srv.max_in_flight # most chat requests being handled at once
        srv.arrivals, srv.replies  # monotonic times each chat request arrived / its reply was written

Endpoints: ``POST /v1/chat/completions``, ``GET /v1/models``, and the Files and Batch API (``/v1/files``,
``/v1/batches``: see :mod:`mmad_eval.testing.batch_server`; ``srv.batches`` drives them). The default responder answers
deterministically: it finds the options ("A. ..." / "A: ..." lines) in the last user message and picks one
from a hash of the prompt text, so the same prompt always gets the same letter. Faults are scripted per
request by a list (consumed in order; ``None`` = answer normally) or a callable ``(index, body) -> Fault|None``.
"""
from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Iterable, Union

from .hostile_replies import MUTATE_KINDS, STREAM_KINDS, mutate, stream_reply, write_chunked

FAULT_KINDS = ("rate_limit", "server_error", "bad_request", "hang", "malformed", "refusal", "content_filter",
               "auth", "quota", "forbidden", "unknown_model") + STREAM_KINDS + MUTATE_KINDS
_OPTION_LINE = re.compile(r"^\s*([A-Z])\s*[.:)]\s+\S", re.M)


@dataclass(frozen=True)
class Fault:
    """One injected failure. ``kind`` is one of :data:`FAULT_KINDS`.

    rate_limit: 429 with ``retry-after`` (seconds, if set); server_error: 500; bad_request: 400;
    hang: wait ``hang_s`` (or until the server closes) before answering; malformed: 200 with a body that is
    not JSON; refusal: a ``refusal`` message field and null content; content_filter: finish_reason
    ``content_filter`` and empty content; auth: 401 whose message echoes the masked key, as OpenAI's does;
    quota: 429 with code ``insufficient_quota`` (a spent budget, not a rate limit); forbidden: 403 (the key
    may not use this model); unknown_model: 404 ``model_not_found``, as OpenAI answers an unknown model. ``headers`` are added to
    the reply as given (e.g. ``{"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}``). Hostile replies (huge_reply
    of ``size`` characters, endless_stream, trickle at ``interval_s``, odd_usage with ``usage`` as given,
    shuffled_choices, no_logprobs): see :mod:`mmad_eval.testing.hostile_replies`.
    """

    kind: str
    retry_after: float | None = None
    hang_s: float = 60.0
    headers: dict | None = None
    size: int = 0
    declare_length: bool = True
    interval_s: float = 1.0
    usage: object = None

    def __post_init__(self):
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; known: {', '.join(FAULT_KINDS)}")


FaultScript = Union[None, Iterable[Union[Fault, None]], Callable[[int, dict], Union[Fault, None]]]
Responder = Callable[[dict], Union[str, dict]]


def prompt_text(body: dict) -> str:
    """All text of the request's messages, joined (string or list-of-parts content)."""
    out = []
    for m in body.get("messages", []):
        c = m.get("content")
        if isinstance(c, str):
            out.append(c)
        elif isinstance(c, list):
            out.extend(p.get("text", "") for p in c if isinstance(p, dict) and p.get("type") == "text")
    return "\n".join(out)


def image_urls(body: dict) -> list[str]:
    """The ``image_url`` URLs of the request, in order."""
    return [p["image_url"]["url"] for m in body.get("messages", []) if isinstance(m.get("content"), list)
            for p in m["content"] if isinstance(p, dict) and p.get("type") == "image_url"]


def url_image_size(url: str) -> tuple[int, int]:
    """(width, height) of the image in a base64 data URL."""
    import base64
    import io

    from PIL import Image

    with Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))) as im:
        return im.size


def option_letters(body: dict) -> list[str]:
    """Option letters offered in the last user message (``A. text`` lines), in order, unique."""
    users = [m for m in body.get("messages", []) if m.get("role") == "user"]
    text = prompt_text({"messages": users[-1:]})
    return list(dict.fromkeys(_OPTION_LINE.findall(text)))


def hashed_letter(body: dict) -> str:
    """A deterministic choice among the offered letters (A-D when none are found) from the prompt's hash."""
    letters = option_letters(body) or ["A", "B", "C", "D"]
    h = int(hashlib.sha256(prompt_text(body).encode()).hexdigest(), 16)
    return letters[h % len(letters)]


def default_responder(body: dict) -> str:
    return hashed_letter(body)


_PIXELS = re.compile(r"\((\d+) x (\d+) pixels")
BOX_STYLES = ("json", "qwen", "bbox_2d", "prose", "garbage")


def box_responder(style_of: Callable[[dict], str], box: tuple[float, float, float, float] = (0.25, 0.25, 0.5, 0.5),
                  frame: str = "stated"):
    """A responder for Defect Grounding prompts (letter prompts get :func:`hashed_letter`): one box at ``box``
    (fractions of the image: x1, y1, x2, y2), written in the 0-1000 frame when the question asks for it, else in
    pixels: of the size the question states (``frame="stated"``) or of the query image as it arrived
    (``frame="shown"``: the last image of the request, decoded, as a model answers in what it sees), in the
    style ``style_of(request body)`` returns, one of :data:`BOX_STYLES` ("garbage": no box at all)."""
    def respond(body: dict) -> str:
        text = prompt_text(body)
        if "bounding box" not in text:
            return hashed_letter(body)
        m = _PIXELS.search(text)
        w, h = (int(m.group(1)), int(m.group(2))) if m else (1000, 1000)
        if m and frame == "shown":
            w, h = url_image_size(image_urls(body)[-1])
        x1, y1, x2, y2 = (round(box[0] * w), round(box[1] * h), round(box[2] * w), round(box[3] * h))
        style = style_of(body)
        if style == "qwen":
            return f"<|object_ref_start|>defect<|object_ref_end|><|box_start|>({x1},{y1}),({x2},{y2})<|box_end|>"
        if style == "bbox_2d":
            return "```json\n" + json.dumps([{"bbox_2d": [x1, y1, x2, y2], "label": "defect"}]) + "\n```"
        if style == "prose":
            return f"The scratch spans the box ({x1}, {y1}, {x2}, {y2}) on the surface."
        if style == "garbage":
            return "I cannot tell where the defect is."
        return json.dumps([[x1, y1, x2, y2]])
    return respond


class FakeOpenAIServer:
    """Threaded local server; use as a context manager or call :meth:`start` / :meth:`close`."""

    def __init__(self, responder: Responder | None = None, latency_s: float | Callable[[int, dict], float] = 0.0,
                 faults: FaultScript = None, model: str = "fake-model", batch_auto: bool | str = False,
                 batch_line_errors: Callable[[str, dict], int | None] | None = None, keep_bodies: bool = True):
        from .batch_server import FakeBatches

        self.batches = FakeBatches(self, auto=batch_auto, line_errors=batch_line_errors)
        self.responder = responder or default_responder
        self.latency_s = latency_s
        self.model = model
        self._fault_fn = faults if callable(faults) else None
        self._fault_queue = deque(faults) if faults is not None and not callable(faults) else deque()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._requests: list[dict] = []
        self.keep_bodies = keep_bodies      # False: bodies are not kept (long benchmarks); count still is
        self._count = 0
        self._headers: list[dict] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.status_counts: dict[int, int] = {}
        self.arrivals: list[float] = []     # monotonic arrival time of each chat request
        self.replies: list[float] = []      # monotonic time each chat reply was written (the server's log)
        self.streamed_bytes = 0             # bytes written by endless_stream replies
        self._httpd: ThreadingHTTPServer | None = None
        self._port = 0
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> "FakeOpenAIServer":
        handler = type("Handler", (_Handler,), {"fake": self})
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler, bind_and_activate=False)
        httpd.daemon_threads = True
        httpd.request_queue_size = 1024
        httpd.allow_reuse_address = True
        httpd.server_bind()
        httpd.server_activate()
        self._httpd = httpd
        self._port = httpd.server_address[1]
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()                     # releases hanging handlers
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> "FakeOpenAIServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def port(self) -> int:
        return self._port                    # still known after close, for assertions

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # -- observations ----------------------------------------------------------------------------------
    @property
    def requests(self) -> list[dict]:
        """Chat request bodies received, in arrival order (a copy)."""
        with self._lock:
            return list(self._requests)

    @property
    def headers(self) -> list[dict]:
        """Lower-cased request headers of each chat request, in arrival order (a copy)."""
        with self._lock:
            return list(self._headers)

    @property
    def count(self) -> int:
        with self._lock:
            return self._count

    # -- internals -------------------------------------------------------------------------------------
    def _admit(self, body: dict, headers: dict) -> tuple[int, Fault | None, float]:
        with self._lock:
            index = self._count
            self._count += 1
            if self.keep_bodies:
                self._requests.append(body)
            self._headers.append(headers)
            self.arrivals.append(time.monotonic())
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            fault = self._fault_queue.popleft() if self._fault_queue else None
        if self._fault_fn is not None:
            fault = self._fault_fn(index, body)
        latency = self.latency_s(index, body) if callable(self.latency_s) else self.latency_s
        return index, fault, float(latency or 0.0)

    def _leave(self, status: int) -> None:
        with self._lock:
            self.in_flight -= 1
            self.status_counts[status] = self.status_counts.get(status, 0) + 1

    def completion(self, index: int, body: dict, fault: Fault | None) -> dict:
        """The JSON completion for a request (normal answer, refusal or content filter)."""
        n_images = len(image_urls(body))
        usage_prompt = len(prompt_text(body).split()) + 85 * n_images
        message: dict = {"role": "assistant", "content": None, "refusal": None}
        finish = "stop"
        logprobs = None
        if fault is not None and fault.kind == "refusal":
            message["refusal"] = "I'm sorry, I can't help with that."
        elif fault is not None and fault.kind == "content_filter":
            message["content"] = ""
            finish = "content_filter"
        else:
            out = self.responder(body)
            if isinstance(out, dict):        # message fields; a "finish_reason" key sets the choice's
                out = dict(out)
                finish = out.pop("finish_reason", finish)
                message.update(out)
            else:
                message["content"] = str(out)
            if body.get("logprobs"):
                logprobs = self._logprobs(body, message.get("content") or "")
        completion_tokens = max(1, len((message.get("content") or "").split()))
        completion = {
            "id": f"chatcmpl-fake-{index}", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", self.model),
            "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": logprobs}],
            "usage": {"prompt_tokens": usage_prompt, "completion_tokens": completion_tokens,
                      "total_tokens": usage_prompt + completion_tokens},
        }
        return mutate(completion, body, fault) if fault is not None and fault.kind in MUTATE_KINDS else completion

    @staticmethod
    def _logprobs(body: dict, content: str) -> dict:
        """First generated token with top_logprobs over the offered letters (answer most likely)."""
        letters = option_letters(body) or ["A", "B", "C", "D"]
        first = content.strip()[:1] or letters[0]
        ranked = [first] + [x for x in letters if x != first]
        k = int(body.get("top_logprobs") or 0)
        top = [{"token": t, "logprob": -0.05 if i == 0 else -3.0 - i, "bytes": list(t.encode())}
               for i, t in enumerate(ranked[: max(k, 1)])]
        return {"content": [{"token": first, "logprob": top[0]["logprob"], "bytes": list(first.encode()),
                             "top_logprobs": top if k else []}], "refusal": None}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True   # headers and body are two writes: never hold the body for a delayed ACK
    fake: FakeOpenAIServer

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def _send(self, status: int, payload: bytes, headers: dict | None = None,
              content_type: str = "application/json") -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
            self.close_connection = True

    def _json(self, status: int, obj: dict, headers: dict | None = None) -> None:
        self._send(status, json.dumps(obj).encode(), headers)

    def _batch_api(self, method: str, raw: bytes = b"") -> bool:
        """Serve a files/batches route; False when the path is not one."""
        out = self.fake.batches.handle(method, self.path, self.headers, raw)
        if out is None:
            return False
        status, payload, content_type = out
        if content_type is None:          # a hostile file: chunks written as they come (see hostile_replies)
            write_chunked(self, payload)
        else:
            self._send(status, payload, content_type=content_type)
        return True

    def do_GET(self) -> None:
        if self._batch_api("GET"):
            return
        if self.path.rstrip("/").endswith("/models"):
            self._json(200, {"object": "list", "data": [
                {"id": self.fake.model, "object": "model", "created": 0, "owned_by": "fake"}]})
        else:
            self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self._batch_api("POST", raw):
            return
        if not self.path.split("?", 1)[0].rstrip("/").endswith("/chat/completions"):
            self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
            return
        try:
            body = json.loads(raw)
        except ValueError:
            self._json(400, {"error": {"message": "request body is not JSON", "type": "invalid_request_error"}})
            return
        fake = self.fake
        index, fault, latency = fake._admit(body, {k.lower(): v for k, v in self.headers.items()})
        if latency:
            fake._stop.wait(latency)
        status, payload, headers = 200, b"", {}
        kind = fault.kind if fault else None
        if kind in STREAM_KINDS:
            fake._leave(200)
            stream_reply(self, fake, index, body, fault)
            return
        if kind == "hang":
            fake._stop.wait(fault.hang_s)
        if kind == "rate_limit":
            status = 429
            payload = json.dumps({"error": {"message": "Rate limit reached", "type": "rate_limit_exceeded",
                                            "code": "rate_limit_exceeded"}}).encode()
            if fault.retry_after is not None:
                headers["retry-after"] = f"{fault.retry_after:g}"
        elif kind == "server_error":
            status = 500
            payload = json.dumps({"error": {"message": "internal error", "type": "server_error"}}).encode()
        elif kind == "bad_request":
            status = 400
            payload = json.dumps({"error": {"message": "invalid request", "type": "invalid_request_error"}}).encode()
        elif kind == "auth":
            status = 401
            key = self.headers.get("Authorization", "").removeprefix("Bearer ")
            shown = f"{key[:6]}{'*' * max(0, len(key) - 10)}{key[-4:]}"
            payload = json.dumps({"error": {"message": f"Incorrect API key provided: {shown}. You can find your "
                                            "API key at https://platform.openai.com/account/api-keys.",
                                            "type": "invalid_request_error", "code": "invalid_api_key"}}).encode()
        elif kind == "forbidden":
            status = 403
            payload = json.dumps({"error": {"message": "You are not allowed to sample from this model",
                                            "type": "invalid_request_error", "code": "permission_denied"}}).encode()
        elif kind == "unknown_model":
            status = 404
            payload = json.dumps({"error": {"message": f"The model `{body.get('model')}` does not exist or you do "
                                            "not have access to it.", "type": "invalid_request_error",
                                            "code": "model_not_found"}}).encode()
        elif kind == "quota":
            status = 429
            payload = json.dumps({"error": {"message": "You exceeded your current quota, please check your plan "
                                            "and billing details.", "type": "insufficient_quota",
                                            "code": "insufficient_quota"}}).encode()
        elif kind == "malformed":
            payload = b'{"id": "chatcmpl-broken", "choices": [ {"message": '
        elif not isinstance(body.get("messages"), list) or not body.get("model"):
            status = 400
            payload = json.dumps({"error": {"message": "'model' and 'messages' are required",
                                            "type": "invalid_request_error"}}).encode()
        else:
            payload = json.dumps(fake.completion(index, body, fault)).encode()
        if fault is not None and fault.headers:
            headers.update(fault.headers)
        fake._leave(status)                   # before writing: a client never sees a slot still taken
        self._send(status, payload, headers)
        with fake._lock:
            fake.replies.append(time.monotonic())
