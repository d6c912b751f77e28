"""Opening image files safely: every way an image can be bad (missing, empty, truncated, not an image,
a decompression bomb) becomes one DataError naming the file that was read, never a traceback."""
from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path
from typing import Iterator

from PIL import Image, UnidentifiedImageError

from .errors import DataError

MAX_PIXELS = 89_478_485     # Pillow's own bomb limit (about 9459 x 9459); bigger images are refused
warnings.simplefilter("ignore", Image.DecompressionBombWarning)   # replaced by the explicit check below


class BadImageError(DataError):
    """The file exists but is not a usable image (empty, truncated, not an image, a decompression bomb)."""


BAD_IMAGE = (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError)


def _reason(e: BaseException, size: int | None) -> str:
    if size == 0:
        return "empty file (0 bytes)"
    if isinstance(e, Image.DecompressionBombError):
        return "too many pixels (a decompression bomb?)"
    if isinstance(e, UnidentifiedImageError):
        return "not an image format Pillow can read"
    text = str(e).replace("\n", " ")
    return text or type(e).__name__


@contextlib.contextmanager
def open_image(source: Path | str | bytes, *, what: str = "image", culprit: str | None = None,
               max_pixels: int = MAX_PIXELS) -> Iterator[Image.Image]:
    """``Image.open`` of a file (or bytes) as a context manager; any failure while opening or while the
    block decodes it becomes DataError naming ``culprit`` (default: the file)."""
    name = culprit or (str(source) if not isinstance(source, (bytes, bytearray)) else what)
    size = None
    try:
        if isinstance(source, (bytes, bytearray)):
            size = len(source)
            im = Image.open(io.BytesIO(source))
        else:
            size = Path(source).stat().st_size
            im = Image.open(source)
    except FileNotFoundError:
        raise DataError(f"{what} file not found", culprit=name) from None
    except IsADirectoryError:
        raise DataError(f"expected an {what} file, found a folder", culprit=name) from None
    except BAD_IMAGE as e:
        raise BadImageError(f"corrupt or unreadable {what}: {_reason(e, size)}", culprit=name) from None
    with im:
        w, h = im.size
        if w * h > max_pixels:
            raise BadImageError(f"corrupt or unreadable {what}: {w}x{h} pixels is over the {max_pixels:,}-pixel "
                            "limit (a decompression bomb?)", culprit=name)
        try:
            yield im
        except BAD_IMAGE as e:
            raise BadImageError(f"corrupt or unreadable {what}: {_reason(e, size)}", culprit=name) from None


def load_image(source: Path | str | bytes, *, what: str = "image", mode: str | None = None,
               culprit: str | None = None) -> Image.Image:
    """The decoded image (converted to ``mode`` when given), detached from its file."""
    with open_image(source, what=what, culprit=culprit) as im:
        im.load()
        return im.convert(mode) if mode and im.mode != mode else im.copy()
