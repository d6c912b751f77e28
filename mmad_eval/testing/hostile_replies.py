"""Replies a hostile or broken server sends, for :class:`~mmad_eval.testing.openai_server.FakeOpenAIServer`.

Written ones (the handler calls :func:`stream_reply` for the kinds in :data:`STREAM_KINDS`):
  huge_reply:     a 200 completion whose content is ``size`` characters, written in pieces (never held whole
                  in the server's memory), with its Content-Length (or without one: ``declare_length=False``);
  endless_stream: a 200 chunked body that never ends (until the client hangs up or the server closes);
  trickle:        a valid completion written one byte every ``interval_s`` seconds (each read gets a byte).
Completions changed after they are made (:func:`mutate`, kinds in :data:`MUTATE_KINDS`):
  odd_usage:        ``usage`` replaced by the fault's ``usage`` value as given (text, huge numbers, a list);
  shuffled_choices: two choices listed out of ``index`` order: index 1 (another letter) first, index 0 second;
  no_logprobs:      ``logprobs`` left out even when asked for (a server that does not return them).
Batch API output files (:class:`HostileOutput`, :func:`hostile_output_chunks`): a huge line, a file without
end, a file trickled a byte at a time, written by :func:`write_chunked`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Iterable, Iterator

STREAM_KINDS = ("huge_reply", "endless_stream", "trickle")
MUTATE_KINDS = ("odd_usage", "shuffled_choices", "no_logprobs")
_PIECE = 1 << 16


def _huge_parts(fake, index: int, body: dict, size: int) -> tuple[bytes, bytes]:
    """(JSON before the filler, JSON after it) of a completion whose content is ``A`` + ``size - 1`` x's."""
    mark = "\x00FILL\x00"
    completion = fake.completion(index, body, None)
    completion["choices"][0]["message"]["content"] = "A" + mark
    head, tail = json.dumps(completion).split(json.dumps(mark)[1:-1])
    return head.encode(), tail.encode()


def stream_reply(handler, fake, index: int, body: dict, fault) -> None:
    """Write one of the :data:`STREAM_KINDS` replies on ``handler`` (a BaseHTTPRequestHandler)."""
    try:
        if fault.kind == "huge_reply":
            _write_huge(handler, fake, index, body, fault)
        elif fault.kind == "endless_stream":
            _write_endless(handler, fake)
        else:
            _write_trickle(handler, fake, json.dumps(fake.completion(index, body, None)).encode(), fault.interval_s)
    except (BrokenPipeError, ConnectionResetError, OSError):   # the client gave up: what it should do
        pass
    handler.close_connection = True


def _write_huge(handler, fake, index: int, body: dict, fault) -> None:
    head, tail = _huge_parts(fake, index, body, fault.size)
    filler = max(0, fault.size - 1)
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    if fault.declare_length:
        handler.send_header("Content-Length", str(len(head) + filler + len(tail)))
    else:
        handler.send_header("Connection", "close")
    handler.end_headers()
    handler.wfile.write(head)
    piece = b"x" * _PIECE
    while filler > 0 and not fake._stop.is_set():
        n = min(filler, _PIECE)
        handler.wfile.write(piece[:n])
        filler -= n
    handler.wfile.write(tail)
    handler.wfile.flush()


def _write_endless(handler, fake) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    chunk = b"%x\r\n%s\r\n" % (_PIECE, b" " * _PIECE)
    opening = b'{"choices": [{"index": 0, "message": {"content": "A'
    handler.wfile.write(b"%x\r\n%s\r\n" % (len(opening), opening))
    while not fake._stop.is_set():
        handler.wfile.write(chunk)
        with fake._lock:
            fake.streamed_bytes += _PIECE


def _write_trickle(handler, fake, payload: bytes, interval_s: float) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(payload)))
    handler.end_headers()
    handler.wfile.flush()
    for i in range(len(payload)):
        if fake._stop.wait(interval_s):
            return
        handler.wfile.write(payload[i:i + 1])
        handler.wfile.flush()


def mutate(completion: dict, body: dict, fault) -> dict:
    """``completion`` changed as a :data:`MUTATE_KINDS` fault says."""
    if fault.kind == "odd_usage":
        completion["usage"] = fault.usage
    elif fault.kind == "no_logprobs":
        for choice in completion["choices"]:
            choice.pop("logprobs", None)
    elif fault.kind == "shuffled_choices":
        first = completion["choices"][0]
        text = first["message"].get("content") or ""
        other = "B" if text.strip()[:1] == "A" else "A"
        second = {**first, "index": 1, "message": {**first["message"], "content": other}, "logprobs": None}
        completion["choices"] = [second, first]
    return completion


OUTPUT_KINDS = ("huge_line", "endless", "trickle")


@dataclass(frozen=True)
class HostileOutput:
    """How the fake Batch API sends an output file. ``huge_line``: the line at index ``after`` carries a reply
    of ``size`` characters (written in pieces, never held whole); ``endless``: ``after`` good lines, then blank
    lines without end; ``trickle``: the file one byte every ``interval_s`` seconds."""

    kind: str
    size: int = 0
    after: int = 0
    interval_s: float = 0.05

    def __post_init__(self):
        if self.kind not in OUTPUT_KINDS:
            raise ValueError(f"unknown hostile output {self.kind!r}; known: {', '.join(OUTPUT_KINDS)}")


def hostile_output_chunks(data: bytes, hostile: HostileOutput, stop) -> Iterator[bytes]:
    """The pieces of an output file (``data``, its true JSONL) sent as ``hostile`` says, until ``stop`` is set."""
    lines = data.splitlines(keepends=True)
    if hostile.kind == "trickle":
        for i in range(len(data)):
            if stop.wait(hostile.interval_s):
                return
            yield data[i:i + 1]
        return
    yield b"".join(lines[:hostile.after])
    if hostile.kind == "endless":
        blank = b"\n" * _PIECE
        while not stop.is_set():
            yield blank
        return
    if hostile.after < len(lines):
        mark = "\x00FILL\x00"
        line = json.loads(lines[hostile.after])
        line["response"]["body"]["choices"][0]["message"]["content"] = "A" + mark
        head, tail = json.dumps(line).split(json.dumps(mark)[1:-1])
        yield head.encode()
        filler, piece = max(0, hostile.size - 1), b"x" * _PIECE
        while filler > 0 and not stop.is_set():
            yield piece[:min(filler, _PIECE)]
            filler -= _PIECE
        yield tail.encode() + b"\n"
    yield b"".join(lines[hostile.after + 1:])


def write_chunked(handler, chunks: Iterable[bytes]) -> None:
    """A 200 reply of ``chunks`` in HTTP chunked encoding (no length: it may never end); a client that hangs
    up ends it."""
    try:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/octet-stream")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        for chunk in chunks:
            if chunk:
                handler.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                handler.wfile.flush()
        handler.wfile.write(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError, OSError):     # the client gave up: what it should do
        pass
    handler.close_connection = True
