"""Handcrafted per-patch features for the weight-free expert detector.

Every pixel gets opponent colour at two blur scales, scale-normalised gradient magnitude, structure-tensor
anisotropy and Laplacian-of-Gaussian at three scales, and a local standard deviation. The feature planes
are pooled to a stride-4 grid and each cell is extended with the mean of its 3x3 neighbourhood, so a patch
vector describes a small neighbourhood the way PatchCore's mid-level CNN features do, without weights.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage

STRIDE = 4
COLOUR_SIGMAS = (1.0, 3.0)
EDGE_SIGMAS = (1.0, 2.0, 4.0)


@dataclass(frozen=True)
class WorkingShape:
    """The common (height, width) every image of a category is resized to before analysis."""

    height: int
    width: int

    @classmethod
    def for_image(cls, shape: tuple[int, ...], side: int) -> "WorkingShape":
        """Longest side ``side``, aspect kept, both sides multiples of the pooling stride."""
        h, w = shape[:2]
        scale = side / max(h, w)
        return cls(max(STRIDE * 4, int(round(h * scale / STRIDE)) * STRIDE),
                   max(STRIDE * 4, int(round(w * scale / STRIDE)) * STRIDE))

    @property
    def grid(self) -> tuple[int, int]:
        return self.height // STRIDE, self.width // STRIDE


def as_rgb_float(image: np.ndarray, shape: WorkingShape) -> np.ndarray:
    """An H x W x 3 float32 image in [0, 1], resized to the working shape (uint8, float or grey input)."""
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    if arr.shape[2] == 4:
        arr = arr[..., :3]
    if arr.dtype != np.uint8:
        arr = np.clip(arr.astype(np.float32) * (255.0 if arr.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    if arr.shape[:2] != (shape.height, shape.width):
        arr = np.asarray(Image.fromarray(arr).resize((shape.width, shape.height), Image.Resampling.BILINEAR))
    return arr.astype(np.float32) / 255.0


def opponent(rgb: np.ndarray) -> np.ndarray:
    """Luminance, red-green and yellow-blue planes (3 x H x W)."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    return np.stack([(r + g + b) / 3.0, r - g, (r + g) / 2.0 - b]).astype(np.float32)


def _gauss(x: np.ndarray, sigma: float, order=0) -> np.ndarray:
    return ndimage.gaussian_filter(x, sigma, order=order, mode="nearest", truncate=3.0)


def _edge_planes(lum: np.ndarray, s: float, invariant: bool = False) -> list[np.ndarray]:
    """Scale-normalised gradient magnitude, two structure-tensor anisotropy terms and LoG at scale s.

    ``invariant``: one rotation-invariant anisotropy term (the magnitude of the two) instead of both, for
    objects in free pose (rotating the image rotates the (xx - yy, 2xy) pair by twice the angle).
    """
    gy = _gauss(lum, s, (1, 0)) * s
    gx = _gauss(lum, s, (0, 1)) * s
    jxx, jyy, jxy = (_gauss(v, 2 * s) for v in (gx * gx, gy * gy, gx * gy))
    norm = np.sqrt(jxx + jyy + 1e-6)
    log = ndimage.gaussian_laplace(lum, s, mode="nearest", truncate=3.0) * s * s
    # anisotropy terms are scaled like a gradient (not divided to a unit ratio) so flat areas stay quiet
    grad = np.sqrt(gx * gx + gy * gy)
    if invariant:
        return [grad, np.sqrt((jxx - jyy) ** 2 + 4.0 * jxy * jxy) / norm, log]
    return [grad, (jxx - jyy) / norm, 2.0 * jxy / norm, log]


def pixel_planes(opp: np.ndarray, invariant: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel feature planes: (fine planes at full resolution, coarse planes at half resolution).

    Fine: colour blurred at sigma 1, edge planes at sigma 1, local standard deviation (5 x 5).
    Coarse (computed on the 2x-reduced image, sigmas in full-resolution pixels): colour at sigma 3, edge
    planes at sigmas 2 and 4. Computing coarse scales at half resolution halves the filtering cost.
    """
    lum = opp[0]
    fine = [_gauss(c, COLOUR_SIGMAS[0]) for c in opp] + _edge_planes(lum, EDGE_SIGMAS[0], invariant)
    mean = ndimage.uniform_filter(lum, 5, mode="nearest")
    sq = ndimage.uniform_filter(lum * lum, 5, mode="nearest")
    fine.append(np.sqrt(np.maximum(sq - mean * mean, 0.0)))
    c, h, w = opp.shape
    half = opp.reshape(c, h // 2, 2, w // 2, 2).mean(axis=(2, 4))
    coarse = [_gauss(ch, COLOUR_SIGMAS[1] / 2) for ch in half]
    for s in EDGE_SIGMAS[1:]:
        coarse += _edge_planes(half[0], s / 2, invariant)
    return np.stack(fine).astype(np.float32), np.stack(coarse).astype(np.float32)


def _block_mean(planes: np.ndarray, k: int) -> np.ndarray:
    c, h, w = planes.shape
    return planes.reshape(c, h // k, k, w // k, k).mean(axis=(2, 4))


def pool(fine: np.ndarray, coarse: np.ndarray) -> np.ndarray:
    """Average-pool the planes to the stride grid, add the darkest and brightest luminance of each cell
    (a mean hides a small hole or speck) and append the 3x3 neighbourhood mean (2C x h x w)."""
    c, h, w = fine.shape
    cells = fine[0].reshape(h // STRIDE, STRIDE, w // STRIDE, STRIDE)
    extremes = np.stack([cells.min(axis=(1, 3)), cells.max(axis=(1, 3))])
    pooled = np.concatenate([_block_mean(fine, STRIDE), extremes, _block_mean(coarse, STRIDE // 2)])
    neigh = ndimage.uniform_filter(pooled, size=(1, 3, 3), mode="nearest")
    return np.concatenate([pooled, neigh]).astype(np.float32)


def gain_normalise(rgb: np.ndarray, target_mean: float | None) -> np.ndarray:
    """Scale the image so its mean luminance matches the references' (global lighting drift)."""
    if target_mean is None:
        return rgb
    m = float(rgb.mean())
    return rgb if m < 1e-3 else np.clip(rgb * (target_mean / m), 0.0, 1.5)


def patch_features(rgb: np.ndarray, invariant: bool = False) -> np.ndarray:
    """Pooled patch features as an (h*w) x D float32 matrix (row-major over the stride grid);
    ``invariant``: rotation-invariant anisotropy terms (see ``_edge_planes``)."""
    feats = pool(*pixel_planes(opponent(rgb), invariant))
    return feats.reshape(feats.shape[0], -1).T.copy()


def position_columns(shape: WorkingShape, weight: float) -> np.ndarray:
    """Two columns (x, y in [0, 1] times ``weight``) for each grid cell, row-major."""
    gh, gw = shape.grid
    yy, xx = np.meshgrid((np.arange(gh) + 0.5) / gh, (np.arange(gw) + 0.5) / gw, indexing="ij")
    return (np.stack([xx.ravel(), yy.ravel()], axis=1) * weight).astype(np.float32)


FREE_POSE_COHERENCE = 0.15   # references this oriented (0: isotropic, 1: one direction) have a pose ...
FREE_POSE_AGREEMENT = 0.8    # ... and it is free when their dominant orientations agree less than this


def orientation_stats(rgbs: list[np.ndarray]) -> tuple[float, float]:
    """(mean coherence of each image's global structure tensor, agreement of their dominant orientations).

    Coherence is near 0 for isotropic textures and round objects, near 1 for one dominant direction; the
    agreement is the length of the mean orientation vector (doubled angles) over the mean coherence: 1 when
    every reference points the same way (fixed pose), near 0 when they point anywhere (free pose).
    """
    vectors = []
    for rgb in rgbs:
        lum = rgb[::2, ::2].mean(2)
        gy, gx = _gauss(lum, 2.0, (1, 0)), _gauss(lum, 2.0, (0, 1))
        jxx, jyy, jxy = float((gx * gx).mean()), float((gy * gy).mean()), float((gx * gy).mean())
        vectors.append(complex(jxx - jyy, 2.0 * jxy) / max(jxx + jyy, 1e-12))
    coherence = float(np.mean(np.abs(vectors)))
    return coherence, float(abs(np.mean(vectors)) / max(coherence, 1e-9))


def free_pose(rgbs: list[np.ndarray]) -> bool:
    """Whether the references show one oriented object in varying orientations (e.g. screws)."""
    coherence, agreement = orientation_stats(rgbs)
    return coherence >= FREE_POSE_COHERENCE and agreement < FREE_POSE_AGREEMENT
