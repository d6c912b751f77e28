"""Committing answers as backends emit them: the answers of one event-loop iteration in one transaction.

With hundreds of requests in flight many replies arrive in one iteration of the event loop; each emitted
answer is kept in memory and all those of the iteration are committed together right after it
(``loop.call_soon``), at a fraction of the CPU of one transaction per answer. So a killed process loses the
requests in flight and at most the answers of the iteration it was killed in (received within the last
tens of milliseconds: :meth:`AnswerWriter.stats` records the longest wait, ``bench/bench_api.py`` prints it). An answer emitted outside
an event loop (from a thread) is committed at once; and while a backend keeps emitting without yielding to
the loop, its next emit commits what waits once the oldest waited :data:`MAX_WAIT_S` or :data:`MAX_PENDING`
wait (nothing runs in between: the last answer before a long synchronous computation waits for its end).

A store that cannot be written (full disk, damaged file) stops the run at the next emit (or at the end), as
one :class:`StoreError`; every answer committed before it is kept.
"""
from __future__ import annotations

import asyncio
import threading
import time

from ..backends.base import Response
from ..prompt.message import Request
from .store import REQUEST_COLUMNS, Store, response_row
from .store_db import StoreError

MAX_WAIT_S = 0.05      # an answer is committed at the latest this long after it was emitted ...
MAX_PENDING = 512      # ... or once this many wait with it
_STORABLE = (str, int, float, bool, bytes)
_INT64 = (-(1 << 63), (1 << 63) - 1)   # what an SQLite INTEGER holds
_STATUS = REQUEST_COLUMNS.index("status")


class AnswerWriter:
    """``add(resp, request)`` as answers arrive; ``flush()`` commits what waits (call it when sending ends)."""

    def __init__(self, store: Store):
        self.store = store
        self.pending: list[list] = []         # rows emitted on the loop's thread, not committed yet
        self.oldest = 0.0
        self.error: StoreError | None = None
        self.answers = self.commits = 0       # answers committed, in this many transactions
        self.max_wait_s = 0.0                 # longest an answer waited in memory before its commit
        self._lock = threading.Lock()         # the counters (a thread may commit its own answer)

    def add(self, resp: Response, request: Request | None) -> bool:
        """Keep ``resp`` for the next commit; True when it is stored as a good answer (False: an error, or a
        reply the store cannot hold, stored as that request's ``unstorable_reply`` error)."""
        if self.error is not None:
            raise self.error
        row = _row(resp, request.content_json if request is not None else None)
        ok = row[_STATUS] == "ok"
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:                  # not on the loop's thread: committed at once, on its own
            self._commit([row], time.monotonic())
            return ok
        if not self.pending:
            self.oldest = time.monotonic()
            loop.call_soon(self._flush_after_iteration)
        self.pending.append(row)
        if len(self.pending) >= MAX_PENDING or time.monotonic() - self.oldest > MAX_WAIT_S:
            self.flush()
        return ok

    def flush(self) -> None:
        """Commit every waiting answer now (one transaction); raises the store's error, if it failed."""
        if self.error is not None:
            raise self.error
        rows, self.pending = self.pending, []
        if not rows:
            return
        try:
            self._commit(rows, self.oldest)
        except BaseException as e:
            if not isinstance(e, StoreError):  # e.g. Ctrl-C during the commit: rolled back, kept for the next
                self.pending = rows + self.pending
            raise

    def _commit(self, rows: list[list], since: float) -> None:
        try:
            self.store.put_rows(rows)
        except StoreError as e:
            self.error = e
            raise
        with self._lock:
            self.answers += len(rows)
            self.commits += 1
            self.max_wait_s = max(self.max_wait_s, time.monotonic() - since)

    def stats(self) -> dict:
        """For the run record: answers, transactions, and the longest an answer waited for its commit."""
        return {"answers": self.answers, "transactions": self.commits,
                "max_wait_ms": round(1000 * self.max_wait_s, 2)}

    def _flush_after_iteration(self) -> None:
        try:
            self.flush()
        except StoreError:                    # raised again by the next add() or the final flush()
            pass


def store_answer(store: Store, resp: Response, content: list | str | None) -> bool:
    """Store one response at once, checked as :class:`AnswerWriter` checks them (``content``: the request's
    ``content()`` or its JSON); True when it is stored as a good answer."""
    row = _row(resp, content)
    store.put_rows([row])
    return row[_STATUS] == "ok"


def _row(resp: Response, content: list | str | None) -> list:
    """The stored row; a reply that cannot be converted becomes that request's typed error (the run goes on)."""
    try:
        row = response_row(resp, content)
        bad = [v for v in row if v is not None and type(v) not in _STORABLE or type(v) is int and not
               _INT64[0] <= v <= _INT64[1]]                # (sqlite3 raises OverflowError, not a StoreError)
        if bad:                               # e.g. a server's usage count that is an object
            raise TypeError(f"a {type(bad[0]).__name__} where the store keeps text or numbers")
        return row
    except Exception as e:  # noqa: BLE001 - one bad reply never ends the run (nor the others committed with it)
        return response_row(Response(key=resp.key, error_type="unstorable_reply", attempts=resp.attempts,
                                     error_message=f"the reply could not be stored ({type(e).__name__}: {e})"),
                            None)
