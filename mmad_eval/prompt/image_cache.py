"""Bounded memory for images: an LRU cache bounded by count and size, and :class:`HeldBytes`, the image bytes a
run makes in memory (perturbed images, hint renders, tool crops) kept up to a size bound, the least recently
used spilled to an anonymous temporary file and read back, checked against their hash, when asked for."""
from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Callable

DEFAULT_HELD_BYTES = 64 << 20       # image bytes made in memory kept there; the rest goes to the spill file


class LRUCache:
    """Least-recently-used cache bounded by item count and total size (the newest item is always kept);
    ``on_evict(key, value)`` is called for each item pushed out."""

    def __init__(self, max_items: int, max_bytes: int, on_evict: Callable[[str, object], None] | None = None):
        self.max_items, self.max_bytes = max_items, max_bytes
        self._items: OrderedDict[str, tuple[object, int]] = OrderedDict()
        self._on_evict = on_evict
        self.bytes = 0
        self.evictions = 0

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: str) -> bool:
        return key in self._items

    def get(self, key: str):
        hit = self._items.get(key)
        if hit is None:
            return None
        self._items.move_to_end(key)
        return hit[0]

    def pop(self, key: str):
        hit = self._items.pop(key, None)
        if hit is None:
            return None
        self.bytes -= hit[1]
        return hit[0]

    def put(self, key: str, value, size: int) -> None:
        old = self._items.pop(key, None)
        if old is not None:
            self.bytes -= old[1]
        self._items[key] = (value, size)
        self.bytes += size
        while len(self._items) > 1 and (len(self._items) > self.max_items or self.bytes > self.max_bytes):
            gone, (value, n) = self._items.popitem(last=False)
            self.bytes -= n
            self.evictions += 1
            if self._on_evict is not None:
                self._on_evict(gone, value)


class HeldBytes:
    """``sha -> bytes`` for images made in memory, at most ``max_bytes`` of them in memory; the others are
    appended to an anonymous temporary file in ``spill_dir`` (the run's output folder; the system's temporary
    folder when None), which disappears with the process. Thread-safe. A spill that fails (a full disk) keeps
    the bytes in memory: correct, only unbounded."""

    def __init__(self, max_bytes: int | None = None, spill_dir: Path | None = None):
        self.spill_dir = spill_dir
        bound = DEFAULT_HELD_BYTES if max_bytes is None else max_bytes
        self._memory = LRUCache(1 << 62, bound, on_evict=self._spill)
        self._spilled: dict[str, tuple[int, int]] = {}     # sha -> (offset, length) in the spill file
        self._kept: dict[str, bytes] = {}                  # evicted but not spilled (the spill failed)
        self._file = None
        self._end = 0
        self._lock = threading.RLock()

    def __contains__(self, sha: str) -> bool:
        with self._lock:
            return sha in self._memory or sha in self._spilled or sha in self._kept

    def add(self, sha: str, data: bytes) -> None:
        with self._lock:
            if sha not in self:
                self._memory.put(sha, data, len(data))

    def get(self, sha: str) -> bytes | None:
        """The bytes of ``sha`` (None when not held); spilled ones are read back and checked."""
        with self._lock:
            data = self._memory.get(sha)
            if data is None:
                data = self._kept.get(sha)
            where = self._spilled.get(sha) if data is None else None
            fd = self._file.fileno() if where is not None else None
        if where is None:
            return data
        data = os.pread(fd, where[1], where[0])
        if len(data) != where[1] or hashlib.sha256(data).hexdigest() != sha:
            raise OSError(f"the spill file of image {sha[:12]} was changed")
        return data

    def forget(self, sha: str) -> None:
        with self._lock:
            self._memory.pop(sha)
            self._kept.pop(sha, None)
            self._spilled.pop(sha, None)        # (its space in the spill file is not reused)

    @property
    def memory_bytes(self) -> int:
        with self._lock:
            return self._memory.bytes + sum(len(b) for b in self._kept.values())

    @property
    def spilled_bytes(self) -> int:
        with self._lock:
            return sum(n for _, n in self._spilled.values())

    def _spill(self, sha: str, data: bytes) -> None:
        try:
            if self._file is None:
                self._file = tempfile.TemporaryFile(prefix=".mmad-eval-images.", dir=self.spill_dir)
            written = os.pwrite(self._file.fileno(), data, self._end)
            if written != len(data):
                raise OSError("short write")
        except OSError:
            self._kept[sha] = data
            return
        self._spilled[sha] = (self._end, len(data))
        self._end += len(data)
