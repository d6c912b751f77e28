"""Image perturbations for robustness runs (``--perturb``): what deployment cameras do to an image.

A perturbation list (``ProtocolSettings.perturb``, e.g. ``"motion=9,lowlight=2"``) is applied left to right
to the decoded RGB image at its own resolution, before the model's resizing:

* ``blur=SIGMA``     Gaussian blur, standard deviation SIGMA pixels (defocus).
* ``motion=LENGTH``  linear motion blur over LENGTH pixels, at an angle drawn from the seed and the image.
* ``lowlight=GAMMA`` darkening: every channel x -> 255 (x/255)^GAMMA (GAMMA > 1 darkens; 1 changes nothing).
* ``noise=SIGMA``    additive Gaussian sensor noise, standard deviation SIGMA grey levels, seeded.
* ``jpeg=QUALITY``   one JPEG encode and decode at QUALITY (Pillow, 4:2:0).

The random parts (noise, motion angle) are seeded by ``perturb_seed`` and the image's SHA-256, so the same
image gets the same perturbed pixels in every run and every process, and two images get independent noise.
The result is sent as a PNG of its own (its hash is the perturbed image's: answer keys change with it).
"""
from __future__ import annotations

import hashlib
import io

import numpy as np
from PIL import Image, ImageDraw, ImageFilter
from scipy.signal import fftconvolve

from ..settings import parse_perturbations


def _rng(seed: int, salt: str, kind: str) -> np.random.Generator:
    digest = hashlib.sha256(f"{seed}:{salt}:{kind}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "big"))


def _motion(img: Image.Image, length: float, rng: np.random.Generator) -> Image.Image:
    n = max(1, int(round(length)))
    if n < 2:
        return img
    angle = rng.uniform(0, np.pi)
    canvas = Image.new("L", (n, n), 0)
    c = (n - 1) / 2
    dx, dy = np.cos(angle) * c, np.sin(angle) * c
    ImageDraw.Draw(canvas).line([(c - dx, c - dy), (c + dx, c + dy)], fill=255, width=1)
    kernel = np.asarray(canvas, np.float64)
    kernel /= kernel.sum()
    a = np.asarray(img, np.float64)
    pad = n // 2 + 1
    padded = np.pad(a, ((pad, pad), (pad, pad), (0, 0)), mode="reflect")
    out = np.stack([fftconvolve(padded[..., ch], kernel, mode="same") for ch in range(3)], axis=-1)
    return Image.fromarray(np.clip(np.rint(out[pad:-pad, pad:-pad]), 0, 255).astype(np.uint8))


def _apply_one(img: Image.Image, kind: str, value: float, rng_of) -> Image.Image:
    if kind == "blur":
        return img.filter(ImageFilter.GaussianBlur(radius=value)) if value > 0 else img
    if kind == "motion":
        return _motion(img, value, rng_of(kind))
    if kind == "lowlight":
        lut = [int(round(255 * (i / 255) ** value)) for i in range(256)]
        return img.point(lut * 3)
    if kind == "noise":
        a = np.asarray(img, np.float64) + rng_of(kind).normal(0.0, value, (img.size[1], img.size[0], 3))
        return Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8))
    if kind == "jpeg":
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=int(value))
        return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    raise ValueError(kind)     # parse_perturbations admits only the kinds above


def perturb_image(img: Image.Image, spec: str, seed: int, salt: str) -> Image.Image:
    """``img`` (any mode) as RGB with the perturbations of ``spec`` applied in order; ``salt`` (the image's
    SHA-256) makes the random parts differ between images."""
    out = img.convert("RGB")
    for kind, value in parse_perturbations(spec):
        out = _apply_one(out, kind, value, lambda k: _rng(seed, salt, k))
    return out


def perturbed_file(path, spec: str, seed: int, *, what: str = "image") -> Image.Image:
    """An image file as a robustness run's model sees it (RGB): salted with the file's SHA-256, as the plan's
    perturbed images are, so tools and hints show the very pixels the prompt holds."""
    from ..errors import DataError
    from ..imageio import load_image

    try:
        data = open(path, "rb").read()
    except OSError as e:
        raise DataError(f"cannot read {what}: {e.strerror}", culprit=str(path)) from None
    return perturb_image(load_image(data, what=what, culprit=str(path)), spec, seed, hashlib.sha256(data).hexdigest())


def perturbed_png(data: bytes, spec: str, seed: int, salt: str) -> bytes:
    """The perturbed image of an image file's bytes, as PNG bytes."""
    from ..imageio import load_image

    buf = io.BytesIO()
    perturb_image(load_image(data, what="image"), spec, seed, salt).save(buf, "PNG", compress_level=1)
    return buf.getvalue()
