"""Render an expert result as a hint for the model: an image (or none) plus a sentence of text.

Styles: ``boxes`` (red bounding boxes on the query, MMAD's agent style), ``contours`` (red outline of the
marked region), ``overlay`` (translucent heat map over the query), ``heatmap`` (the bare heat map),
``mask`` (binary map: white = marked region), ``text`` (no image). The marked region is MMAD's rule: the
map thresholded at 2/3 of its maximum. Heat colours span 0 .. twice the map's threshold value, so a
normal-looking map stays blue instead of being stretched to its own maximum. PNG bytes are deterministic.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from ..errors import ConfigError
from ..imageio import load_image
from ..settings import HINT_STYLES
from .expert.result import ExpertResult, region_mask

STYLES = HINT_STYLES
RED = np.array([255, 0, 0], np.uint8)
_STYLE_SENTENCE = {
    "boxes": "The extra image shows this image with the region marked by red boxes.",
    "contours": "The extra image shows this image with the region outlined in red.",
    "overlay": "The extra image shows this image under a translucent heat map (red = most anomalous).",
    "heatmap": "The extra image is the anomaly heat map (blue = normal, red = most anomalous).",
    "mask": "The extra image is a binary map in which white marks the region.",
    "text": "",
}
# jet-like colour ramp: position -> RGB
_RAMP_POS = np.array([0.0, 0.125, 0.375, 0.625, 0.875, 1.0])
_RAMP_RGB = np.array([[0, 0, 143], [0, 0, 255], [0, 255, 255], [255, 255, 0], [255, 0, 0], [128, 0, 0]], float)


def colormap(values: np.ndarray) -> np.ndarray:
    """H x W values in [0, 1] -> H x W x 3 uint8 heat colours."""
    v = np.clip(values, 0.0, 1.0)
    return np.stack([np.interp(v, _RAMP_POS, _RAMP_RGB[:, c]) for c in range(3)], -1).round().astype(np.uint8)


def _line_width(shape: tuple[int, int]) -> int:
    return max(2, int(round(min(shape) / 200)))


def _load(path: Path) -> np.ndarray:
    return np.asarray(load_image(path, mode="RGB")).copy()


def _fit_map(amap: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    if amap.shape == shape:
        return amap.astype(np.float32)
    img = Image.fromarray(amap.astype(np.float32), mode="F")
    return np.asarray(img.resize((shape[1], shape[0]), Image.Resampling.BILINEAR), np.float32)


def draw_boxes(image: np.ndarray, boxes, width: int) -> np.ndarray:
    out = image.copy()
    h, w = out.shape[:2]
    for x0, y0, x1, y1 in boxes:
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w - 1, x1), min(h - 1, y1)
        out[y0:min(h, y0 + width), x0:x1 + 1] = RED
        out[max(0, y1 - width + 1):y1 + 1, x0:x1 + 1] = RED
        out[y0:y1 + 1, x0:min(w, x0 + width)] = RED
        out[y0:y1 + 1, max(0, x1 - width + 1):x1 + 1] = RED
    return out


def render_image(result: ExpertResult, query: np.ndarray, style: str) -> np.ndarray | None:
    """The hint image as H x W x 3 uint8 (None for the text style)."""
    if style == "text":
        return None
    amap = _fit_map(result.anomaly_map, query.shape[:2])
    heat = amap / (2.0 * result.map_threshold) if result.map_threshold > 0 else amap
    if style == "boxes":
        return draw_boxes(query, result.boxes, _line_width(query.shape[:2]))
    if style == "contours":
        region = region_mask(amap)
        edge = region & ~ndimage.binary_erosion(region, iterations=_line_width(query.shape[:2]))
        out = query.copy()
        out[edge] = RED
        return out
    if style == "overlay":
        alpha = (0.6 * np.clip(heat, 0.0, 1.0))[..., None]
        return (query * (1.0 - alpha) + colormap(heat) * alpha).round().astype(np.uint8)
    if style == "heatmap":
        return colormap(heat)
    if style == "mask":
        return np.repeat((region_mask(amap) * 255).astype(np.uint8)[..., None], 3, axis=2)
    raise ConfigError(f"unknown hint style; choose one of {', '.join(STYLES)}", culprit=style)


def _box_text(boxes) -> str:
    parts = [f"[{x0}, {y0}, {x1}, {y1}]" for x0, y0, x1, y1 in boxes]
    return ("box " + parts[0]) if len(parts) == 1 else ("boxes " + " and ".join(parts))


def hint_text(result: ExpertResult, size: tuple[int, int], style: str) -> str:
    """The sentence(s) given to the model with (or instead of) the hint image; size is (width, height)."""
    w, h = size
    where = (f"in the {result.location} of the image, {_box_text(result.boxes)} "
             f"(pixel coordinates x0, y0, x1, y1 in the {w}x{h} image)") if result.boxes else ""
    style_note = _STYLE_SENTENCE[style]
    if result.kind == "oracle":
        if not result.boxes:
            text = "The ground-truth defect mask of this image is empty: the image is normal."
        else:
            text = f"The ground-truth defect mask of this image marks a defect {where}."
        return " ".join(p for p in (text, style_note) if p)
    if result.kind == "maps":
        head = (f"An anomaly detector scored this image {result.score:.2f} (threshold {result.threshold:.2f}); "
                f"verdict: likely {'defective' if result.verdict else 'normal'}.")
        if result.boxes:
            head += f" The most anomalous region is {where}."
        tail = "These are suggestions from an automatic model and may be wrong."
        return " ".join(p for p in (head, style_note, tail) if p)
    lo, hi = result.normal_range
    head = (f"An inspection model compared this image with {result.references} normal samples: anomaly score "
            f"{result.score:.2f} (normal images score {lo:.2f} to {hi:.2f}; threshold {result.threshold:.2f}); "
            f"verdict: likely {'defective' if result.verdict else 'normal'}.")
    if result.boxes:
        lead = "The most anomalous region is" if result.verdict else "Its most unusual (probably harmless) region is"
        head += f" {lead} {where}."
    tail = "These are suggestions from an automatic model and may be wrong."
    return " ".join(p for p in (head, style_note, tail) if p)


def render_hint(result: ExpertResult, query_path: Path, style: str,
                perturb: tuple[str, int] | None = None) -> tuple[bytes | None, str | None]:
    """(PNG bytes of the hint image or None for ``text``, hint text). Cached on the result per style. With
    ``perturb`` (a robustness run's perturbations and seed) it is drawn on the query as the model sees it."""
    if style not in STYLES:
        raise ConfigError(f"unknown hint style; choose one of {', '.join(STYLES)}", culprit=style)
    key = (str(query_path), style, perturb)
    if key in result.rendered:
        return result.rendered[key]
    if perturb is None:
        query = _load(Path(query_path))
    else:
        from ..prompt.perturb import perturbed_file

        query = np.asarray(perturbed_file(query_path, *perturb, what="query image")).copy()
    image = render_image(result, query, style)
    png = None
    if image is not None:
        buf = io.BytesIO()
        Image.fromarray(image).save(buf, "PNG", compress_level=1)
        png = buf.getvalue()
    out = (png, hint_text(result, (query.shape[1], query.shape[0]), style))
    result.rendered[key] = out
    return out
