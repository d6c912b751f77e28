"""Atomic file replacement: every file mmad-eval writes goes to a temporary file in the same folder, is
flushed to disk and renamed over the target, so a failure (full disk, kill, error while producing the
content) leaves the previous file as it was and removes the partial one."""
from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path
from typing import Callable, Iterator

from .errors import MmadError


class WriteError(MmadError):
    """A file could not be written; the previous file (if any) is unchanged."""


def _reason(e: OSError) -> str:
    if e.errno == errno.ENOSPC:
        return "no space left on the device"
    if e.errno == errno.EROFS:
        return "the file system is read-only"
    if e.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if e.errno == errno.EISDIR:
        return "it is a folder"
    if e.errno in (errno.ENOTDIR, errno.EEXIST):
        return "a part of the path is a file, not a folder"
    return e.strerror or type(e).__name__


def write_error(path: Path, e: OSError) -> WriteError:
    """The one-line error for a failed write of ``path`` (the previous file is kept)."""
    return WriteError(f"not written ({_reason(e)}); any previous version of the file is unchanged",
                      culprit=str(path))


@contextlib.contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """A temporary path in ``path``'s folder to write to; renamed over ``path`` when the block ends without
    an error, deleted otherwise. For writers that need a file name (SQLite, Pillow); the temporary name ends
    with the target's suffix so format detection by extension still works."""
    path = Path(path)
    if path.is_dir():
        raise WriteError("is a folder; give a file name", culprit=str(path))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix,
                                   dir=path.parent)
        os.close(fd)
    except OSError as e:
        raise write_error(path, e) from None
    tmp = Path(tmp)
    try:
        yield tmp
        _keep_mode(path, tmp)
        os.replace(tmp, path)
    except OSError as e:
        raise write_error(path, e) from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def _keep_mode(path: Path, tmp: Path) -> None:
    """Give the new file the old one's permissions (or the usual umask-based ones for a new file)."""
    try:
        mode = path.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    with contextlib.suppress(OSError):
        os.chmod(tmp, mode)


def write_bytes(path: Path | str, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically (fsync before the rename)."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())


def write_text(path: Path | str, text: str, encoding: str = "utf-8") -> None:
    write_bytes(path, text.encode(encoding))


def write_with(path: Path | str, produce: Callable[[Path], None]) -> None:
    """Replace ``path`` with what ``produce(tmp_path)`` writes (for libraries that write by file name)."""
    with atomic_path(path) as tmp:
        produce(tmp)


@contextlib.contextmanager
def atomic_dir(path: Path | str) -> Iterator[Path]:
    """A temporary folder next to ``path`` to fill; it replaces ``path`` (a folder) when the block ends
    without an error, and is deleted otherwise. The old folder is removed only after the new one is in place."""
    import shutil

    path = Path(path)
    if path.exists() and not path.is_dir():
        raise WriteError("is a file, expected a folder", culprit=str(path))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    except OSError as e:
        raise write_error(path, e) from None
    old = None
    try:
        yield tmp
        if path.exists():
            old = path.with_name(f".{path.name}.{os.getpid()}.old")
            os.replace(path, old)
        os.replace(tmp, path)
    except OSError as e:
        if old is not None and not path.exists():
            os.replace(old, path)
            old = None
        raise write_error(path, e) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
