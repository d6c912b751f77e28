"""Image registry: each distinct image is read, hashed, preprocessed and encoded once per run."""
from __future__ import annotations

import base64
import hashlib
import io
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from ..errors import DataError


@dataclass(frozen=True)
class ImageSettings:
    """How images are prepared for a model; recorded with the run (this changes scores)."""

    max_side: int | None = None      # shrink to fit a box of this size (MMAD's GPT-4o script: 512); None = as is
    format: str = "png"              # "png" or "jpeg" for encoded payloads
    jpeg_quality: int = 90
    detail: str = "auto"             # OpenAI "detail": low/high/auto

    def as_dict(self) -> dict:
        return asdict(self)


class ImageRegistry:
    """Maps content hashes to sources; caches the prepared PIL image and the encoded data URL per hash."""

    def __init__(self, settings: ImageSettings | None = None):
        self.settings = settings or ImageSettings()
        self._paths: dict[str, Path] = {}
        self._bytes: dict[str, bytes] = {}
        self._by_path: dict[Path, str] = {}
        self._pil: dict[str, Image.Image] = {}
        self._urls: dict[str, str] = {}
        self._lock = threading.Lock()
        self.encodes = 0                 # how many encodes happened (benchmarks check 1 per image)

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
        return sha

    def add_bytes(self, data: bytes) -> str:
        """Register in-memory image bytes (e.g. a rendered expert hint)."""
        sha = hashlib.sha256(data).hexdigest()
        with self._lock:
            self._bytes.setdefault(sha, data)
        return sha

    def source_bytes(self, sha: str) -> bytes:
        if sha in self._bytes:
            return self._bytes[sha]
        return self._paths[sha].read_bytes()

    def culprit(self, sha: str) -> str:
        return str(self._paths.get(sha, f"image {sha[:12]}"))

    def pil(self, sha: str) -> Image.Image:
        """The prepared (resized, RGB) image; decoded once."""
        img = self._pil.get(sha)
        if img is None:
            try:
                img = Image.open(io.BytesIO(self.source_bytes(sha)))
                img.load()
            except (UnidentifiedImageError, OSError, SyntaxError) as e:
                raise DataError(f"corrupt or unreadable image ({e})", culprit=self.culprit(sha)) from None
            img = img.convert("RGB")
            m = self.settings.max_side
            if m and max(img.size) > m:
                img.thumbnail((m, m), Image.Resampling.BICUBIC)
            with self._lock:
                self._pil[sha] = img
        return img

    def data_url(self, sha: str) -> str:
        """A base64 data URL in the configured format; encoded once per image."""
        url = self._urls.get(sha)
        if url is None:
            buf = io.BytesIO()
            if self.settings.format == "jpeg":
                self.pil(sha).save(buf, "JPEG", quality=self.settings.jpeg_quality)
                mime = "image/jpeg"
            else:
                self.pil(sha).save(buf, "PNG")
                mime = "image/png"
            url = f"data:{mime};base64," + base64.b64encode(buf.getvalue()).decode("ascii")
            with self._lock:
                self._urls[sha] = url
                self.encodes += 1
        return url
