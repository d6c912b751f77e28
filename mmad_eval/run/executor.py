"""Execution: any backend wrapped with the store (lm-evaluation-harness's ``CachingLM`` shape).

Requests whose answers are stored are served from the store and never reach the backend; the misses go to
the backend in ONE ``generate`` call (it decides batching and concurrency; with several processes on one
store, each asks the requests it claims, see :mod:`.leases`), and each answer is committed the moment it
is emitted (those of one event-loop iteration together, see :mod:`.answer_writer`), so a killed run loses only
what was in flight and the answers of its last milliseconds. The cache key is the request key,
which includes the backend's identity (model, decoding, image settings, answer-changing options): unlike
``CachingLM``'s, two models never share an answer. Stored errors are asked again only with ``retry_failed``.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from ..backends.base import Backend, Response
from ..prompt.message import Request
from .answer_writer import AnswerWriter
from .batch_ledger import BatchLedger
from .progress import RunProgress
from .leases import CLAIM_BATCH, Claims, ClaimingItems
from .store import Store

POLL_S = 0.5      # how often a process waits for requests that other processes are asking


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
    commits: dict = field(default_factory=dict)   # AnswerWriter.stats(): answers per transaction, longest wait
    agent: dict = field(default_factory=dict)     # agent mode: conversations, turns, tool calls (run/agent.py)

    @property
    def unanswered(self) -> int:
        """Sent but never emitted by the backend (a backend bug)."""
        return self.asked - len(self.answered)


class StoreCachedBackend:
    """A backend behind the store: stored answers are served, new ones committed one by one. Processes
    sharing a store claim requests before asking them (:mod:`.leases`), so none is asked twice."""

    def __init__(self, backend: Backend, store: Store):
        self.backend = backend
        self.store = store

    def pending(self, requests: dict[str, Request], status: dict[str, str], retry_failed: bool):
        return [(k, r) for k, r in requests.items() if k not in status or (retry_failed and status[k] != "ok")]

    def answer(self, requests: dict[str, Request], *, retry_failed: bool = False, progress: bool = False,
               since: float | None = None) -> Outcome:
        """Ask the backend what the store does not hold, no Batch API job waits for (checked with every claim,
        so a batch sent by another process meanwhile counts) and no other process is asking; commit each
        response as it arrives."""
        status = self.store.statuses()
        pending = self.pending(requests, status, retry_failed)
        ledger = BatchLedger(self.store)
        if ledger.jobs(open_only=True):
            ledger.abandon_dead_uploads()
        waiting = ledger.waiting_keys()
        live = {k: r for k, r in pending if k not in waiting}
        outcome = Outcome(status=status, stored_errors=0 if retry_failed else sum(
            1 for k in requests if status.get(k) == "error"), in_batches=len(pending) - len(live))
        with RunProgress(len(live), enabled=progress) as bar, \
                Claims(self.store, since=time.time() if since is None else since,
                       retry_failed=retry_failed) as claims:
            writer = AnswerWriter(self.store)

            def emit(resp: Response) -> None:
                req = requests.get(resp.key)
                if req is None or resp.key in outcome.answered:
                    return          # not ours, or a second answer to one request: the first one stands
                outcome.answered.add(resp.key)
                stored_ok = writer.add(resp, req)      # (a reply the store refused is that request's error)
                outcome.failed += 0 if stored_ok else 1
                bar.advance(resp, stored_ok)

            asked = self._ask(live, emit, claims, writer) if live else set()
            outcome.in_batches += len(claims.in_batches - asked)   # sent in batches by another process meanwhile
        outcome.asked = len(asked)
        outcome.commits = writer.stats()
        outcome.pending = len(asked) + outcome.in_batches     # the rest came from the store (or another process)
        return outcome

    def _ask(self, pending: dict, emit, claims: Claims, writer: AnswerWriter) -> set[str]:
        """Ask the requests this process claims (each once); wait for those other processes are asking, or
        take them over when those stop. Returns the keys handed to the backend."""
        asked: set[str] = set()
        lazy = getattr(self.backend, "lazy_items", False)
        batch = min(CLAIM_BATCH, max(4, getattr(self.backend, "concurrency", 8)))   # about what is in flight

        async def drive() -> None:
            keys = list(pending)
            while keys:
                items = ClaimingItems(claims, keys, pending, batch=batch)
                todo = items if lazy else items.claim_all()
                if len(todo):
                    try:
                        await self.backend.generate(todo, emit)
                    finally:       # before anything reads the store (and on a stop: what was answered is kept)
                        writer.flush()
                asked.update(items.taken)
                keys = [k for k in claims.unfinished(keys) if k not in asked and k not in claims.in_batches]
                if keys and not items.taken:
                    await asyncio.sleep(POLL_S)

        asyncio.run(drive())
        return asked
