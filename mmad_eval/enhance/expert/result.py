"""What an expert says about one query image, plus the box and location rules shared by all experts."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

Box = tuple[int, int, int, int]
_ROWS = ("top", "middle", "bottom")
_COLS = ("left", "middle", "right")


@dataclass
class ExpertResult:
    """An expert's analysis of one query image.

    ``anomaly_map`` is H x W float32 in the query's pixel coordinates. For the built-in detector it is
    divided by the image threshold, so 1.0 marks the calibrated threshold (``map_threshold``); for the
    oracle it is the ground-truth mask as 0/1 (``map_threshold`` 0.5). ``boxes`` are (x0, y0, x1, y1) with
    inclusive pixel corners; ``location`` is a 3x3-grid phrase of the main blob, "" when there is none.
    """

    kind: str                               # "builtin", "oracle" or "anomalib"
    score: float
    threshold: float                        # calibrated image threshold, in the score's units
    normal_range: tuple[float, float]       # lowest and highest score seen on held-out normal images
    verdict: bool                           # True = anomalous
    anomaly_map: np.ndarray = field(repr=False)
    boxes: list[Box] = field(default_factory=list)
    location: str = ""
    references: int = 0                     # normal images the expert compared with
    map_threshold: float = 1.0              # value of ``anomaly_map`` that corresponds to the threshold
    variant: str = ""                       # detector variant used (built-in), for the record
    rendered: dict = field(default_factory=dict, repr=False, compare=False)   # hint renderings, per style


def grid_phrase(cy: float, cx: float, height: int, width: int) -> str:
    """The 3x3-grid phrase of a point, named like the generated questions' cells ("top left", "top middle",
    ..., "middle left", "center", ..., "bottom right"): "top" alone would also fit the top corners."""
    row = min(2, int(3 * cy / max(height, 1)))
    col = min(2, int(3 * cx / max(width, 1)))
    return "center" if (row, col) == (1, 1) else f"{_ROWS[row]} {_COLS[col]}"


def region_mask(anomaly_map: np.ndarray) -> np.ndarray:
    """MMAD's rule for the marked region: the map thresholded at 2/3 of its maximum (empty if max <= 0)."""
    peak = float(anomaly_map.max()) if anomaly_map.size else 0.0
    if peak <= 0:
        return np.zeros(anomaly_map.shape, bool)
    return anomaly_map >= peak * (2.0 / 3.0)


def boxes_and_location(anomaly_map: np.ndarray, max_boxes: int = 2) -> tuple[list[Box], str]:
    """Bounding boxes of the largest connected regions of ``region_mask`` and the main region's phrase.

    The location is the grid cell of the largest region's centre of mass, weighted by the map (close to
    the peak for a smooth map, the region's centre for a flat mask).
    """
    region = region_mask(anomaly_map)
    labels, n = ndimage.label(region)
    if n == 0:
        return [], ""
    sizes = ndimage.sum_labels(region, labels, index=np.arange(1, n + 1))
    order = np.argsort(-sizes, kind="stable")[:max_boxes] + 1
    slices = ndimage.find_objects(labels)
    boxes = []
    for lab in order:
        sy, sx = slices[lab - 1]
        boxes.append((int(sx.start), int(sy.start), int(sx.stop - 1), int(sy.stop - 1)))
    weights = np.where(labels == order[0], anomaly_map, 0.0)
    cy, cx = ndimage.center_of_mass(weights)
    return boxes, grid_phrase(cy + 0.5, cx + 0.5, *anomaly_map.shape)
