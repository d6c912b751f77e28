"""Fast smooth noise and small raster helpers shared by the texture, object and defect renderers.

Value noise is a bicubic upscale of a small random grid (much faster than gradient noise and smooth
enough for surfaces); every function takes an explicit ``numpy.random.Generator`` so results depend only
on the caller's seed.
"""
from __future__ import annotations

import numpy as np
from PIL import Image


def value_noise(rng: np.random.Generator, shape: tuple[int, int], cells: tuple[int, int] | int) -> np.ndarray:
    """Smooth noise of ``shape`` (H, W) with about ``cells`` random values per axis; zero mean, unit-ish std."""
    cy, cx = (cells, cells) if isinstance(cells, int) else cells
    cy, cx = max(2, int(cy)), max(2, int(cx))
    grid = rng.standard_normal((cy + 2, cx + 2)).astype(np.float32)
    h, w = shape
    # upsample the padded grid, then crop the border cells (bicubic edges are less smooth)
    sy, sx = h / cy, w / cx
    big = Image.fromarray(grid, mode="F").resize((int(round(w + 2 * sx)), int(round(h + 2 * sy))), Image.BICUBIC)
    arr = np.asarray(big, dtype=np.float32)
    oy, ox = int(round(sy)), int(round(sx))
    return arr[oy:oy + h, ox:ox + w] / 0.8


def fbm(rng: np.random.Generator, shape: tuple[int, int], cells: int, octaves: int = 4,
        gain: float = 0.5, aspect: float = 1.0) -> np.ndarray:
    """Fractal sum of value noise octaves; ``aspect`` > 1 stretches features along x (grain)."""
    out = np.zeros(shape, np.float32)
    amp, total = 1.0, 0.0
    for o in range(octaves):
        c = cells * (2 ** o)
        out += amp * value_noise(rng, shape, (c, max(2, c / aspect)))
        total += amp * amp
        amp *= gain
    return out / np.sqrt(total)


def smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def grid_coords(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates (y, x) in pixels as float32 arrays of shape (size, size)."""
    r = np.arange(size, dtype=np.float32) + 0.5
    return np.meshgrid(r, r, indexing="ij")


def box_down(img: np.ndarray, factor: int) -> np.ndarray:
    """Reduce a supersampled (H*f, W*f[, C]) array by averaging f x f blocks."""
    if factor == 1:
        return img
    h, w = img.shape[0] // factor, img.shape[1] // factor
    return img.reshape(h, factor, w, factor, *img.shape[2:]).mean(axis=(1, 3))


def luminance(img: np.ndarray) -> np.ndarray:
    return img[..., 0] * 0.299 + img[..., 1] * 0.587 + img[..., 2] * 0.114


def polyline_distance(points: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Distance from each (ys, xs) pixel to the polyline through ``points`` ((N, 2) as x, y)."""
    d = np.full(ys.shape, np.inf, np.float32)
    for (x0, y0), (x1, y1) in zip(points[:-1], points[1:]):
        dx, dy = x1 - x0, y1 - y0
        ll = dx * dx + dy * dy or 1e-6
        t = np.clip(((xs - x0) * dx + (ys - y0) * dy) / ll, 0, 1)
        d = np.minimum(d, np.hypot(xs - (x0 + t * dx), ys - (y0 + t * dy)))
    return d


def window(points: np.ndarray, margin: float, size: int) -> tuple[slice, slice]:
    """The pixel window (rows, cols) around ``points`` ((N, 2) as x, y) grown by ``margin``, clipped."""
    x0 = int(max(0, np.floor(points[:, 0].min() - margin)))
    x1 = int(min(size, np.ceil(points[:, 0].max() + margin) + 1))
    y0 = int(max(0, np.floor(points[:, 1].min() - margin)))
    y1 = int(min(size, np.ceil(points[:, 1].max() + margin) + 1))
    return slice(y0, max(y0, y1)), slice(x0, max(x0, x1))


def window_coords(win: tuple[slice, slice]) -> tuple[np.ndarray, np.ndarray]:
    ys = np.arange(win[0].start, win[0].stop, dtype=np.float32) + 0.5
    xs = np.arange(win[1].start, win[1].stop, dtype=np.float32) + 0.5
    return np.meshgrid(ys, xs, indexing="ij")


def rng_from(seed: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(int(seed)))
