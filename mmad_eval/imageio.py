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
    """(width, height) of a complete, single-frame, 8-bit RGB PNG that decodes, checked without making an
    image of it: every chunk whole, with a correct CRC, up to IEND, and its compressed image data a complete
    zlib stream of exactly the rows the header promises, each with a known filter. None for any other image
    (decode it to know more); a damaged PNG raises :class:`BadImageError` naming ``culprit``."""
    walked = _walk_png(data, culprit, max_pixels)
    return None if walked is None else walked[0]


def png_to_send(data: bytes, *, culprit: str, max_pixels: int = MAX_PIXELS, inflate: bool = True) -> bytes | None:
    """A plain 8-bit RGB PNG (see :func:`plain_rgb8_png`) as the bytes that give its pixels and nothing else:
    the header, image data and end chunks; text, EXIF, time and other ancillary chunks and any bytes after
    the end are left out (the data itself when there are none). None for any other image. ``inflate=False``
    skips inflating the image data (for bytes already checked: callers remember them by hash)."""
    walked = _walk_png(data, culprit, max_pixels, inflate)
    if walked is None:
        return None
    _, spans, extra = walked
    if not extra:
        return data
    return PNG_SIGNATURE + b"".join(data[a:b] for a, b in spans)


_PNG_KEPT = (b"IHDR", b"IDAT", b"IEND")


def _walk_png(data: bytes, culprit: str, max_pixels: int, inflate: bool = True):
    """((width, height), spans of the IHDR, IDAT and IEND chunks, whether anything else is in the file)."""
    if len(data) < 33 or data[:8] != PNG_SIGNATURE or data[12:16] != b"IHDR" or data[8:12] != b"\0\0\0\r":
        return None
    width, height, depth, colour, compression, filtering, interlace = struct.unpack(">IIBBBBB", data[16:29])
    if (depth, colour, compression, filtering) != (8, 2, 0, 0) or interlace > 1 or not 0 < width * height <= max_pixels:
        return None
    view, pos, end = memoryview(data), 8, len(data)
    spans, extra = [], False
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
        if kind in _PNG_KEPT:
            spans.append((pos, stop + 4))
        else:
            extra = True
        if kind == b"IEND":
            idat = [(a + 8, b - 4) for a, b in spans if data[a + 4:a + 8] == b"IDAT"]
            if not idat:                      # Pillow cannot load a PNG without image data
                raise BadImageError("corrupt or unreadable image: PNG without image data (no IDAT chunk)",
                                    culprit=culprit)
            if inflate:
                _check_png_rows(view, idat, width, height, interlace, culprit)
            return (width, height), spans, extra or stop + 4 < end
        pos = stop + 4


def _png_passes(width: int, height: int, interlace: int) -> list[tuple[int, int]]:
    """(rows, bytes per row with its filter byte) of each non-empty pass of an 8-bit RGB image."""
    if not interlace:
        return [(height, 1 + 3 * width)]
    passes = []
    for x0, y0, dx, dy in ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
                           (0, 1, 1, 2)):
        w, h = (width - x0 + dx - 1) // dx, (height - y0 + dy - 1) // dy
        if w > 0 and h > 0:
            passes.append((h, 1 + 3 * w))
    return passes


def _check_png_rows(view: memoryview, idat: list[tuple[int, int]], width: int, height: int, interlace: int,
                    culprit: str) -> None:
    """The image data must inflate to exactly the rows of the header, each starting with a filter type 0-4
    (what a decoder needs), in bounded memory: the stream is inflated a megabyte at a time and not kept."""
    strides = iter([stride for n, stride in _png_passes(width, height, interlace) for _ in range(n)])
    expected = sum(n * stride for n, stride in _png_passes(width, height, interlace))
    inflate, done, row, stride = zlib.decompressobj(), 0, 0, next(strides, None)

    def take(piece: bytes) -> None:
        nonlocal done, row, stride
        while stride is not None and row < done + len(piece):
            if piece[row - done] > 4:
                raise BadImageError("corrupt or unreadable image: PNG row with an unknown filter type",
                                    culprit=culprit)
            row, stride = row + stride, next(strides, None)
        done += len(piece)
        if done > expected:
            raise BadImageError(f"corrupt or unreadable image: PNG image data holds more than the {expected:,} "
                                "bytes its header promises", culprit=culprit)

    try:
        for a, b in idat:
            data = view[a:b]
            while data and not inflate.eof:
                take(inflate.decompress(data, 1 << 20))
                data = inflate.unconsumed_tail
        take(inflate.flush())
    except zlib.error as e:
        raise BadImageError(f"corrupt or unreadable image: broken PNG image data ({e})", culprit=culprit) from None
    if done != expected or not inflate.eof:
        raise BadImageError(f"corrupt or unreadable image: PNG image data gives {done:,} bytes, the header "
                            f"promises {expected:,}" + ("" if inflate.eof else " (stream cut short)"),
                            culprit=culprit)


JPEG_START = b"\xff\xd8\xff"
_PLAIN_SOF = (0xC0, 0xC1, 0xC2)          # baseline, extended, progressive (Huffman): what every decoder reads
_STANDALONE = {0x01, 0xD8, *range(0xD0, 0xD8)}


def plain_rgb8_jpeg(data: bytes, *, culprit: str, max_pixels: int = MAX_PIXELS) -> tuple[int, int] | None:
    """(width, height) of a complete, single-picture, 8-bit, three-component JPEG that asks for no rotation
    (EXIF orientation absent or 1), checked by walking its markers without decoding it: every segment whole,
    a scan, and an end-of-image marker after it. None for any other image (decode it to know more); a
    damaged JPEG raises :class:`BadImageError` naming ``culprit``."""
    walked = _walk_jpeg(data, culprit, max_pixels)
    return None if walked is None else walked[0]


def jpeg_to_send(data: bytes, *, culprit: str, max_pixels: int = MAX_PIXELS) -> tuple[tuple[int, int], bytes] | None:
    """((width, height), bytes) of a plain JPEG (see :func:`plain_rgb8_jpeg`) holding only what gives its
    pixels: comments (COM), EXIF, XMP, ICC and other application segments except JFIF (APP0) and Adobe's
    colour transform (APP14) are left out, and so is anything after the end-of-image marker. The data itself
    when there is nothing to leave out; None for any other image."""
    walked = _walk_jpeg(data, culprit, max_pixels)
    if walked is None:
        return None
    size, dropped, end = walked
    if not dropped and end == len(data):
        return size, data
    keep, pos = [], 0
    for a, b in dropped:
        keep.append(data[pos:a])
        pos = b
    keep.append(data[pos:end])
    return size, b"".join(keep)


_JPEG_KEPT_APP = (0xE0, 0xEE)           # JFIF and Adobe (its transform flag changes how colours decode)


def _walk_jpeg(data: bytes, culprit: str, max_pixels: int):
    """((width, height), spans of the segments to leave out, end of the end-of-image marker), or None."""
    if data[:3] != JPEG_START:
        return None
    size, pos, end, dropped = None, 2, len(data), []
    while True:
        if pos + 2 > end:
            raise BadImageError("corrupt or unreadable image: truncated JPEG (no image data)", culprit=culprit)
        marker = data[pos + 1]
        if data[pos] != 0xFF or marker == 0x00:
            return None          # stray bytes between segments: decoders skip them with a warning (decode it)
        if marker == 0xFF or marker in _STANDALONE:
            pos += 1 if marker == 0xFF else 2
            continue
        if marker == 0xD9 or pos + 4 > end:
            raise BadImageError("corrupt or unreadable image: truncated JPEG (no image data)", culprit=culprit)
        length = int.from_bytes(data[pos + 2:pos + 4], "big")
        if length < 2 or pos + 2 + length > end:
            raise BadImageError(f"corrupt or unreadable image: truncated JPEG segment 0x{marker:02X}",
                                culprit=culprit)
        segment = data[pos + 4:pos + 2 + length]
        if marker in _PLAIN_SOF and len(segment) >= 6:
            width, height = int.from_bytes(segment[3:5], "big"), int.from_bytes(segment[1:3], "big")
            if segment[0] != 8 or segment[5] != 3 or not 0 < width * height <= max_pixels:
                return None
            size = (width, height)
        elif 0xC3 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return None                       # lossless, hierarchical or arithmetic-coded: not plain
        elif marker == 0xE1 and segment[:6] == b"Exif\0\0" and _exif_orientation(segment[6:]) != 1:
            return None                       # to be rotated: the pixels we decode are not what a viewer shows
        elif marker == 0xE2 and segment[:4] == b"MPF\0":
            return None                       # several pictures in one file
        elif marker == 0xDA:                  # the scan: entropy-coded data up to the end-of-image marker
            if size is None:
                return None
            # inside scans 0xFF is followed by 0x00 or a marker, never by 0xD9: the first one ends the image
            eoi = data.find(b"\xff\xd9", pos + 2 + length)
            if eoi < 0:
                raise BadImageError("corrupt or unreadable image: truncated JPEG (no end-of-image marker)",
                                    culprit=culprit)
            return size, dropped, eoi + 2
        if marker == 0xFE or (0xE0 <= marker <= 0xEF and marker not in _JPEG_KEPT_APP):
            dropped.append((pos, pos + 2 + length))
        pos += 2 + length


def _exif_orientation(tiff: bytes) -> int:
    """EXIF orientation (tag 0x0112 of the first IFD): 1 when absent, 0 when the EXIF block is unreadable."""
    order = {b"II": "little", b"MM": "big"}.get(tiff[:2])
    if order is None or len(tiff) < 8:
        return 0
    ifd = int.from_bytes(tiff[4:8], order)
    if ifd + 2 > len(tiff):
        return 0
    for i in range(int.from_bytes(tiff[ifd:ifd + 2], order)):
        entry = ifd + 2 + 12 * i
        if entry + 12 > len(tiff):
            return 0
        if int.from_bytes(tiff[entry:entry + 2], order) == 0x0112:
            return int.from_bytes(tiff[entry + 8:entry + 10], order)
    return 1
