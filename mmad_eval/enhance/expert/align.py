"""Alignment-difference map for rigidly posed objects.

The query is compared pixel-wise with its nearest normal references after aligning each one to it by
phase correlation (integer translation). The map is the minimum over those references of the smoothed
absolute difference in opponent colour and gradient magnitude, each channel scaled by its spread over the
references. Works at half the working resolution; a missing or moved part shows up here even when every
local patch looks normal on its own (which the patch memory cannot see).
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from .features import opponent

SCALE = 2          # the map's stride relative to the working image
NEAREST = 3        # references compared per query
THUMB = 16         # side of the thumbnail used to pick the nearest references


def _planes(rgb: np.ndarray) -> np.ndarray:
    opp = opponent(rgb[::SCALE, ::SCALE])
    smooth = np.stack([ndimage.gaussian_filter(c, 1.5, mode="nearest") for c in opp])
    gy = ndimage.gaussian_filter(opp[0], 1.5, order=(1, 0), mode="nearest")
    gx = ndimage.gaussian_filter(opp[0], 1.5, order=(0, 1), mode="nearest")
    return np.concatenate([smooth, np.sqrt(gx * gx + gy * gy)[None]]).astype(np.float32)


def _thumb(lum: np.ndarray) -> np.ndarray:
    h, w = lum.shape
    ys = (np.arange(THUMB) * h) // THUMB
    xs = (np.arange(THUMB) * w) // THUMB
    t = ndimage.uniform_filter(lum, size=max(1, h // THUMB))[np.ix_(ys, xs)]
    return (t - t.mean()).ravel()


def _shift(planes: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Translate C x H x W planes by (dy, dx) pixels, replicating the edges."""
    _, h, w = planes.shape
    ys = np.clip(np.arange(h) - dy, 0, h - 1)
    xs = np.clip(np.arange(w) - dx, 0, w - 1)
    return planes[:, ys][:, :, xs]


class AlignmentModel:
    """Reference planes, thumbnails and spectra kept for aligning queries."""

    def __init__(self, images: list[np.ndarray]):
        self.planes = [_planes(im) for im in images]
        self.thumbs = np.stack([_thumb(p[0]) for p in self.planes])
        h, w = self.planes[0].shape[1:]
        self.window = np.outer(np.hanning(h), np.hanning(w)).astype(np.float32)
        self.spectra = [np.conj(np.fft.rfft2((p[0] - p[0].mean()) * self.window)) for p in self.planes]
        spread = np.stack([p.reshape(p.shape[0], -1).std(1) for p in self.planes]).mean(0)
        self.inv_spread = (1.0 / np.maximum(spread, 1e-3)).astype(np.float32)

    def _offset(self, spec_q: np.ndarray, i: int, shape: tuple[int, int]) -> tuple[int, int]:
        cross = spec_q * self.spectra[i]
        corr = np.fft.irfft2(cross / np.maximum(np.abs(cross), 1e-9), s=shape)
        dy, dx = np.unravel_index(int(corr.argmax()), shape)
        h, w = shape
        return (int(dy) - h if dy > h // 2 else int(dy)), (int(dx) - w if dx > w // 2 else int(dx))

    def difference_map(self, rgb: np.ndarray, exclude: int | None = None) -> np.ndarray:
        """Min over the nearest aligned references of the scaled colour/gradient difference (H/2 x W/2)."""
        q = _planes(rgb)
        dist = ((self.thumbs - _thumb(q[0])) ** 2).sum(1)
        if exclude is not None:
            dist[exclude] = np.inf
        order = [int(i) for i in np.argsort(dist) if np.isfinite(dist[i])][:NEAREST]
        shape = q.shape[1:]
        spec_q = np.fft.rfft2((q[0] - q[0].mean()) * self.window)
        best = None
        for i in order:
            dy, dx = self._offset(spec_q, i, shape)
            diff = np.abs(q - _shift(self.planes[i], dy, dx)) * self.inv_spread[:, None, None]
            d = ndimage.gaussian_filter(diff.sum(0), 2.0, mode="nearest")
            best = d if best is None else np.minimum(best, d)
        return best.astype(np.float32)
