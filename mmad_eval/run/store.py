"""The answer store: one SQLite database per output directory (``OUT/mmad-eval.sqlite``).

Tables
  runs      name -> run record (JSON)
  requests  one row per request key (= ``Request.key(backend.identity())``): content, reply or error, usage.
            Written once per response in its own small transaction, so a crash loses at most the answers
            in flight; a rerun asks only keys that are missing (errors only with ``retry_failed``).
  members   which (question, rotation) of which run is answered by which request, with the options shown
  images    content hash -> path relative to the data root, or the bytes of a generated (hint) image
  batch_jobs, batch_requests   Batch API jobs and the request keys each holds (see :mod:`.batch_ledger`)
  leases    request key -> the process (owner, pid, host) asking it now and when its claim expires, so several
            processes on one store share a run without asking anything twice (see :mod:`.leases`)

The schema version is SQLite's ``PRAGMA user_version`` (:data:`SCHEMA_VERSION`). Opening an older store
migrates it in place, in one transaction (:data:`MIGRATIONS`); a store from a newer release is refused
with an error naming the file. Release 0.1.0 wrote version 0.
"""
from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..backends.base import Response
from ..errors import ConfigError
from ..redact import redact
from .store_db import GuardedDB, StoreError, open_for_writing, open_read_only

DB_NAME = "mmad-eval.sqlite"
SCHEMA_VERSION = 5
BATCH_SCHEMA = """
CREATE TABLE IF NOT EXISTS batch_jobs (
    job TEXT PRIMARY KEY, run TEXT NOT NULL, state TEXT NOT NULL, base_url TEXT NOT NULL, file_id TEXT,
    batch_id TEXT, status TEXT, counts TEXT, n_requests INTEGER NOT NULL, n_bytes INTEGER NOT NULL,
    created REAL NOT NULL, updated REAL NOT NULL, note TEXT);
CREATE TABLE IF NOT EXISTS batch_requests (
    job TEXT NOT NULL, key TEXT NOT NULL, content TEXT, letters TEXT, outcome TEXT, PRIMARY KEY (job, key));
CREATE INDEX IF NOT EXISTS batch_requests_key ON batch_requests (key);
"""
SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (name TEXT PRIMARY KEY, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS requests (
    key TEXT PRIMARY KEY, content TEXT, status TEXT NOT NULL, text TEXT, error_type TEXT, error_message TEXT,
    attempts INTEGER, prompt_tokens INTEGER, completion_tokens INTEGER, latency REAL, letter_logprobs TEXT,
    created REAL, extra TEXT);
CREATE TABLE IF NOT EXISTS members (
    run TEXT NOT NULL, qid TEXT NOT NULL, rotation INTEGER NOT NULL, image TEXT NOT NULL, idx INTEGER NOT NULL,
    type TEXT NOT NULL, options TEXT NOT NULL, answer TEXT NOT NULL, request_key TEXT NOT NULL,
    position INTEGER NOT NULL, n_prompt INTEGER NOT NULL, question TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (run, qid, rotation));
CREATE TABLE IF NOT EXISTS images (sha TEXT PRIMARY KEY, path TEXT, data BLOB);
""" + BATCH_SCHEMA + """;
CREATE TABLE IF NOT EXISTS leases (key TEXT PRIMARY KEY, run TEXT NOT NULL, owner TEXT NOT NULL,
    pid INTEGER NOT NULL, host TEXT NOT NULL, expires REAL NOT NULL);
"""
REQUEST_COLUMNS = ("key", "content", "status", "text", "error_type", "error_message", "attempts",
                   "prompt_tokens", "completion_tokens", "latency", "letter_logprobs", "created", "extra")
MEMBER_COLUMNS = ("run", "qid", "rotation", "image", "idx", "type", "options", "answer", "request_key",
                  "position", "n_prompt", "question")


def _drop_run_parser_setting(db: sqlite3.Connection) -> None:
    """0 -> 1: ``settings.parser`` was recorded but never read; records lose it so old and new compare equal."""
    for name, text in db.execute("SELECT name, record FROM runs").fetchall():
        record = json.loads(text)
        if "parser" in (record.get("settings") or {}):
            del record["settings"]["parser"]
            db.execute("UPDATE runs SET record = ? WHERE name = ?", (json.dumps(record, sort_keys=True), name))


def _name_references(db: sqlite3.Connection) -> None:
    """1 -> 2: the recorded setting ``protocol.templates`` (which normal reference images) is ``references``,
    and so is the run record's ``enhancements.templates``."""
    for name, text in db.execute("SELECT name, record FROM runs").fetchall():
        record = json.loads(text)
        for section in ((record.get("settings") or {}).get("protocol"), record.get("enhancements")):
            if isinstance(section, dict) and "templates" in section:
                section["references"] = section.pop("templates")
        db.execute("UPDATE runs SET record = ? WHERE name = ?", (json.dumps(record, sort_keys=True), name))


def _add_batch_tables(db: sqlite3.Connection) -> None:
    """2 -> 3: the Batch API tables (``run --batch-api``)."""
    for statement in BATCH_SCHEMA.split(";"):
        db.execute(statement)


def _add_answer_details(db: sqlite3.Connection) -> None:
    """3 -> 4: requests gain ``extra``, the answer details kept with each reply (finish reason, the letters
    outside the returned top-k, a detector's score, reasoning tokens)."""
    db.execute("ALTER TABLE requests ADD COLUMN extra TEXT")


def _add_leases(db) -> None:
    """4 -> 5: the ``leases`` table of cooperating writers (run/leases.py)."""
    db.execute("CREATE TABLE IF NOT EXISTS leases (key TEXT PRIMARY KEY, run TEXT NOT NULL, owner TEXT NOT NULL, "
               "pid INTEGER NOT NULL, host TEXT NOT NULL, expires REAL NOT NULL)")


# version v -> the step that brings a version-v store to v + 1
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {0: _drop_run_parser_setting, 1: _name_references,
                                                              2: _add_batch_tables, 3: _add_answer_details,
                                                              4: _add_leases}
# every existing table a migration rewrites (a read-only store migrates in-memory copies of these)
MIGRATED_TABLES = ("runs", "requests")


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

    def row(self, run: str) -> tuple:
        return (run, self.qid, self.rotation, self.image, self.index, self.type, json.dumps(self.options),
                self.answer, self.request_key, self.position, self.n_prompt, self.question)

    @classmethod
    def from_row(cls, row: tuple) -> "Member":
        """From a members row selected in :data:`MEMBER_COLUMNS` order."""
        _run, qid, rotation, image, idx, type_, options, answer, request_key, position, n_prompt, question = row
        return cls(qid, rotation, image, idx, type_, json.loads(options), answer, request_key, position, n_prompt,
                   question)


_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(text) -> tuple[str | None, int]:
    """(text storable as UTF-8, characters replaced by U+FFFD): lone surrogates (valid JSON escapes such as
    ``"\\ud800"``) cannot be encoded, so they are replaced and the replacement is recorded."""
    if text is None:
        return None, 0
    return _SURROGATE.subn("\ufffd", text if isinstance(text, str) else str(text))


def _read_only_uri(path: Path) -> str:
    """A read-only SQLite URI for ``path`` (percent-encoded: a folder may be named ``run #1?``)."""
    return path.resolve().as_uri() + "?mode=ro"


def _insert(table: str, columns: tuple[str, ...], verb: str = "INSERT OR REPLACE") -> str:
    return f"{verb} INTO {table} ({','.join(columns)}) VALUES ({','.join('?' * len(columns))})"


def _earlier(field: str) -> str:
    """The new row's ``extra.earlier.<field>`` plus the replaced row's, plus the replaced row's own."""
    return (f"COALESCE(json_extract(excluded.extra, '$.earlier.{field}'), 0) + "
            f"COALESCE(json_extract(requests.extra, '$.earlier.{field}'), 0) + COALESCE(requests.{field}, 0)")


# a request row, replacing the key's earlier outcome but adding its attempts and tokens to ``extra.earlier``
_UPSERT = (_insert("requests", REQUEST_COLUMNS, "INSERT") + " ON CONFLICT(key) DO UPDATE SET "
           + ", ".join(f"{c} = excluded.{c}" for c in REQUEST_COLUMNS[1:-1])
           + ", extra = json_set(COALESCE(excluded.extra, '{}'), '$.earlier', json_object("
           + ", ".join(f"'{f}', {_earlier(f)}" for f in ("attempts", "prompt_tokens", "completion_tokens")) + "))")


class Store:
    """``read_only``: never write the file (scores, reports, merge sources); an older store is then migrated
    in a view (temporary copies of :data:`MIGRATED_TABLES`), so a store on read-only media still reads."""

    def __init__(self, out_dir: Path, read_only: bool = False, file: Path | None = None):
        self.dir = Path(out_dir)
        self.read_only = read_only
        self.path = Path(file) if file else self.dir / DB_NAME
        self._lock = threading.RLock()     # re-entrant: merge holds it around one outer transaction
        self.db = None
        # every SQLite failure, now or later, is one StoreError naming the file and what to do (store_db.py)
        self.db = open_read_only(self.path) if read_only else open_for_writing(self.dir, self.path)
        try:
            self._open_schema()
        except sqlite3.DatabaseError as e:
            self._close_quietly()
            raise ConfigError(f"not a readable mmad-eval store ({e})", culprit=str(self.path)) from None
        except BaseException:
            self._close_quietly()
            raise

    def _close_quietly(self) -> None:
        if self.db is not None:
            self.db.close()

    def _open_schema(self) -> None:
        """Create a new store, migrate an older one, refuse a newer one (in one write transaction)."""
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return
        self._check_not_newer(version)
        if self.read_only:
            self._migrate_view(version)
            return
        self.db.execute("BEGIN IMMEDIATE")
        try:
            version = self.db.execute("PRAGMA user_version").fetchone()[0]   # another process may have won
            self._check_not_newer(version)
            fresh = self.db.execute("SELECT COUNT(*) FROM sqlite_master WHERE name = 'runs'").fetchone()[0] == 0
            for statement in SCHEMA.split(";") if fresh else ():
                self.db.execute(statement)
            while not fresh and version < SCHEMA_VERSION:
                MIGRATIONS[version](self.db)
                version += 1
            self.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def _migrate_view(self, version: int) -> None:
        """Migrate a view of the file, never the file: an in-memory database holds copies of the migrated
        tables and whatever a migration adds; the file, attached read-only, serves every other table."""
        if self.db.execute("SELECT COUNT(*) FROM sqlite_master WHERE name = 'runs'").fetchone()[0] == 0:
            raise sqlite3.DatabaseError("no mmad-eval tables")
        self.db.close()
        self.db = GuardedDB(sqlite3.connect(":memory:", uri=True, check_same_thread=False, isolation_level=None),
                            self.path)
        try:
            self.db.execute("ATTACH DATABASE ? AS stored", (_read_only_uri(self.path),))
            self.db.execute("SELECT COUNT(*) FROM stored.sqlite_master")
        except StoreError:      # a read-only folder or mount where SQLite cannot make the WAL index
            self.db.execute("ATTACH DATABASE ? AS stored", (_read_only_uri(self.path) + "&immutable=1",))
        for table in MIGRATED_TABLES:     # the same table (keys included), then its rows
            (sql,) = self.db.execute("SELECT sql FROM stored.sqlite_master WHERE type = 'table' AND name = ?",
                                     (table,)).fetchone()
            self.db.execute(sql)
            self.db.execute(f"INSERT INTO main.{table} SELECT * FROM stored.{table}")
        while version < SCHEMA_VERSION:
            MIGRATIONS[version](self.db)
            version += 1
        self.db.execute("PRAGMA query_only = ON")

    def _check_not_newer(self, version: int) -> None:
        if version > SCHEMA_VERSION:
            raise StoreError(f"this store was written by a newer mmad-eval (store schema {version}; this release "
                              f"reads up to {SCHEMA_VERSION}): upgrade mmad-eval to read it", culprit=str(self.path))

    @property
    def schema_version(self) -> int:
        return self.db.execute("PRAGMA user_version").fetchone()[0]

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
            self.db.execute("INSERT OR REPLACE INTO runs (name, record) VALUES (?, ?)",
                            (name, json.dumps(record, sort_keys=True)))

    def update_run(self, name: str, change) -> dict:
        """Read-modify-write of a run record in one exclusive transaction (several processes may share a
        run): ``change(current record or None) -> new record``; returns the record written."""
        with self._lock, self.db.transaction(immediate=True):
            row = self.db.execute("SELECT record FROM runs WHERE name = ?", (name,)).fetchone()
            record = change(json.loads(row[0]) if row else None)
            self.db.execute("INSERT OR REPLACE INTO runs (name, record) VALUES (?, ?)",
                            (name, json.dumps(record, sort_keys=True)))
        return record

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

    def put_response(self, resp: Response, content: list | str | None) -> None:
        """Store one response in its own transaction; ``content`` is the request's ``content()``, or its JSON
        text (``Request.content_json``)."""
        self.put_rows([response_row(resp, content)])

    def put_rows(self, rows: list[list]) -> None:
        """Store answers (rows made by :func:`response_row`) in one transaction: all of them or none. A row
        replacing an earlier outcome of its key (an error asked again) keeps what the earlier ones cost in
        ``extra.earlier`` (:data:`_UPSERT`), so usage counts every billed request, not only the stored ones."""
        with self._lock:            # (their claims, if any, are void once the answers are stored: run/leases.py)
            if len(rows) == 1:
                self.db.execute(_UPSERT, rows[0])
                return
            with self.db.transaction():
                self.db.executemany(_UPSERT, rows)

    def requests_for(self, keys) -> dict[str, dict]:
        """key -> request row (a dict by column name) for the stored ones among ``keys``."""
        keys = list(set(keys))
        out: dict[str, dict] = {}
        for i in range(0, len(keys), 500):
            chunk = keys[i:i + 500]
            q = f"SELECT {','.join(REQUEST_COLUMNS)} FROM requests WHERE key IN ({','.join('?' * len(chunk))})"
            for row in self.db.execute(q, chunk):
                out[row[0]] = dict(zip(REQUEST_COLUMNS, row))
        return out

    def annotate(self, details: dict[str, dict]) -> None:
        """Merge ``{key: {name: value}}`` into stored answers' details (``extra``) in one transaction (agent mode
        adds each final answer's trajectory summary); keys not stored are left out."""
        with self._lock, self.db.transaction():
            for key, add in details.items():
                row = self.db.execute("SELECT extra FROM requests WHERE key = ?", (key,)).fetchone()
                if row is not None:
                    extra = {**json.loads(row[0] or "{}"), **add}
                    self.db.execute("UPDATE requests SET extra = ? WHERE key = ?", (json.dumps(extra), key))

    # -- membership ------------------------------------------------------------------------------------
    def put_members(self, run: str, members: list[Member]) -> None:
        with self._lock, self.db.transaction():
            self.db.executemany(_insert("members", MEMBER_COLUMNS), [m.row(run) for m in members])

    def members(self, run: str) -> list[Member]:
        q = f"SELECT {','.join(MEMBER_COLUMNS)} FROM members WHERE run = ? ORDER BY rowid"
        return [Member.from_row(row) for row in self.db.execute(q, (run,))]

    def usage(self, run: str) -> dict:
        """Counts and token totals over the distinct requests of a run's members: those of the stored outcomes,
        and what was billed (``requests_sent``: every attempt sent, including retried ones and outcomes later
        replaced, e.g. errors asked again; ``*_tokens_billed`` likewise)."""
        earlier = "COALESCE(json_extract(r.extra, '$.earlier.{}'), 0)"
        row = self.db.execute(
            "SELECT COUNT(*), SUM(r.status = 'ok'), SUM(r.status = 'error'), SUM(r.prompt_tokens), "
            "SUM(r.completion_tokens), SUM(json_extract(r.extra, '$.reasoning_tokens')), "
            f"SUM(COALESCE(r.attempts, 0) + {earlier.format('attempts')}), "
            f"SUM(COALESCE(r.prompt_tokens, 0) + {earlier.format('prompt_tokens')}), "
            f"SUM(COALESCE(r.completion_tokens, 0) + {earlier.format('completion_tokens')}) "
            "FROM requests r WHERE r.key IN (SELECT request_key FROM members WHERE run = ?)",
            (run,)).fetchone()
        members = self.db.execute("SELECT COUNT(*) FROM members WHERE run = ?", (run,)).fetchone()[0]
        out = {"answers": members, "requests": row[0], "ok": row[1] or 0, "error": row[2] or 0,
               "prompt_tokens": row[3] or 0, "completion_tokens": row[4] or 0, "requests_sent": row[6] or 0,
               "prompt_tokens_billed": row[7] or 0, "completion_tokens_billed": row[8] or 0}
        if row[5]:          # reported by the API, part of completion_tokens
            out["reasoning_tokens"] = row[5]
        return out

    # -- images ----------------------------------------------------------------------------------------
    def put_images(self, rows: list[tuple[str, str | None, bytes | None]]) -> None:
        with self._lock, self.db.transaction():
            self.db.executemany("INSERT OR IGNORE INTO images (sha, path, data) VALUES (?, ?, ?)", rows)

    def image(self, sha: str) -> tuple[str | None, bytes | None] | None:
        row = self.db.execute("SELECT path, data FROM images WHERE sha = ?", (sha,)).fetchone()
        return (row[0], row[1]) if row else None

    @staticmethod
    def read_image(db_path: Path, sha: str) -> tuple[str | None, bytes | None] | None:
        """(path, bytes) of one stored image, read through a short read-only connection (usable after close)."""
        try:
            db = open_read_only(Path(db_path))
        except StoreError:
            return None
        try:
            row = db.execute("SELECT path, data FROM images WHERE sha = ?", (sha,)).fetchone()
        except StoreError:
            return None
        finally:
            db.close()
        return (row[0], row[1]) if row else None

def response_row(resp: Response, content: list | str | None) -> list:
    """One ``requests`` row (values in :data:`REQUEST_COLUMNS` order) for a response. A reply that is not
    valid Unicode is stored with U+FFFD replacements, noted in ``error_message`` (status stays ok)."""
    text, replaced = clean_text(resp.text)
    message = None if resp.ok else redact(clean_text(resp.error_message)[0])
    if resp.ok and replaced:
        message = f"replaced_characters: {replaced} characters of the reply were not valid Unicode (U+FFFD)"
    if content is not None and not isinstance(content, str):
        content = json.dumps(content)
    extra = resp.stored_extra()
    row = {"key": resp.key, "content": content,
           "status": "ok" if resp.ok else "error", "text": text,
           "error_type": None if resp.ok else (resp.error_type or "error"),
           "error_message": message, "attempts": resp.attempts,
           "prompt_tokens": resp.prompt_tokens, "completion_tokens": resp.completion_tokens,
           "latency": resp.latency_s, "created": time.time(),
           "letter_logprobs": json.dumps(resp.letter_logprobs) if resp.letter_logprobs is not None else None,
           "extra": json.dumps(extra) if extra else None}
    return [row[c] for c in REQUEST_COLUMNS]
