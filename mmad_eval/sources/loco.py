"""MVTec LOCO AD layout.

``<cat>/train/good/`` and ``<cat>/validation/good/`` (normal references),
``<cat>/test/{good,logical_anomalies,structural_anomalies}/NNN.png`` (queries),
``<cat>/ground_truth/<type>/NNN/000.png, 001.png, ...`` (one mask file per defect region).
A sample's ``mask`` names the lone file of its mask folder, or the folder itself when it holds several files;
``imagecheck.read_mask`` merges a folder by union. ``defect_type`` is the test folder's name
(LOCO names its defects only through mask pixel values in ``defects_config.json``, not read here);
``defect_kind`` is ``logical`` or ``structural``.
"""
from __future__ import annotations

from pathlib import Path

from .loader_base import SourceBuilder
from .mvtec import walk_mvtec_like
from .sample import SourceSet

KINDS = {"logical_anomalies": "logical", "structural_anomalies": "structural"}


def load_loco(folder: Path) -> SourceSet:
    b = SourceBuilder(folder, "loco")
    walk_mvtec_like(b, normal_dirs=("train/good", "validation/good"), defect_kind=KINDS.get)
    return b.finish()
