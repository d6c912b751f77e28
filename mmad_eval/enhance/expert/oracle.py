"""The oracle expert: the ground-truth defect mask used as the anomaly map (an upper bound for ablations)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import DataError
from ...paths import resolve_mask, safe_join
from ...questions.model import ImageEntry
from ...sources.imagecheck import image_size, read_mask
from .result import ExpertResult, boxes_and_location


def oracle_result(data_root: Path, entry: ImageEntry) -> ExpertResult:
    """ExpertResult whose map is the ground-truth mask (score 1 if the mask has any pixel, else 0)."""
    query = safe_join(data_root, entry.key, what="query image")
    width, height = image_size(query)
    mask_file = resolve_mask(data_root, entry)
    if mask_file is None:
        mask = np.zeros((height, width), bool)
    else:
        mask = read_mask(mask_file)
        if mask.shape != (height, width):
            raise DataError(f"mask size {mask.shape[1]}x{mask.shape[0]} differs from its image "
                            f"({width}x{height})", culprit=str(mask_file))
    amap = mask.astype(np.float32)
    boxes, location = boxes_and_location(amap)
    score = 1.0 if mask.any() else 0.0
    return ExpertResult(kind="oracle", score=score, threshold=0.5, normal_range=(0.0, 0.0),
                        verdict=bool(score > 0.5), anomaly_map=amap, boxes=boxes, location=location,
                        references=0, map_threshold=0.5, variant="ground-truth mask")
