"""An expert's answer to a Defect Grounding question: boxes from its anomaly map.

Rule: the map thresholded at the expert's own threshold (``map_threshold``: the calibrated image threshold
for the built-in detector and ``maps:``/``detector:`` folders, 0.5 for the oracle's mask); when nothing passes
it but the expert's verdict is "anomalous", MMAD's marked-region rule (2/3 of the map's peak) instead; then
the same blob rule as the true boxes (:func:`mmad_eval.questions.grounding.mask_boxes`).
"""
from __future__ import annotations

import json

from ...questions.grounding import GroundingSettings, mask_boxes, to_format
from .result import ExpertResult, region_mask


def expert_boxes(result: ExpertResult, settings: GroundingSettings = GroundingSettings()) -> list[tuple[int, ...]]:
    """Half-open pixel boxes of the expert's defect regions, largest first ([] when it sees none)."""
    amap = result.anomaly_map
    region = amap >= result.map_threshold
    if not region.any() and result.verdict:
        region = region_mask(amap)
    return mask_boxes(region, settings.speck_share, settings.max_boxes)


def expert_box_reply(result: ExpertResult, box_format: str, frame: tuple[int, int] | None = None) -> str:
    """The reply text: a JSON list of boxes in the asked format. The map has the original image's size; pixel
    boxes are stated in ``frame`` (the size the question names, the image as sent; the map's size if None)."""
    height, width = result.anomaly_map.shape
    fw, fh = frame or (width, height)
    scaled = [(b[0] * fw / width, b[1] * fh / height, b[2] * fw / width, b[3] * fh / height)
              for b in expert_boxes(result)]
    return json.dumps([to_format(b, box_format, (fw, fh)) for b in scaled])
