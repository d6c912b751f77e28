"""Cooperating writers: processes sharing one store (and run) claim disjoint requests before asking them.

A claim is a row in the store's ``leases`` table (request key, owner, pid, host, expiry), taken in one
``BEGIN IMMEDIATE`` transaction, so two processes never hold the same key. A process renews its claims while
it lives (a heartbeat thread); a claim is taken over when it expired (its process stopped renewing it, e.g.
killed on another machine) or when its process is gone from this machine. A stored answer voids its claim
(claims are checked only for keys without one); a process removes its claims when it ends. So ``mmad-eval run``
started N times on one store splits the work, and a request is asked by one process at a time.

The Batch API sender claims through the same rows (``run --batch-api``: it claims before it writes a job, and
the job's rows replace its claims in one transaction), and a claim is never granted for a key waiting in an
open Batch API job: a key is in exactly one place (a claim, an open batch, or a stored answer), whichever side
of a live run and a batch sender on one folder reaches it first.
"""
from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from typing import Iterator

OPEN_STATES = ("preparing", "uploaded", "submitted")      # batch job states whose requests wait (batch_ledger)
WAITING_IN_BATCHES = ("SELECT r.key FROM batch_requests r JOIN batch_jobs j ON j.job = r.job WHERE r.outcome IS NULL"
                      " AND j.state IN (?, ?, ?)")
LEASE_TTL_S = 120.0         # a claim not renewed for this long may be taken over
HEARTBEAT_S = 20.0          # how often a live process renews its claims
CLAIM_BATCH = 64            # most keys claimed per transaction while a backend pulls requests


def process_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:           # exists, owned by someone else
        return True
    return True


class Claims:
    """This process's claims on the requests of one run in one store."""

    def __init__(self, store, since: float, retry_failed: bool, run: str = "", ttl_s: float = LEASE_TTL_S):
        self.store, self.run, self.since, self.retry_failed, self.ttl_s = store, run, since, retry_failed, ttl_s
        self.pid, self.host = os.getpid(), socket.gethostname()
        self.owner = f"{self.host}:{self.pid}:{uuid.uuid4().hex[:8]}"
        self.held: set[str] = set()
        self.in_batches: set[str] = set()     # keys found waiting in open Batch API jobs (never claimed)
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    # -- claiming --------------------------------------------------------------------------------------
    def _answered(self, row) -> bool:
        """Stored already: an answer, or (without retry_failed) any outcome; with retry_failed, an outcome
        stored since this invocation started (another process asked it again)."""
        if row is None:
            return False
        status, created = row
        return status == "ok" or not self.retry_failed or (created or 0) >= self.since

    def claim(self, keys: list[str]) -> tuple[list[str], int]:
        """(keys claimed now, how many are held by other live processes); answered keys are dropped."""
        if not keys:
            return [], 0
        now = time.time()
        got, busy = [], 0
        store = self.store
        with store._lock, store.db.transaction(immediate=True):
            marks = ",".join("?" * len(keys))
            answered = {k: (s, c) for k, s, c in store.db.execute(
                f"SELECT key, status, created FROM requests WHERE key IN ({marks})", keys)}
            leases = {k: (o, p, h, e) for k, o, p, h, e in store.db.execute(
                f"SELECT key, owner, pid, host, expires FROM leases WHERE key IN ({marks})", keys)}
            batched = {k for (k,) in store.db.execute(WAITING_IN_BATCHES + f" AND r.key IN ({marks})",
                                                     (*OPEN_STATES, *keys))}
            self.in_batches |= batched
            for k in keys:
                if self._answered(answered.get(k)) or k in batched:
                    continue
                lease = leases.get(k)
                if lease and lease[0] != self.owner and not self._expired(lease, now):
                    busy += 1
                    continue
                got.append(k)
            store.db.executemany("INSERT OR REPLACE INTO leases VALUES (?, ?, ?, ?, ?, ?)",
                                 [(k, self.run, self.owner, self.pid, self.host, now + self.ttl_s) for k in got])
        self.held.update(got)
        return got, busy

    def _expired(self, lease, now: float) -> bool:
        _, pid, host, expires = lease
        return expires < now or (host == self.host and not process_alive(pid))

    def unfinished(self, keys: list[str]) -> list[str]:
        """The keys not stored yet (by this process or another)."""
        out = []
        for i in range(0, len(keys), 500):
            chunk = keys[i:i + 500]
            with self.store._lock:
                rows = {k: (s, c) for k, s, c in self.store.db.execute(
                    f"SELECT key, status, created FROM requests WHERE key IN ({','.join('?' * len(chunk))})",
                    chunk)}
            out += [k for k in chunk if not self._answered(rows.get(k))]
        return out

    def done(self, key: str) -> None:
        self.held.discard(key)

    # -- lifetime --------------------------------------------------------------------------------------
    def __enter__(self) -> "Claims":
        self.purge_stale()
        self._beat = threading.Thread(target=self._heartbeat, name="mmad-leases", daemon=True)
        self._beat.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._beat is not None:
            self._beat.join(timeout=5)
        try:
            with self.store._lock:
                self.store.db.execute("DELETE FROM leases WHERE owner = ?", (self.owner,))
            self.purge_stale()
        except Exception:     # noqa: BLE001 - a failing store was reported already; leases expire anyway
            pass

    def purge_stale(self) -> int:
        """Delete the claims nobody can hold any more (processes killed before removing theirs): expired ones,
        those of processes gone from this machine, and those of keys answered since. Returns how many."""
        now = time.time()
        try:
            with self.store._lock, self.store.db.transaction(immediate=True):
                rows = self.store.db.execute("SELECT key, owner, pid, host, expires FROM leases")
                stale = [(k,) for k, *lease in rows if lease[0] != self.owner and self._expired(lease, now)]
                self.store.db.executemany("DELETE FROM leases WHERE key = ?", stale)
                self.store.db.execute("DELETE FROM leases WHERE key IN (SELECT key FROM requests WHERE status = 'ok')")
        except Exception:     # noqa: BLE001 - housekeeping only; a failing store is reported by the run
            return 0
        return len(stale)

    def _heartbeat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            try:
                with self.store._lock:
                    self.store.db.execute("UPDATE leases SET expires = ? WHERE owner = ?",
                                          (time.time() + self.ttl_s, self.owner))
            except Exception:  # noqa: BLE001 - the main thread reports store failures
                return


class ClaimingItems:
    """The pending requests as a lazily claimed sequence: iterating claims CLAIM_BATCH keys at a time, so
    a backend that pulls requests as it sends them (``lazy_items``) shares the run with other processes."""

    def __init__(self, claims: Claims, keys: list[str], requests: dict, batch: int = CLAIM_BATCH):
        self.claims, self.keys, self.requests, self.batch = claims, keys, requests, max(1, batch)
        self.taken: list[str] = []       # keys claimed (and so handed to the backend)
        self.busy = 0

    def __len__(self) -> int:
        return len(self.keys)

    def __bool__(self) -> bool:
        return bool(self.keys)

    def __iter__(self) -> Iterator:
        for i in range(0, len(self.keys), self.batch):
            got, busy = self.claims.claim(self.keys[i:i + self.batch])
            self.taken += got
            self.busy += busy
            for k in got:
                yield k, self.requests[k]

    def claim_all(self) -> list:
        """Every claimable request at once (backends that need a real list)."""
        self.batch = max(self.batch, 500)
        return list(self)
