"""Batch API jobs in the run's store (``OUT/mmad-eval.sqlite``), so a rerun anywhere resumes them.

Tables (created by the store's schema, version 3)
  batch_jobs      one row per batch file we send: its run, state, provider file and batch ids, status, counts
  batch_requests  which request keys a job holds, with what is needed to store their answers without the
                  question set (the request content, the option letters), and each one's outcome

A job's state moves ``preparing`` (keys recorded, before upload) -> ``uploaded`` (file id stored, before the
batch is created) -> ``submitted`` (batch id stored) -> ``ended`` (results stored); or ``abandoned`` (nothing
was ever submitted for it). Each step is written before the next call to the provider, so a process killed
anywhere leaves a state the next run can reconcile with the provider's own lists.
Outcome of a request: NULL (waiting), ``answered``, ``error`` (a typed error stored) or ``returned`` (the batch
never ran it: expired or cancelled; it is pending again).
"""
from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from dataclasses import dataclass

from ..errors import ConfigError

from .leases import OPEN_STATES, WAITING_IN_BATCHES
from .store import Store

_JOB_COLS = ("job", "run", "state", "base_url", "file_id", "batch_id", "status", "counts", "n_requests",
             "n_bytes", "created", "updated", "note")


@dataclass
class Job:
    job: str
    run: str
    state: str
    base_url: str
    file_id: str | None
    batch_id: str | None
    status: str | None
    counts: dict
    n_requests: int
    n_bytes: int
    created: float
    updated: float
    note: str | None

    @property
    def filename(self) -> str:
        return f"mmad-eval-{self.job}.jsonl"


class BatchLedger:
    """The batch tables of one store (shares its connection and lock)."""

    def __init__(self, store: Store):
        self.store = store
        self.db = store.db

    @contextlib.contextmanager
    def exclusive(self):
        """Only one process sends or polls this folder's batches at a time (two could send the same requests);
        the lock is the operating system's, so a killed process never leaves it held."""
        path = self.store.dir / "mmad-eval.batch-lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                import fcntl
            except ImportError:          # pragma: no cover - not POSIX: no cross-process lock
                yield
                return
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise ConfigError("another mmad-eval process is sending or polling Batch API jobs of this folder; "
                                  "wait for it to end", culprit=str(self.store.dir)) from None
            yield
        finally:
            os.close(fd)

    def abandon_dead_uploads(self) -> int:
        """Jobs left ``preparing`` by a sender that is gone (no process holds the batch lock) are abandoned:
        no batch was ever created from them, so their requests may be asked again (by a live run too)."""
        try:
            with self.exclusive():
                dead = [j.job for j in self.jobs(open_only=True) if j.state == "preparing"]
                for job in dead:
                    self.end(job, "abandoned", note="its sender stopped during the upload; no batch was made")
        except ConfigError:        # a sender is at work: its jobs are alive
            return 0
        return len(dead)

    def _write(self, sql: str, args=()) -> None:
        with self.store._lock:
            self.db.execute(sql, args)

    # -- jobs ------------------------------------------------------------------------------------------
    def add_job(self, run: str, base_url: str, requests: list[tuple[str, list, tuple]], n_bytes: int,
                claims=None) -> Job:
        """Record a new job and its requests ``(key, content, letters)`` in one transaction (before upload); the
        job's rows replace ``claims``' leases on those keys (run/leases.py) in that same transaction."""
        now = time.time()
        job = uuid.uuid4().hex[:20]
        with self.store._lock, self.db.transaction(immediate=True):
            if claims is not None:
                self.db.executemany("DELETE FROM leases WHERE key = ? AND owner = ?",
                                    [(k, claims.owner) for k, _, _ in requests])
            self.db.execute(f"INSERT INTO batch_jobs VALUES ({','.join('?' * len(_JOB_COLS))})",
                            (job, run, "preparing", base_url, None, None, None, "{}", len(requests), n_bytes,
                             now, now, None))
            self.db.executemany("INSERT INTO batch_requests VALUES (?, ?, ?, ?, NULL)",
                                [(job, k, json.dumps(c), json.dumps(list(letters))) for k, c, letters in requests])
        return self.job(job)

    def job(self, job: str) -> Job:
        row = self.db.execute(f"SELECT {','.join(_JOB_COLS)} FROM batch_jobs WHERE job = ?", (job,)).fetchone()
        return _job(row)

    def jobs(self, run: str | None = None, open_only: bool = False) -> list[Job]:
        q = f"SELECT {','.join(_JOB_COLS)} FROM batch_jobs WHERE 1"
        args: list = []
        if run is not None:
            q += " AND run = ?"
            args.append(run)
        if open_only:
            q += f" AND state IN ({','.join('?' * len(OPEN_STATES))})"
            args += OPEN_STATES
        return [_job(r) for r in self.db.execute(q + " ORDER BY created, job", args)]

    def set_file(self, job: str, file_id: str) -> None:
        self._write("UPDATE batch_jobs SET state = 'uploaded', file_id = ?, updated = ? WHERE job = ?",
                    (file_id, time.time(), job))

    def set_batch(self, job: str, batch: dict) -> None:
        self._write("UPDATE batch_jobs SET state = 'submitted', batch_id = ?, status = ?, counts = ?, updated = ? "
                    "WHERE job = ?", (batch["id"], batch.get("status"), json.dumps(batch.get("request_counts") or {}),
                                      time.time(), job))

    def set_status(self, job: str, batch: dict, note: str | None = None) -> None:
        self._write("UPDATE batch_jobs SET status = ?, counts = ?, note = COALESCE(?, note), updated = ? "
                    "WHERE job = ?", (batch.get("status"), json.dumps(batch.get("request_counts") or {}), note,
                                      time.time(), job))

    def end(self, job: str, state: str = "ended", note: str | None = None) -> None:
        """Close a job: requests without an outcome are returned (pending again)."""
        with self.store._lock, self.db.transaction():
            self.db.execute("UPDATE batch_requests SET outcome = 'returned' WHERE job = ? AND outcome IS NULL", (job,))
            self.db.execute("UPDATE batch_jobs SET state = ?, note = COALESCE(?, note), updated = ? WHERE job = ?",
                            (state, note, time.time(), job))

    # -- requests --------------------------------------------------------------------------------------
    def requests(self, job: str) -> dict[str, tuple[list, tuple, str | None]]:
        """key -> (content, letters, outcome) of a job's requests."""
        rows = self.db.execute("SELECT key, content, letters, outcome FROM batch_requests WHERE job = ?", (job,))
        return {k: (json.loads(c) if c else None, tuple(json.loads(lt) if lt else ()), o) for k, c, lt, o in rows}

    def mark(self, job: str, key: str, outcome: str) -> None:
        self._write("UPDATE batch_requests SET outcome = ? WHERE job = ? AND key = ?", (outcome, job, key))

    def waiting_keys(self, run: str | None = None) -> set[str]:
        """Keys held by open jobs and not answered yet (never to be sent again meanwhile)."""
        q, args = WAITING_IN_BATCHES, list(OPEN_STATES)
        if run is not None:
            q += " AND j.run = ?"
            args.append(run)
        return {r[0] for r in self.db.execute(q, args)}

    def usage(self, run: str) -> dict:
        """Requests of a run answered through batches, and their tokens."""
        row = self.db.execute(
            "SELECT COUNT(*), SUM(prompt_tokens), SUM(completion_tokens) FROM requests WHERE status = 'ok' AND key IN "
            "(SELECT key FROM batch_requests WHERE outcome = 'answered') AND key IN "
            "(SELECT request_key FROM members WHERE run = ?)", (run,)).fetchone()
        return {"requests": row[0] or 0, "prompt_tokens": row[1] or 0, "completion_tokens": row[2] or 0}


def _job(row) -> Job:
    d = dict(zip(_JOB_COLS, row))
    d["counts"] = json.loads(d["counts"] or "{}")
    return Job(**d)
