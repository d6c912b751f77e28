"""Execution: any backend wrapped with the store (lm-evaluation-harness's ``CachingLM`` shape).

Requests whose answers are stored are served from the store and never reach the backend; the misses go to
the backend in ONE ``generate`` call (it decides batching and concurrency), and each answer is committed
the moment it is emitted, so a killed run loses only what was in flight. The cache key is the request key,
which includes the backend's identity (model, decoding, image settings, answer-changing options): unlike
``CachingLM``'s, two models never share an answer. Stored errors are asked again only with ``retry_failed``.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from ..backends.base import Backend, Response
from ..prompt.message import Request
from .batch_ledger import BatchLedger
from .progress import RunProgress
from .store import Store


@dataclass
class Outcome:
    """What one execution did."""

    asked: int = 0                  # sent to the backend
    failed: int = 0                 # asked now and failed
    answered: set[str] = field(default_factory=set)   # keys the backend emitted
    stored_errors: int = 0          # failed before, not asked again (no retry_failed)
    status: dict[str, str] = field(default_factory=dict)   # key -> stored status before this execution
    pending: int = 0                # not served from the store (asked, sent in batches, or waiting in them)
    in_batches: int = 0             # pending but waiting in Batch API jobs: never asked live meanwhile
    batch: object = None            # batch_mode.BatchReport when sent through the Batch API

    @property
    def unanswered(self) -> int:
        """Sent but never emitted by the backend (a backend bug)."""
        return self.asked - len(self.answered)


class StoreCachedBackend:
    """A backend behind the store: stored answers are served, new ones committed one by one."""

    def __init__(self, backend: Backend, store: Store):
        self.backend = backend
        self.store = store

    def pending(self, requests: dict[str, Request], status: dict[str, str], retry_failed: bool):
        return [(k, r) for k, r in requests.items() if k not in status or (retry_failed and status[k] != "ok")]

    def answer(self, requests: dict[str, Request], *, retry_failed: bool = False,
               progress: bool = False) -> Outcome:
        """Ask the backend what the store does not hold and no Batch API job waits for; commit each response
        as it arrives."""
        status = self.store.statuses()
        pending = self.pending(requests, status, retry_failed)
        waiting = BatchLedger(self.store).waiting_keys()
        asked = [(k, r) for k, r in pending if k not in waiting]
        outcome = Outcome(asked=len(asked), status=status, stored_errors=0 if retry_failed else sum(
            1 for k in requests if status.get(k) == "error"), pending=len(pending),
            in_batches=len(pending) - len(asked))
        pending = asked
        with RunProgress(len(pending), enabled=progress) as bar:
            def emit(resp: Response) -> None:
                req = requests.get(resp.key)
                if req is None or resp.key in outcome.answered:
                    return          # not ours, or a second answer to one request: the first one stands
                outcome.answered.add(resp.key)
                self.store.put_response(resp, req.content())
                outcome.failed += 0 if resp.ok else 1
                bar.advance(resp)

            if pending:
                asyncio.run(self.backend.generate(pending, emit))
        return outcome
