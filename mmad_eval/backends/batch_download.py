"""Reading a Batch API output or error file as it streams in, within bounds a hostile or broken server cannot
push past: each line at most ``max_line_bytes`` (a longer one is dropped as it comes, its ``custom_id`` read
from its first bytes), the whole file at most ``max_file_bytes``, and all of it within ``deadline_s``. What
fits is yielded line by line (so it can be stored as it arrives); :attr:`LineReader.cut` says why a file was
cut off, if it was.
"""
from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

LINE_ENVELOPE_BYTES = 4096       # a result line's wrapping around its reply body (ids, status code)
DOWNLOAD_TIMEOUT_S = 3600.0      # default deadline of one whole result file
_HEAD_BYTES = 4096               # of an over-long line kept to find its custom_id
_CUSTOM_ID = re.compile(rb'"custom_id"\s*:\s*"((?:[^"\\]|\\.){1,1000})"')


@dataclass(frozen=True)
class DownloadLimits:
    """Bounds of one result file: per line, for the whole file, and a deadline (seconds)."""

    max_line_bytes: int
    max_file_bytes: int
    deadline_s: float = DOWNLOAD_TIMEOUT_S

    @classmethod
    def for_job(cls, max_reply_bytes: int, n_requests: int, deadline_s: float) -> "DownloadLimits":
        """A line holds one reply and its envelope; a file at most one line per request of the job."""
        line = max_reply_bytes + LINE_ENVELOPE_BYTES
        return cls(line, line * max(1, n_requests), deadline_s)


class LineReader:
    """Feed it the file's chunks (:meth:`read`); it yields ``("line", obj)`` for each JSON object line with a
    ``custom_id`` and ``("too_large", custom_id)`` for each line over the cap; blank and broken lines are
    skipped. :attr:`cut` is set when the file was cut off (too large, or past its deadline)."""

    def __init__(self, limits: DownloadLimits, clock: Callable[[], float] = time.monotonic):
        self.limits, self.clock = limits, clock
        self.cut: str | None = None
        self.size = 0
        self._start = clock()
        self._buf = bytearray()
        self._skipping = False           # inside a line over the cap: its bytes are dropped until its end

    def read(self, chunks: Iterable[bytes]) -> Iterator[tuple[str, object]]:
        for chunk in chunks:
            self.size += len(chunk)
            over = self.size - self.limits.max_file_bytes
            if over > 0:             # the lines that end within the cap are kept
                yield from self._feed(chunk[:len(chunk) - over])
                self.cut = f"larger than {self.limits.max_file_bytes:,} bytes"
                return
            yield from self._feed(chunk)
            if self.clock() - self._start > self.limits.deadline_s:
                self.cut = f"not complete within {self.limits.deadline_s:g} s"
                return
        if self._skipping:
            yield from self._over_long()
        elif self._buf:
            yield from _parsed(bytes(self._buf))

    def timed_out(self) -> None:
        """The server went silent past the deadline (a read timed out)."""
        self.cut = f"not complete within {self.limits.deadline_s:g} s"

    def _feed(self, chunk: bytes) -> Iterator[tuple[str, object]]:
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            piece = chunk[start:] if end < 0 else chunk[start:end]
            if not self._skipping:
                self._buf += piece
                if len(self._buf) > self.limits.max_line_bytes:
                    self._skipping, self._buf = True, self._buf[:_HEAD_BYTES]
            if end < 0:
                return
            if self._skipping:
                yield from self._over_long()
            else:
                yield from _parsed(bytes(self._buf))
            self._buf, self._skipping = bytearray(), False
            start = end + 1

    def _over_long(self) -> Iterator[tuple[str, object]]:
        found = _CUSTOM_ID.search(bytes(self._buf[:_HEAD_BYTES]))
        if found:
            try:
                yield "too_large", json.loads(b'"' + found.group(1) + b'"')
            except ValueError:
                pass


def _parsed(raw: bytes) -> Iterator[tuple[str, object]]:
    if not raw.strip():
        return
    try:
        obj = json.loads(raw)
    except ValueError:
        return
    if isinstance(obj, dict) and obj.get("custom_id"):
        yield "line", obj
