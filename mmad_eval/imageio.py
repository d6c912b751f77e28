"""Opening image files safely: every way an image can be bad (missing, empty, truncated, not an image,
a decompression bomb) becomes one DataError naming the file that was read, never a traceback."""
from __future__ import annotations

import contextlib
import io
import struct
import warnings
import zlib
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


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def plain_rgb8_png(data: bytes, *, culprit: str, max_pixels: int = MAX_PIXELS) -> tuple[int, int] | None:
    """(width, height) of a complete, single-frame, 8-bit RGB PNG, checked without decoding it: every chunk
    whole, with a correct CRC, up to IEND (what Pillow's ``verify()`` checks, at a tenth of its cost). None
    for any other image (decode it to know more); a damaged PNG raises :class:`BadImageError` naming
    ``culprit``."""
    if len(data) < 33 or data[:8] != PNG_SIGNATURE or data[12:16] != b"IHDR" or data[8:12] != b"\0\0\0\r":
        return None
    width, height, depth, colour, compression, filtering, interlace = struct.unpack(">IIBBBBB", data[16:29])
    if (depth, colour, compression, filtering) != (8, 2, 0, 0) or interlace > 1 or not 0 < width * height <= max_pixels:
        return None
    view, pos, end, pixels = memoryview(data), 8, len(data), False
    while True:
        if pos + 12 > end:
            raise BadImageError("corrupt or unreadable image: truncated PNG (no IEND chunk)", culprit=culprit)
        length = int.from_bytes(data[pos:pos + 4], "big")
        kind = data[pos + 4:pos + 8]
        stop = pos + 8 + length
        if stop + 4 > end:
            raise BadImageError(f"corrupt or unreadable image: truncated PNG chunk {kind!r}", culprit=culprit)
        if zlib.crc32(view[pos + 4:stop]) != int.from_bytes(data[stop:stop + 4], "big"):
            raise BadImageError(f"corrupt or unreadable image: broken PNG chunk {kind!r} (CRC)", culprit=culprit)
        if kind == b"acTL":                   # an animated PNG: more than one frame
            return None
        if kind == b"IEND":
            if not pixels:                    # Pillow cannot load a PNG without image data
                raise BadImageError("corrupt or unreadable image: PNG without image data (no IDAT chunk)",
                                    culprit=culprit)
            return width, height
        pixels = pixels or kind == b"IDAT"
        pos = stop + 4
