"""The answer store: one SQLite database per output directory (``OUT/mmad-eval.sqlite``).

Tables
  runs      name -> run record (JSON)
  requests  one row per request key (= ``Request.key(backend.identity())``): content, reply or error, usage.
            Written once per response in its own small transaction, so a crash loses at most the answers
            in flight; a rerun asks only keys that are missing (errors only with ``retry_failed``).
  members   which (question, rotation) of which run is answered by which request, with the options shown
  images    content hash -> path relative to the data root, or the bytes of a generated (hint) image
"""
from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ..backends.base import Response

DB_NAME = "mmad-eval.sqlite"
SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (name TEXT PRIMARY KEY, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS requests (
    key TEXT PRIMARY KEY, content TEXT, status TEXT NOT NULL, text TEXT, error_type TEXT, error_message TEXT,
    attempts INTEGER, prompt_tokens INTEGER, completion_tokens INTEGER, latency REAL, letter_logprobs TEXT,
    created REAL);
CREATE TABLE IF NOT EXISTS members (
    run TEXT NOT NULL, qid TEXT NOT NULL, rotation INTEGER NOT NULL, image TEXT NOT NULL, idx INTEGER NOT NULL,
    type TEXT NOT NULL, options TEXT NOT NULL, answer TEXT NOT NULL, request_key TEXT NOT NULL,
    position INTEGER NOT NULL, n_prompt INTEGER NOT NULL, question TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (run, qid, rotation));
CREATE TABLE IF NOT EXISTS images (sha TEXT PRIMARY KEY, path TEXT, data BLOB);
"""
_REQ_COLS = ("key", "content", "status", "text", "error_type", "error_message", "attempts", "prompt_tokens",
             "completion_tokens", "latency", "letter_logprobs", "created")
_MEMBER_COLS = ("run", "qid", "rotation", "image", "idx", "type", "options", "answer", "request_key",
                "position", "n_prompt", "question")


@dataclass
class Member:
    """One (question, rotation) of a run and the request that answers it."""

    qid: str
    rotation: int
    image: str
    index: int
    type: str
    options: dict
    answer: str
    request_key: str
    position: int = 0          # the question's place in the request's prompt (numbered replies)
    n_prompt: int = 1          # how many questions that prompt lists
    question: str = ""         # the question text (for exports in MMAD's answer format)


class Store:
    def __init__(self, out_dir: Path):
        self.dir = Path(out_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / DB_NAME
        self._lock = threading.Lock()
        self.db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA busy_timeout=10000")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self.db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- runs ------------------------------------------------------------------------------------------
    def put_run(self, name: str, record: dict) -> None:
        with self._lock:
            self.db.execute("INSERT OR REPLACE INTO runs VALUES (?, ?)", (name, json.dumps(record, sort_keys=True)))

    def run_record(self, name: str) -> dict | None:
        row = self.db.execute("SELECT record FROM runs WHERE name = ?", (name,)).fetchone()
        return json.loads(row[0]) if row else None

    def run_names(self) -> list[str]:
        """Run names in the order the runs were started (the order a user ran them in)."""
        return [r[0] for r in self.db.execute(
            "SELECT name FROM runs ORDER BY json_extract(record, '$.started'), name")]

    # -- requests --------------------------------------------------------------------------------------
    def statuses(self) -> dict[str, str]:
        """key -> "ok"/"error" for every stored request."""
        return dict(self.db.execute("SELECT key, status FROM requests"))

    def put_response(self, resp: Response, content: list | None) -> None:
        """Store one response in its own transaction (called as each answer arrives)."""
        row = (resp.key, json.dumps(content) if content is not None else None, "ok" if resp.ok else "error",
               resp.text, resp.error_type if not resp.ok else None,
               resp.error_message if not resp.ok else None, resp.attempts, resp.prompt_tokens,
               resp.completion_tokens, resp.latency_s,
               json.dumps(resp.letter_logprobs) if resp.letter_logprobs is not None else None, time.time())
        if not resp.ok and row[4] is None:
            row = row[:4] + ("error",) + row[5:]
        with self._lock:
            self.db.execute(f"INSERT OR REPLACE INTO requests VALUES ({','.join('?' * len(_REQ_COLS))})", row)

    def put_request_rows(self, rows: list[tuple]) -> None:
        """Bulk insert of full request rows (merge); existing keys are replaced."""
        with self._lock, self.db:
            self.db.execute("BEGIN")
            self.db.executemany(f"INSERT OR REPLACE INTO requests VALUES ({','.join('?' * len(_REQ_COLS))})", rows)

    def request_rows(self):
        return self.db.execute(f"SELECT {','.join(_REQ_COLS)} FROM requests")

    def requests_for(self, keys) -> dict[str, dict]:
        keys = list(set(keys))
        out: dict[str, dict] = {}
        for i in range(0, len(keys), 500):
            chunk = keys[i:i + 500]
            q = f"SELECT {','.join(_REQ_COLS)} FROM requests WHERE key IN ({','.join('?' * len(chunk))})"
            for row in self.db.execute(q, chunk):
                out[row[0]] = dict(zip(_REQ_COLS, row))
        return out

    # -- membership ------------------------------------------------------------------------------------
    def put_members(self, run: str, members: list[Member]) -> None:
        rows = [(run, m.qid, m.rotation, m.image, m.index, m.type, json.dumps(m.options), m.answer,
                 m.request_key, m.position, m.n_prompt, m.question) for m in members]
        self.put_member_rows(rows)

    def put_member_rows(self, rows: list[tuple]) -> None:
        with self._lock, self.db:
            self.db.execute("BEGIN")
            self.db.executemany(f"INSERT OR REPLACE INTO members VALUES ({','.join('?' * len(_MEMBER_COLS))})", rows)

    def member_rows(self, run: str | None = None):
        q = f"SELECT {','.join(_MEMBER_COLS)} FROM members"
        return self.db.execute(q + " WHERE run = ? ORDER BY rowid", (run,)) if run else self.db.execute(q)

    def members(self, run: str) -> list[Member]:
        out = []
        for row in self.member_rows(run):
            out.append(Member(qid=row[1], rotation=row[2], image=row[3], index=row[4], type=row[5],
                              options=json.loads(row[6]), answer=row[7], request_key=row[8], position=row[9],
                              n_prompt=row[10], question=row[11]))
        return out

    def usage(self, run: str) -> dict:
        """Counts and token totals over the distinct requests of a run's members."""
        row = self.db.execute(
            "SELECT COUNT(*), SUM(r.status = 'ok'), SUM(r.status = 'error'), SUM(r.prompt_tokens), "
            "SUM(r.completion_tokens) FROM requests r WHERE r.key IN (SELECT request_key FROM members WHERE run = ?)",
            (run,)).fetchone()
        members = self.db.execute("SELECT COUNT(*) FROM members WHERE run = ?", (run,)).fetchone()[0]
        return {"answers": members, "requests": row[0], "ok": row[1] or 0, "error": row[2] or 0,
                "prompt_tokens": row[3] or 0, "completion_tokens": row[4] or 0}

    # -- images ----------------------------------------------------------------------------------------
    def put_images(self, rows: list[tuple[str, str | None, bytes | None]]) -> None:
        with self._lock, self.db:
            self.db.execute("BEGIN")
            self.db.executemany("INSERT OR IGNORE INTO images VALUES (?, ?, ?)", rows)

    def image_rows(self):
        return self.db.execute("SELECT sha, path, data FROM images")

    def image(self, sha: str) -> tuple[str | None, bytes | None] | None:
        row = self.db.execute("SELECT path, data FROM images WHERE sha = ?", (sha,)).fetchone()
        return (row[0], row[1]) if row else None
