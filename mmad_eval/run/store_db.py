"""The store's SQLite connection: opened for writing or read-only, every failure turned into one
:class:`StoreError` naming the file and what to do (damaged file, full disk, read-only place, lock)."""
from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from ..errors import ConfigError

BUSY_TIMEOUT_S = 60


class StoreError(ConfigError):
    """The store could not be opened, read or written; the message names the file and what to do."""


def advice(e: sqlite3.Error) -> str:
    """What a SQLite failure means for the user's data, and what to do."""
    name = getattr(e, "sqlite_errorname", "") or ""
    text = str(e)
    if name == "SQLITE_FULL" or "disk is full" in text:
        return ("the disk is full; nothing was lost: every answer saved so far is in the store. Free some "
                "space and rerun the same command to resume")
    if name in ("SQLITE_CORRUPT", "SQLITE_NOTADB") or "malformed" in text or "not a database" in text:
        return (f"not a readable mmad-eval store ({text}): the file is damaged or is something else; move it "
                "away (or restore a copy) and rerun to start afresh")
    if name.startswith("SQLITE_READONLY") or "readonly" in text:
        return "the store is on a read-only file or folder; use another --out (or copy the folder)"
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in text:
        return f"another process kept the store locked for over {BUSY_TIMEOUT_S} s; try again when it is done"
    if name.startswith("SQLITE_CANTOPEN") or "unable to open" in text:
        return "cannot open the store (missing folder, or no permission)"
    if name.startswith("SQLITE_IOERR") or "I/O error" in text:
        return (f"disk I/O error ({text}); every answer saved so far is kept: check the disk (full? removed?) "
                "and rerun the same command to resume")
    return f"SQLite error: {text}"


class Rows(list):
    """Rows read at once (so a damaged file fails inside the guard, naming the store)."""

    def fetchone(self):
        return self[0] if self else None

    def fetchall(self):
        return list(self)


class GuardedDB:
    """An sqlite3 connection (autocommit) whose failures become :class:`StoreError` naming the store."""

    def __init__(self, db: sqlite3.Connection, path: Path):
        self.db, self.path = db, path

    def error(self, e: sqlite3.Error) -> StoreError:
        return StoreError(advice(e), culprit=str(self.path))

    def execute(self, sql: str, params=()) -> Rows:
        try:
            return Rows(self.db.execute(sql, params))
        except sqlite3.Error as e:
            raise self.error(e) from None

    def executemany(self, sql: str, rows) -> None:
        try:
            self.db.executemany(sql, rows)
        except sqlite3.Error as e:
            raise self.error(e) from None

    def executescript(self, sql: str) -> None:
        try:
            self.db.executescript(sql)
        except sqlite3.Error as e:
            raise self.error(e) from None

    @contextlib.contextmanager
    def transaction(self, immediate: bool = False):
        """BEGIN ... COMMIT, rolled back on any error (the store stays as it was). Inside an open transaction
        (merge's one outer transaction) it adds nothing: the outer one commits or rolls back everything."""
        if self.db.in_transaction:
            yield self
            return
        self.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
        try:
            yield self
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                self.db.execute("ROLLBACK")
            raise
        self._commit()

    def _commit(self) -> None:
        """COMMIT; a failed commit (full disk) is rolled back and raised as the store's one-line error."""
        try:
            self.db.execute("COMMIT")
        except sqlite3.Error as e:
            with contextlib.suppress(sqlite3.Error):
                self.db.execute("ROLLBACK")
            raise self.error(e) from None

    def __enter__(self) -> "GuardedDB":
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        """Like sqlite3's connection: COMMIT an open transaction, or ROLLBACK it on an error."""
        if not self.db.in_transaction:
            return False
        if exc_type is not None:
            with contextlib.suppress(sqlite3.Error):
                self.db.execute("ROLLBACK")
            return False
        self._commit()
        return False

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.db.close()


def _check_not_foreign(db: GuardedDB, path: Path) -> None:
    """A SQLite file with tables but none of ours is another program's database: never written into."""
    try:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE "
                                           "'sqlite_%' ORDER BY name").fetchall()]
    except StoreError:
        return                                  # not a database at all: the schema check says so
    if tables and "runs" not in tables:
        db.close()
        shown = ", ".join(tables[:5]) + (f" and {len(tables) - 5} more" if len(tables) > 5 else "")
        raise StoreError(f"is another program's SQLite database (tables: {shown}), not an mmad-eval store; "
                         "nothing was written to it: give --out another folder", culprit=str(path))


def open_for_writing(folder: Path, path: Path) -> GuardedDB:
    if folder.exists() and not folder.is_dir():
        raise StoreError("is a file; --out must be a folder (it holds mmad-eval.sqlite)", culprit=str(folder))
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise StoreError(f"cannot create the output folder ({e.strerror})", culprit=str(folder)) from None
    if path.is_dir():
        raise StoreError("is a folder, expected the store file", culprit=str(path))
    try:
        raw = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=BUSY_TIMEOUT_S)
    except sqlite3.Error as e:
        raise StoreError(advice(e), culprit=str(path)) from None
    db = GuardedDB(raw, path)
    try:
        db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}")
        _check_not_foreign(db, path)            # before WAL mode, which rewrites the file's header
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
    except StoreError:
        db.close()
        raise
    return db


def open_read_only(path: Path) -> GuardedDB:
    """``mode=ro``; where SQLite cannot make its WAL index (a read-only folder or mount), ``immutable``."""
    if not path.is_file():
        raise StoreError("no store here (run `mmad-eval run --out ...` first)", culprit=str(path))
    uri = path.resolve().as_uri()
    last: sqlite3.Error | None = None
    for flags in ("?mode=ro", "?mode=ro&immutable=1"):
        raw = None
        try:
            raw = sqlite3.connect(uri + flags, uri=True, check_same_thread=False, timeout=BUSY_TIMEOUT_S)
            raw.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
            return GuardedDB(raw, path)
        except sqlite3.Error as e:
            last = e
            if raw is not None:
                raw.close()
            if not getattr(e, "sqlite_errorname", "").startswith(("SQLITE_CANTOPEN", "SQLITE_READONLY")):
                break
    raise StoreError(advice(last), culprit=str(path))
