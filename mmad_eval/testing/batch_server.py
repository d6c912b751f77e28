"""Files and Batch API of the fake OpenAI server (``/v1/files``, ``/v1/batches``), shaped like OpenAI's.

A batch is created ``validating``; the test moves it on (:meth:`FakeBatches.start`, :meth:`complete`,
:meth:`expire`, :meth:`fail`, :meth:`finish_cancel`), or with ``auto=True`` every retrieve moves it one step
(validating -> in_progress -> finalizing -> completed; cancelling -> cancelled); ``auto="fail"``: every batch
fails validation; ``auto="expire"``: every batch expires unrun at its first retrieve. Completed lines are answered
by the server's own responder (the same answer a live call gets); ``line_errors(custom_id, body) -> status
code | None`` makes chosen lines fail into the error file. Output lines look like OpenAI's:
``{"id", "custom_id", "response": {"status_code", "request_id", "body"}, "error"}``; lines the window or a
cancel left unanswered are error-file lines with ``response: null`` and ``error.code`` ``batch_expired`` /
``batch_cancelled``.

``hold(step)`` makes the next request at ``step`` wait (after being received, before the server acts when the
step ends in ``_before``, after it acted and before it answers when it ends in ``_after``) until
:meth:`release`; :meth:`reached` tells a test that a client is waiting there (to SIGKILL it at that point).
``release(step, drop=True)`` makes a ``_before`` request end without acting (as if it never arrived whole);
:meth:`idle` waits until no files/batches request is being handled. ``can_list_files = False`` makes the file
list a 404 (servers that cannot list files), ``can_list_batches = False`` the batch list.
``hostile_output = HostileOutput(...)`` makes every batch output file come back hostile (a huge line, no end,
a byte at a time: see :class:`~mmad_eval.testing.hostile_replies.HostileOutput`), streamed without a length.
Steps: ``upload_before``, ``upload_after``, ``create_before``, ``create_after``, ``content``.
"""
from __future__ import annotations

import itertools
import json
import threading
import time
from email.parser import BytesParser
from email.policy import default as email_policy
from urllib.parse import parse_qs, urlparse

from .hostile_replies import HostileOutput, hostile_output_chunks

__all__ = ["FakeBatches", "HostileOutput"]

STEPS = ("upload_before", "upload_after", "create_before", "create_after", "content")
ENDED = ("completed", "failed", "expired", "cancelled")


class FakeBatches:
    def __init__(self, fake, auto: bool = False, line_errors=None):
        self.fake = fake
        self.auto = auto
        self.line_errors = line_errors
        self.require_key: str | None = None     # set: any other key gets 401 on the files and batches routes
        self.can_list_files = True              # False: GET /files answers 404 (a server without file listing)
        self.can_list_batches = True            # False: GET /batches answers 404
        self.hostile_output: HostileOutput | None = None   # set: output files are sent this way
        self.files: dict[str, dict] = {}
        self.data: dict[str, bytes] = {}
        self.batches: dict[str, dict] = {}
        self.submitted: list[tuple[str, str, dict]] = []   # (batch id, custom_id, body) of every created batch
        self._ids = itertools.count(1)
        self._lock = threading.RLock()
        self._holds: dict[str, threading.Event] = {}
        self._drop: set[str] = set()
        self._busy = 0
        self._idle = threading.Condition()
        self._reached: dict[str, threading.Event] = {s: threading.Event() for s in STEPS}

    # -- test controls ---------------------------------------------------------------------------------
    def hold(self, step: str) -> None:
        if step not in STEPS:
            raise ValueError(f"unknown step {step!r}; known: {', '.join(STEPS)}")
        self._holds[step] = threading.Event()
        self._reached[step].clear()

    def reached(self, step: str, timeout: float = 60.0) -> bool:
        return self._reached[step].wait(timeout)

    def release(self, step: str | None = None, drop: bool = False) -> None:
        for s in [step] if step else list(self._holds):
            if drop:
                self._drop.add(s)
            ev = self._holds.pop(s, None)
            if ev is not None:
                ev.set()

    def idle(self, timeout: float = 30.0) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: self._busy == 0, timeout)

    def _pause(self, step: str) -> bool:
        """Wait here while ``step`` is held; True when the request is to be dropped."""
        ev = self._holds.get(step)
        if ev is not None:
            self._reached[step].set()
            while not ev.wait(0.05) and not self.fake._stop.is_set():
                pass
        if step in self._drop:
            self._drop.discard(step)
            return True
        return False

    def start(self, batch_id: str) -> None:
        self._set(batch_id, "in_progress")

    def complete(self, batch_id: str) -> None:
        self._finish(batch_id, "completed", answered=None)

    def expire(self, batch_id: str, answered: int = 0) -> None:
        """Answer the first ``answered`` lines; the rest become ``batch_expired`` error lines."""
        self._finish(batch_id, "expired", answered=answered)

    def finish_cancel(self, batch_id: str, answered: int = 0) -> None:
        self._finish(batch_id, "cancelled", answered=answered)

    def fail(self, batch_id: str, message: str = "Enqueued token limit reached", code: str = "token_limit_exceeded",
             line: int | None = None) -> None:
        with self._lock:
            b = self.batches[batch_id]
            b.update(status="failed", failed_at=int(time.time()),
                     errors={"object": "list", "data": [{"code": code, "message": message, "line": line,
                                                         "param": None}]})

    def ids(self) -> list[str]:
        with self._lock:
            return list(self.batches)

    # -- state machine ---------------------------------------------------------------------------------
    def _set(self, batch_id: str, status: str) -> None:
        with self._lock:
            b = self.batches[batch_id]
            b["status"] = status
            b[f"{status}_at"] = int(time.time())

    def _lines(self, batch: dict) -> list[dict]:
        return [json.loads(x) for x in self.data[batch["input_file_id"]].splitlines() if x.strip()]

    def _finish(self, batch_id: str, status: str, answered: int | None) -> None:
        with self._lock:
            b = self.batches[batch_id]
            lines = self._lines(b)
            out, err = [], []
            done = failed = 0
            for i, line in enumerate(lines):
                rid = f"batch_req_{batch_id}_{i}"
                if answered is not None and i >= answered:
                    code = "batch_expired" if status == "expired" else "batch_cancelled"
                    err.append({"id": rid, "custom_id": line["custom_id"], "response": None,
                                "error": {"code": code, "message": f"request not run: {code}"}})
                    failed += 1
                    continue
                bad = self.line_errors(line["custom_id"], line["body"]) if self.line_errors else None
                if bad:
                    body = {"error": {"message": "invalid request", "type": "invalid_request_error", "code": None}}
                    err.append({"id": rid, "custom_id": line["custom_id"], "error": None,
                                "response": {"status_code": bad, "request_id": rid, "body": body}})
                    failed += 1
                else:
                    body = self.fake.completion(i, line["body"], None)
                    out.append({"id": rid, "custom_id": line["custom_id"], "error": None,
                                "response": {"status_code": 200, "request_id": rid, "body": body}})
                    done += 1
            b["request_counts"] = {"total": len(lines), "completed": done, "failed": failed}
            if out:
                b["output_file_id"] = self._add_file("batch_output", f"{batch_id}_output.jsonl", _jsonl(out))
            if err:
                b["error_file_id"] = self._add_file("batch_output", f"{batch_id}_error.jsonl", _jsonl(err))
            self._set(batch_id, status)

    def _auto_step(self, b: dict) -> None:
        nxt = {"validating": "in_progress", "in_progress": "finalizing", "cancelling": "cancelled"}
        if self.auto == "fail" and b["status"] == "validating":     # every batch fails validation
            self.fail(b["id"], message="model not found", code="model_not_found")
        elif self.auto == "expire" and b["status"] not in ENDED:    # the window passes, nothing was run
            self._finish(b["id"], "expired", answered=0)
        elif b["status"] == "finalizing":
            self._finish(b["id"], "completed", answered=None)
        elif b["status"] == "cancelling":
            self._finish(b["id"], "cancelled", answered=0)
        elif b["status"] in nxt:
            self._set(b["id"], nxt[b["status"]])

    def _add_file(self, purpose: str, filename: str, data: bytes) -> str:
        fid = f"file-{next(self._ids):06d}"
        self.files[fid] = {"id": fid, "object": "file", "bytes": len(data), "created_at": int(time.time()),
                           "filename": filename, "purpose": purpose, "status": "processed"}
        self.data[fid] = data
        return fid

    # -- HTTP ------------------------------------------------------------------------------------------
    def handle(self, method: str, path: str, headers, raw: bytes):
        """(status, body bytes, content type) for a files/batches route, else None."""
        url = urlparse(path)
        parts = [p for p in url.path.split("/") if p][1:]   # without the leading "v1"
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if not parts or parts[0] not in ("files", "batches"):
            return None
        given = (headers.get("Authorization") or "").removeprefix("Bearer ")
        if self.require_key is not None and given != self.require_key:     # as OpenAI: the key masked, echoed
            return _error(401, f"Incorrect API key provided: {given[:3]}***{given[-4:]}")
        with self._idle:
            self._busy += 1
        try:
            return self._route(method, parts, query, headers, raw)
        except KeyError as e:
            return _error(404, f"no such object: {e.args[0]}")
        finally:
            with self._idle:
                self._busy -= 1
                self._idle.notify_all()

    def _route(self, method, parts, query, headers, raw):
        kind, rest = parts[0], parts[1:]
        if kind == "files":
            if method == "POST" and not rest:
                return self._upload(headers, raw)
            if method == "GET" and not rest and not self.can_list_files:
                return _error(404, "no route")
            if method == "GET" and not rest:
                items = [f for f in self.files.values() if f["purpose"] == query.get("purpose", f["purpose"])]
                return _page(items, query)
            if method == "GET" and len(rest) == 1:
                return _ok(self.files[rest[0]])
            if method == "GET" and len(rest) == 2 and rest[1] == "content":
                data = self.data[rest[0]]
                self._pause("content")
                if self.hostile_output is not None and self.files[rest[0]]["filename"].endswith("_output.jsonl"):
                    return 200, hostile_output_chunks(data, self.hostile_output, self.fake._stop), None
                return 200, data, "application/octet-stream"
        else:
            if method == "POST" and not rest:
                return self._create(raw)
            if method == "GET" and not rest and not self.can_list_batches:
                return _error(404, "no route")
            if method == "GET" and not rest:
                with self._lock:
                    return _page(list(self.batches.values()), query)
            if method == "GET" and len(rest) == 1:
                with self._lock:
                    b = self.batches[rest[0]]
                    if self.auto:
                        self._auto_step(b)
                    return _ok(b)
            if method == "POST" and len(rest) == 2 and rest[1] == "cancel":
                with self._lock:
                    b = self.batches[rest[0]]
                    if b["status"] in ("validating", "in_progress", "finalizing"):
                        self._set(b["id"], "cancelling")
                    return _ok(b)
        return _error(404, "no route")

    def _upload(self, headers, raw: bytes):
        msg = BytesParser(policy=email_policy).parsebytes(
            b"Content-Type: " + headers.get("Content-Type", "").encode() + b"\r\n\r\n" + raw)
        fields, filename, data = {}, None, None
        for part in msg.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if part.get_filename() is not None:
                filename, data = part.get_filename(), part.get_payload(decode=True)
            else:
                fields[name] = part.get_content().strip()
        if data is None or fields.get("purpose") != "batch":
            return _error(400, "a file and purpose=batch are required")
        if self._pause("upload_before"):
            return _error(400, "upload incomplete")
        with self._lock:
            fid = self._add_file("batch", filename, data)
            obj = self.files[fid]
        self._pause("upload_after")
        return _ok(obj)

    def _create(self, raw: bytes):
        req = json.loads(raw)
        fid = req.get("input_file_id")
        if fid not in self.files or req.get("completion_window") != "24h":
            return _error(400, "input_file_id must be an uploaded file and completion_window 24h")
        if self._pause("create_before"):
            return _error(400, "request incomplete")
        with self._lock:
            bid = f"batch_{next(self._ids):06d}"
            now = int(time.time())
            b = {"id": bid, "object": "batch", "endpoint": req.get("endpoint"), "input_file_id": fid,
                 "completion_window": "24h", "status": "validating", "created_at": now, "expires_at": now + 86400,
                 "output_file_id": None, "error_file_id": None, "errors": None, "metadata": req.get("metadata"),
                 "request_counts": {"total": 0, "completed": 0, "failed": 0}}
            lines = self._lines(b)
            ids = [x.get("custom_id") for x in lines]
            if len(set(ids)) != len(ids) or any(x.get("url") != req.get("endpoint") for x in lines):
                b.update(status="failed", errors={"object": "list", "data": [
                    {"code": "invalid_request", "message": "duplicate custom_id or wrong url", "line": None}]})
            b["request_counts"]["total"] = len(lines)
            self.batches[bid] = b
            self.submitted.extend((bid, x["custom_id"], x["body"]) for x in lines)
        self._pause("create_after")
        return _ok(b)


def _jsonl(rows: list[dict]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def _ok(obj: dict):
    return 200, json.dumps(obj).encode(), "application/json"


def _error(status: int, message: str):
    return status, json.dumps({"error": {"message": message, "type": "invalid_request_error"}}).encode(), \
        "application/json"


def _page(items: list[dict], query: dict):
    """Newest first, ``after`` an id, ``limit`` (default 20), as OpenAI's cursor pages."""
    items = sorted(items, key=lambda x: x["id"], reverse=True)
    if query.get("after"):
        ids = [x["id"] for x in items]
        items = items[ids.index(query["after"]) + 1:] if query["after"] in ids else []
    limit = int(query.get("limit") or 20)
    page = items[:limit]
    return _ok({"object": "list", "data": page, "has_more": len(items) > limit,
                "first_id": page[0]["id"] if page else None, "last_id": page[-1]["id"] if page else None})
