"""Small thumbnails for the question browser: each distinct image (by SHA-256) is embedded once, by id.

Full-size images never enter the report. A byte budget keeps huge reports openable: once it is spent,
further images are left out (counted, and said in the report) instead of growing the file without bound.
"""
from __future__ import annotations

import base64
import io
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

from PIL import Image

from ..errors import DataError
from ..imageio import open_image


SAMPLE = 32          # thumbnails encoded first to estimate the total size
MIN_SIZE = 64


@dataclass
class ThumbSettings:
    size: int = 160                 # longest side in pixels
    quality: int = 70               # WebP quality
    budget_mb: float = 24.0         # total encoded thumbnails; beyond it images are left out
    workers: int = 4


@dataclass
class Thumbnails:
    """sha -> short id, and id -> data URI. Ids are assigned in first-seen order."""

    settings: ThumbSettings = field(default_factory=ThumbSettings)
    ids: dict[str, int] = field(default_factory=dict)
    uris: list[str | None] = field(default_factory=list)
    missing: int = 0                # images whose bytes were unavailable or unreadable
    over_budget: int = 0            # images left out because the budget was spent
    size: int = 0                   # the size used (smaller than settings.size when the budget demands)
    _pending: dict[str, Callable[[], bytes | None]] = field(default_factory=dict)

    def __post_init__(self):
        self.size = self.settings.size

    def ref(self, sha: str, loader: Callable[[str], bytes | None]) -> int:
        """Id for an image; the thumbnail is made later by :meth:`build` (once per sha)."""
        i = self.ids.get(sha)
        if i is None:
            i = self.ids[sha] = len(self.ids)
            self._pending[sha] = lambda: loader(sha)
        return i

    def build(self) -> None:
        """Decode and shrink every referenced image (threads: Pillow releases the GIL while decoding)."""
        order = sorted(self._pending, key=self.ids.__getitem__)
        self.uris = [None] * len(self.ids)
        spent = 0
        budget = int(self.settings.budget_mb * 1024 * 1024)
        with ThreadPoolExecutor(max_workers=max(1, self.settings.workers)) as pool:
            self.size = self._fit_size(order, budget, pool)
            for sha, uri in zip(order, pool.map(self._make, order)):
                if uri is None:
                    self.missing += 1
                elif spent + len(uri) > budget:
                    self.over_budget += 1
                else:
                    spent += len(uri)
                    self.uris[self.ids[sha]] = uri
        self._pending.clear()

    def _fit_size(self, order: list[str], budget: int, pool) -> int:
        """Shrink thumbnails when a sample says the configured size would not fit the budget."""
        size = self.settings.size
        sample = [u for u in pool.map(self._make, order[:SAMPLE]) if u]
        if not sample or len(order) <= SAMPLE:
            return size
        need = sum(map(len, sample)) / len(sample) * len(order)
        if need <= budget * 0.95:
            return size
        return max(MIN_SIZE, int(size * (budget * 0.9 / need) ** 0.5))

    def _make(self, sha: str) -> str | None:
        try:
            data = self._pending[sha]()
        except Exception:            # a loader failure (missing file) is one missing image, not a crash
            return None
        return thumbnail_uri(data, self.settings, self.size) if data else None

    @property
    def total_bytes(self) -> int:
        return sum(len(u) for u in self.uris if u)


def thumbnail_uri(data: bytes, settings: ThumbSettings, size: int | None = None) -> str | None:
    """A WebP data URI of at most ``size`` (default ``settings.size``) px; None for non-image bytes."""
    size = size or settings.size
    try:
        with open_image(data) as im:
            im.draft("RGB", (size, size))                         # fast path for JPEG sources
            im = im.convert("RGB")
            im.thumbnail((size, size), Image.Resampling.BILINEAR)
            buf = io.BytesIO()
            im.save(buf, "WEBP", quality=settings.quality, method=2)
    except DataError:                                             # a bad image is left out of the report
        return None
    return "data:image/webp;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
