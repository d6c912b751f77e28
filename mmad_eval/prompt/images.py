"""Image registry: each distinct image is read and hashed once; prepared images and data URLs are cached in
bounded LRU caches, so memory stays flat over a run and an image is encoded once as long as its requests
are close together (requests of one image are consecutive; templates of a category are reused nearby).
Images made in memory (perturbed, hints, tool crops) are held up to a bound, the rest spilled to a temporary
file (:class:`~.image_cache.HeldBytes`): a run's memory does not grow with its number of images."""
from __future__ import annotations

import base64
import hashlib
import io
import threading
import time
from pathlib import Path
from typing import Callable

from PIL import Image

from ..errors import DataError
from ..imageio import JPEG_START, PNG_SIGNATURE, jpeg_to_send, load_image, open_image, png_to_send
from ..settings import RESIZES, ImageSettings  # noqa: F401  (re-exported)
from .image_cache import HeldBytes, LRUCache  # noqa: F401  (LRUCache re-exported)
from .resize import (QWEN_FACTOR, QWEN_UTILS_MAX_PIXELS, QWEN_UTILS_MIN_PIXELS, extension_mime,  # noqa: F401
                     fit_size, prepare_image, qwen_smart_size, resized, target_size)

def _image_bytes(img: Image.Image) -> int:
    return img.width * img.height * len(img.getbands())


QUICK_BYTES = 128 << 10     # a PNG this small, sent as it is, is read, checked and base64-encoded in ~0.1 ms


class ImageRegistry:
    """Maps content hashes to sources; caches prepared PIL images and encoded data URLs per hash (bounded LRU).

    Thread-safe: data URLs may be prepared in worker threads (Pillow releases the GIL while decoding,
    resizing and encoding); two threads asking for the same image share one decode/encode.
    """

    def __init__(self, settings: ImageSettings | None = None, max_images: int = 64,
                 max_image_bytes: int = 256 << 20, max_urls: int = 4096, max_url_bytes: int = 256 << 20,
                 max_held_bytes: int | None = None):
        self.settings = settings or ImageSettings()
        self._paths: dict[str, Path] = {}
        self._held = HeldBytes(max_held_bytes)       # images registered as bytes: bounded (default
        #                                              DEFAULT_HELD_BYTES), the least recently used spilled
        self._by_path: dict[Path, str] = {}
        self._files_of: dict[str, list[Path]] = {}      # hash -> every file registered with those bytes
        self._quick: set[str] = set()    # small plain RGB8 PNGs needing no change: see quick_to_send()
        self._inflated: set[str] = set()  # PNGs whose image data was inflated once and is whole: _png_as_is()
        self.urls_on_read = False        # a backend that sends data URLs sets it: see _note_quick()
        self._sizes: dict[str, tuple[int, int]] = {}   # prepared sizes read from headers: prepared_size()
        self._pil = LRUCache(max_images, max_image_bytes)
        self._urls = LRUCache(max_urls, max_url_bytes)
        self._busy: dict[tuple[str, str], threading.Event] = {}
        self._lock = threading.Lock()
        self.encodes = 0                 # how many encodes happened (benchmarks check 1 per image)
        self.encode_cpu_s = 0.0          # CPU seconds those encodes took (summed over threads)
        self.encode_on_read_cpu_s = 0.0  # of which while the plan read the images (urls_on_read)

    def add_file(self, path: Path) -> str:
        """Register an image file; returns its hash. Reads the file once; errors name the file."""
        path = Path(path)
        hit = self._by_path.get(path)
        if hit:
            return hit
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise DataError("image file not found", culprit=str(path)) from None
        except OSError as e:
            raise DataError(f"cannot read image: {e.strerror}", culprit=str(path)) from None
        sha = hashlib.sha256(data).hexdigest()
        with self._lock:
            self._paths.setdefault(sha, path)
            self._by_path[path] = sha
            self._files_of.setdefault(sha, []).append(path)
        self._note_quick(sha, data)
        return sha

    def add_bytes(self, data: bytes) -> str:
        """Register in-memory image bytes (e.g. a rendered expert hint, a perturbed image); the registry keeps
        the most recent in memory (``max_held_bytes``) and spills the others (see :attr:`spill_dir`)."""
        sha = hashlib.sha256(data).hexdigest()
        self._held.add(sha, data)
        self._note_quick(sha, data)
        return sha

    @property
    def spill_dir(self) -> Path | None:
        """Where images pushed out of memory are kept (an anonymous temporary file; default: the system's
        temporary folder). A run sets its output folder."""
        return self._held.spill_dir

    @spill_dir.setter
    def spill_dir(self, folder: Path | None) -> None:
        self._held.spill_dir = folder

    def _note_quick(self, sha: str, data: bytes) -> None:
        """Remember a small PNG whose header says it will be sent as it is (its chunks are checked later);
        with ``urls_on_read``, make its data URL now, from the bytes just hashed, while the cache has room."""
        if len(data) <= QUICK_BYTES and self._as_is_format() and data[:8] == PNG_SIGNATURE and \
                data[12:16] == b"IHDR" and data[24:26] == b"\x08\x02" and len(data) >= 33:
            if not resized(int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big"), self.settings):
                self._quick.add(sha)
                if self.urls_on_read:
                    self._url_from_read(sha, data)

    def _url_from_read(self, sha: str, data: bytes) -> None:
        c0 = time.thread_time()
        try:
            sent = png_to_send(data, culprit="")
        except DataError:                 # damaged: reported, naming the file, when the URL is asked for
            return
        if sent is None:
            return
        self._inflated.add(sha)
        url = b"data:image/png;base64," + base64.b64encode(sent)
        with self._lock:
            cache = self._urls
            if sha in cache or len(cache) >= cache.max_items // 2 or cache.bytes + len(url) > cache.max_bytes // 2:
                return                    # (half the cache at most: images read first are sent first)
            cache.put(sha, url, len(url))
            spent = time.thread_time() - c0
            self.encodes += 1
            self.encode_cpu_s += spent
            self.encode_on_read_cpu_s += spent

    def quick_to_send(self, sha: str) -> bool:
        """True when :meth:`data_url_bytes` is quick (tens of microseconds): the URL is cached, or the image is
        a small PNG sent as it is. Callers encode those in place instead of handing them to a thread."""
        return sha in self._quick or sha in self._urls

    def _as_is_format(self) -> bool:
        return self.settings.format in ("png", "source") and not self.settings.jpeg_roundtrip

    def forget_bytes(self, shas) -> None:
        """Drop the bytes registered for ``shas`` (a Ray worker, once the shard that brought them is done)."""
        for sha in shas:
            self._held.forget(sha)

    @property
    def held_bytes(self) -> int:
        """Total size of the image bytes held in memory (files are held as paths; spilled bytes on disk)."""
        return self._held.memory_bytes

    @property
    def spilled_bytes(self) -> int:
        """Total size of the image bytes spilled to the temporary file."""
        return self._held.spilled_bytes

    def source_bytes(self, sha: str) -> bytes:
        """The image's bytes; a file is read again and must still hash to ``sha`` (answers are keyed by it).
        When it no longer does, another registered file with those bytes serves, if one still has them."""
        held = self._held.get(sha)
        if held is not None:
            return held
        first = self._paths[sha]
        data, problem = _read_if_unchanged(first, sha)
        if data is not None:
            return data
        with self._lock:
            others = [p for p in self._files_of.get(sha, ()) if p != first]
        for path in others:
            data, _ = _read_if_unchanged(path, sha)
            if data is not None:
                return data
        raise DataError(problem, culprit=self.culprit(sha))

    def culprit(self, sha: str) -> str:
        """The file read for this content, and the other files with the same bytes (they fail alike)."""
        path = self._paths.get(sha)
        if path is None:
            return f"image {sha[:12]}"
        with self._lock:
            same = sorted(str(p) for p in self._files_of.get(sha, ()) if p != path)
        if not same:
            return str(path)
        more = f" and {len(same) - 3} more" if len(same) > 3 else ""
        return f"{path} (same bytes as {', '.join(same[:3])}{more})"

    def cache_sizes(self) -> dict:
        """Entries and bytes held by the two caches (for tests and benchmarks)."""
        with self._lock:
            return {"images": len(self._pil), "image_bytes": self._pil.bytes,
                    "urls": len(self._urls), "url_bytes": self._urls.bytes}

    def _cached(self, cache: LRUCache, kind: str, sha: str, make: Callable[[], object],
                size: Callable[[object], int]):
        """``cache[sha]``, made once even when several threads ask at the same time."""
        while True:
            with self._lock:
                value = cache.get(sha)
                if value is not None:
                    return value
                busy = self._busy.get((kind, sha))
                if busy is None:
                    busy = self._busy[(kind, sha)] = threading.Event()
                    break
            busy.wait()                  # another thread is making it: then read the cache again
        try:
            c0 = time.thread_time()
            value = make()
            with self._lock:
                cache.put(sha, value, size(value))
                if kind == "url":
                    self.encodes += 1
                    self.encode_cpu_s += time.thread_time() - c0
            return value
        finally:
            with self._lock:
                del self._busy[(kind, sha)]
            busy.set()

    def prepared_size(self, sha: str) -> tuple[int, int]:
        """The (width, height) :meth:`pil` gives, read from the image's header without decoding it (cached):
        what a backend needs to estimate image tokens before it decodes anything."""
        size = self._sizes.get(sha)
        if size is None:
            source = self._held.get(sha)
            with open_image(source if source is not None else self._paths[sha], culprit=self.culprit(sha)) as im:
                size = self._sizes[sha] = target_size(*im.size, self.settings)
        return size

    def pil(self, sha: str) -> Image.Image:
        """The prepared (resized, RGB) image; decoded once while it stays in the cache."""
        return self._cached(self._pil, "pil", sha, lambda: self._prepare(sha), _image_bytes)

    def _prepare(self, sha: str) -> Image.Image:
        try:
            data = self.source_bytes(sha)
        except OSError as e:
            raise DataError(f"cannot read image: {e.strerror}", culprit=self.culprit(sha)) from None
        img = load_image(data, culprit=self.culprit(sha))
        if img.mode != "RGB":            # an RGB image is already ours alone: no copy needed
            img = img.convert("RGB")
        img = prepare_image(img, self.settings)
        if self.settings.jpeg_roundtrip:
            buf = io.BytesIO()
            img.save(buf, "JPEG", quality=self.settings.jpeg_quality)
            img = Image.open(io.BytesIO(buf.getvalue()))
            img.load()
        return img

    def data_url(self, sha: str) -> str:
        """A base64 data URL in the configured format; encoded once while it stays in the cache."""
        return self.data_url_bytes(sha).decode("ascii")

    def data_url_bytes(self, sha: str) -> bytes:
        """:meth:`data_url` as ASCII bytes (what is cached, and what request bodies are joined from)."""
        return self._cached(self._urls, "url", sha, lambda: self._encode(sha), len)

    def _encode(self, sha: str) -> bytes:
        source = self.source_bytes(sha)
        as_is = self._png_as_is(sha, source)
        if as_is is not None:                   # no change needed: its own pixels, base64-encoded once
            return b"data:image/png;base64," + base64.b64encode(as_is)
        fmt = self.settings.format
        if fmt == "source":                     # each image in its own format (JPEG stays JPEG, others PNG)
            as_is = self._jpeg_as_is(sha, source) if source[:3] == JPEG_START else None
            if as_is is not None:
                return b"data:image/jpeg;base64," + base64.b64encode(as_is)
            fmt = "png" if source[:3] != JPEG_START else "jpeg"
        buf = io.BytesIO()
        if fmt == "jpeg":
            self.pil(sha).save(buf, "JPEG", quality=self.settings.jpeg_quality)
            mime = b"image/jpeg"
            if self.settings.mime_label == "file-extension" and sha in self._paths:
                mime = extension_mime(self._paths[sha].name).encode("ascii")
        else:
            self.pil(sha).save(buf, "PNG")
            mime = b"image/png"
        return b"data:" + mime + b";base64," + base64.b64encode(buf.getvalue())

    def _jpeg_as_is(self, sha: str, data: bytes) -> bytes | None:
        """With ``format="source"``: a plain JPEG (see :func:`jpeg_to_send`) that the resize mode leaves as it
        is, and no JPEG round trip asked, is sent as its own segments, without comments, EXIF and other
        application data or bytes after its end (what the model should not read); else None."""
        if self.settings.jpeg_roundtrip:
            return None
        sent = jpeg_to_send(data, culprit=self.culprit(sha))
        return sent[1] if sent is not None and not resized(*sent[0], self.settings) else None

    def _png_as_is(self, sha: str, data: bytes) -> bytes | None:
        """For an 8-bit RGB PNG (one frame) that the resize mode leaves as it is, when the format is PNG and no
        JPEG round trip is asked: its header, image data and end chunks, which decoding and re-encoding would
        give again (text, EXIF and other chunks and bytes after its end left out); else None. Its chunks are
        checked (CRCs, complete file) and its image data inflated once per content (must give exactly the
        header's rows), so a corrupt file fails here, naming the file, and is never sent."""
        if not self._as_is_format() or data[:8] != PNG_SIGNATURE or len(data) < 33:
            return None
        width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        if not (width and height) or resized(width, height, self.settings):
            return None                         # (a resized image is decoded anyway: no need to check it here)
        sent = png_to_send(data, culprit=self.culprit(sha), inflate=sha not in self._inflated)
        if sent is not None:
            self._inflated.add(sha)
        return sent


def _read_if_unchanged(path: Path, sha: str) -> tuple[bytes | None, str]:
    """(the file's bytes if they still hash to ``sha``, else None and what is wrong)."""
    try:
        data = path.read_bytes()
    except OSError as e:
        return None, f"image can no longer be read ({e.strerror or type(e).__name__})"
    if hashlib.sha256(data).hexdigest() != sha:
        return None, ("image changed on disk while the run was using it (its requests are keyed by the bytes "
                      "first read); run again to ask with the new image")
    return data, ""
