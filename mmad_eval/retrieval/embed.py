"""Image embeddings for normal-reference retrieval.

``builtin`` needs no weights: multi-scale colour and gradient descriptors computed with numpy from a
128-px thumbnail (a few ms per image). A local model folder (CLIP, DINOv2, SigLIP, ... saved with
``save_pretrained``) selects a pretrained encoder through transformers (the ``hf`` extra).
Every embedder returns L2-normalised float32 rows, so similarity is a dot product.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import ConfigError, MissingExtraError
from ..imageio import load_image, open_image

SIDE = 128          # thumbnail side the built-in descriptor is computed on
GRID = 4            # finest grid (4x4); 2x2 and 1x1 are sums of its cells
COLOR_BINS = 8      # per opponent channel
ORIENT_BINS = 9     # unsigned gradient orientation
LAYOUT_SIDE = 8     # a tiny z-scored luminance image: pose and layout
LAYOUT_WEIGHT = 0.5 # relative to the colour and gradient blocks (1 each): coarse, shift-sensitive


def _load_rgb(path: Path, side: int) -> np.ndarray:
    from PIL import Image

    with open_image(path) as im:
        im.draft("RGB", (side * 2, side * 2))   # JPEG: decode at reduced scale (no-op for PNG)
        im = im.convert("RGB")
        if min(im.size) >= side * 4:
            im = im.reduce(max(1, min(im.size) // (side * 2)))
        return np.asarray(im.resize((side, side), Image.BILINEAR), dtype=np.float32)


def _pyramid(cell_hist: np.ndarray) -> np.ndarray:
    """(GRID, GRID, bins) cell histograms -> concatenated 1x1, 2x2, 4x4 histograms, each cell L1-normalised
    and square-rooted (Hellinger), so each grid level weighs the same."""
    levels = [cell_hist.sum(axis=(0, 1))[None], cell_hist.reshape(2, 2, 2, 2, -1).sum(axis=(1, 3)).reshape(4, -1),
              cell_hist.reshape(GRID * GRID, -1)]
    out = []
    for lv in levels:
        lv = lv / np.maximum(lv.sum(axis=1, keepdims=True), 1e-8)
        out.append(np.sqrt(lv).ravel() / np.sqrt(len(lv)))
    return np.concatenate(out)


def _cell_hist(bins: np.ndarray, nbins: int, weights: np.ndarray | None = None) -> np.ndarray:
    cell = (np.arange(SIDE) * GRID // SIDE)
    cell_idx = cell[:, None] * GRID + cell[None, :]
    idx = (cell_idx * nbins + bins).ravel()
    w = None if weights is None else weights.ravel()
    return np.bincount(idx, weights=w, minlength=GRID * GRID * nbins).reshape(GRID, GRID, nbins)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-8)


def builtin_descriptor(rgb: np.ndarray) -> np.ndarray:
    """Descriptor of a (SIDE, SIDE, 3) float image: colour, gradient and layout blocks, each unit length."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    opp = [(r + g + b) / (3 * 255.0), (r - g) / 510.0 + 0.5, (r + g - 2 * b) / 1020.0 + 0.5]  # all in [0, 1]
    colour = [_pyramid(_cell_hist(np.clip((c * COLOR_BINS).astype(np.int64), 0, COLOR_BINS - 1), COLOR_BINS))
              for c in opp]
    lum = opp[0]
    gy, gx = np.gradient(lum)
    mag = np.hypot(gx, gy)
    ang = np.mod(np.arctan2(gy, gx), np.pi)
    obin = np.minimum((ang / np.pi * ORIENT_BINS).astype(np.int64), ORIENT_BINS - 1)
    grad = _pyramid(_cell_hist(obin, ORIENT_BINS, mag) + 1e-6)
    k = SIDE // LAYOUT_SIDE
    small = lum.reshape(LAYOUT_SIDE, k, LAYOUT_SIDE, k).mean(axis=(1, 3)).ravel()
    layout = (small - small.mean()) / max(float(small.std()), 1e-3)
    blocks = [_unit(np.concatenate(colour)), _unit(grad), LAYOUT_WEIGHT * _unit(layout)]
    return _unit(np.concatenate(blocks)).astype(np.float32)


class BuiltinEmbedder:
    """Weight-free descriptor: opponent-colour and gradient-orientation histograms on 1x1/2x2/4x4 grids plus
    an 8x8 luminance layout, from a 128-px thumbnail."""

    name = "builtin"

    def embed(self, paths: list[Path]) -> np.ndarray:
        if not paths:
            return np.zeros((0, 0), np.float32)
        one = lambda p: builtin_descriptor(_load_rgb(Path(p), SIDE))  # noqa: E731
        if len(paths) < 4:
            return np.stack([one(p) for p in paths])
        from concurrent.futures import ThreadPoolExecutor   # image decoding releases the GIL

        with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
            return np.stack(list(pool.map(one, paths)))


class TransformersEmbedder:
    """A pretrained vision encoder loaded from a local folder (``AutoModel`` + ``AutoImageProcessor``).
    Uses ``get_image_features`` when the model has it (CLIP, SigLIP), else the mean of the last hidden state."""

    def __init__(self, model_path: str, batch_size: int = 16, device: str | None = None):
        try:
            import torch
            from transformers import AutoImageProcessor, AutoModel
        except ImportError:
            raise MissingExtraError("transformers", "hf") from None
        self.name = model_path
        self._torch = torch
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        try:
            self.processor = AutoImageProcessor.from_pretrained(model_path)
            self.model = AutoModel.from_pretrained(model_path).to(self.device).eval()
        except (OSError, ValueError) as e:
            raise ConfigError(f"cannot load an image encoder from this folder: {e}", culprit=model_path) from None
        self.batch_size = batch_size

    def _features(self, pixels):
        if hasattr(self.model, "get_image_features"):
            out = self.model.get_image_features(pixel_values=pixels)
            out = getattr(out, "pooler_output", out)   # transformers 5 may return a model output
        else:
            out = self.model(pixel_values=pixels).last_hidden_state.mean(dim=1)
        return out.float()

    def embed(self, paths: list[Path]) -> np.ndarray:
        from PIL import Image

        rows = []
        for i in range(0, len(paths), self.batch_size):
            images = []
            for p in paths[i:i + self.batch_size]:
                images.append(load_image(p, mode="RGB"))
            batch = self.processor(images=images, return_tensors="pt")["pixel_values"].to(self.device)
            with self._torch.inference_mode():
                feats = self._features(batch)
            rows.append(self._torch.nn.functional.normalize(feats, dim=-1).cpu().numpy())
        return np.concatenate(rows).astype(np.float32) if rows else np.zeros((0, 0), np.float32)


def make_embedder(spec: str = "builtin"):
    """``"builtin"`` or the path of a local model folder; anything else is a ConfigError naming it."""
    if spec == "builtin":
        return BuiltinEmbedder()
    if not Path(spec).is_dir():
        raise ConfigError("embedder must be 'builtin' or a local model folder (nothing is downloaded)",
                          culprit=spec)
    return TransformersEmbedder(spec)
