"""The resize arithmetic of every image setting (MMAD's scripts' fit-to-box, Qwen2-VL's ``smart_resize``,
Pillow's thumbnail rounding), the sizes it gives without decoding, and MMAD's mime label of a file name."""
from __future__ import annotations

import math

from PIL import Image

from ..errors import DataError
from ..settings import RESIZES, ImageSettings

QWEN_FACTOR = 28
QWEN_UTILS_MIN_PIXELS, QWEN_UTILS_MAX_PIXELS = 4 * 28 * 28, 16384 * 28 * 28


def fit_size(width: int, height: int, box: int) -> tuple[int, int]:
    """``int(w*s), int(h*s)`` with ``s = min(box/w, box/h)``: MMAD's scripts' fit-to-box arithmetic."""
    scale = min(box / width, box / height)
    return max(1, int(width * scale)), max(1, int(height * scale))


def qwen_smart_size(width: int, height: int, min_pixels: int, max_pixels: int,
                    factor: int = QWEN_FACTOR) -> tuple[int, int]:
    """Qwen2-VL's ``smart_resize``: sides rounded to multiples of ``factor``, area kept in bounds."""
    h = max(factor, round(height / factor) * factor)
    w = max(factor, round(width / factor) * factor)
    if h * w > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h = max(factor, math.floor(height / beta / factor) * factor)
        w = max(factor, math.floor(width / beta / factor) * factor)
    elif h * w < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h = math.ceil(height * beta / factor) * factor
        w = math.ceil(width * beta / factor) * factor
    return w, h


def prepare_image(img: Image.Image, settings: ImageSettings) -> Image.Image:
    """Resize an RGB image as ``settings`` say (see :class:`ImageSettings`); ``img`` may be changed in place."""
    m = settings.max_side
    if settings.resize == "shrink":
        if m and max(img.size) > m:
            img.thumbnail((m, m), Image.Resampling.BICUBIC)
        return img
    if settings.resize == "fit-area":
        size = fit_size(*img.size, m) if m else img.size
        return img if size == img.size else img.resize(size, Image.Resampling.BOX)
    if settings.resize == "qwen-smart":
        # qwen_vl_utils.fetch_image (its default bounds), then the processor's own bounds
        size = qwen_smart_size(*img.size, QWEN_UTILS_MIN_PIXELS, QWEN_UTILS_MAX_PIXELS)
        if size != img.size:
            img = img.resize(size, Image.Resampling.BICUBIC)
        size = qwen_smart_size(*img.size, settings.min_pixels or QWEN_UTILS_MIN_PIXELS,
                               settings.max_pixels or QWEN_UTILS_MAX_PIXELS)
        return img if size == img.size else img.resize(size, Image.Resampling.BICUBIC)
    if settings.resize == "square":
        size = (m, m) if m else img.size
        return img if size == img.size else img.resize(size, Image.Resampling.BICUBIC)
    raise DataError(f"unknown resize mode (one of {', '.join(RESIZES)})", culprit=settings.resize)


def target_size(width: int, height: int, settings: ImageSettings) -> tuple[int, int]:
    """The size :func:`prepare_image` gives a ``width x height`` image."""
    m = settings.max_side
    if settings.resize == "shrink":
        if not (m and max(width, height) > m):
            return width, height
        return _thumbnail_size(width, height, m)
    if settings.resize == "fit-area":
        return fit_size(width, height, m) if m else (width, height)
    if settings.resize == "qwen-smart":
        first = qwen_smart_size(width, height, QWEN_UTILS_MIN_PIXELS, QWEN_UTILS_MAX_PIXELS)
        return qwen_smart_size(*first, settings.min_pixels or QWEN_UTILS_MIN_PIXELS,
                               settings.max_pixels or QWEN_UTILS_MAX_PIXELS)
    if settings.resize == "square":
        return (m, m) if m else (width, height)
    return width, height


def _thumbnail_size(width: int, height: int, box: int) -> tuple[int, int]:
    """The size ``Image.thumbnail((box, box))`` gives (Pillow's rounding: the side nearer the aspect ratio)."""
    aspect = width / height
    if 1 >= aspect:
        x = min(math.floor(box * aspect), math.ceil(box * aspect), key=lambda n: abs(aspect - n / box))
        return max(x, 1), box
    y = min(math.floor(box / aspect), math.ceil(box / aspect), key=lambda n: 0 if n == 0 else abs(aspect - box / n))
    return box, max(y, 1)


def resized(width: int, height: int, settings: ImageSettings) -> bool:
    """Whether :func:`prepare_image` would resize a ``width x height`` image (change its pixels)."""
    if settings.resize == "qwen-smart" and \
            qwen_smart_size(width, height, QWEN_UTILS_MIN_PIXELS, QWEN_UTILS_MAX_PIXELS) != (width, height):
        return True          # resized twice, maybe back to its own size: its pixels still changed
    return target_size(width, height, settings) != (width, height)


def extension_mime(path: str | None) -> str:
    """The mime label MMAD's API scripts derive from a file name: .png -> png, .jpg/.jpeg and others -> jpeg."""
    return "image/png" if (path or "").lower().endswith(".png") else "image/jpeg"
