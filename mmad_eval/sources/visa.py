"""VisA, in its 1-class layout or its original layout with the split CSV.

1-class layout (as MMAD ships it): ``<cat>/train/good/`` (optional), ``<cat>/test/{good,bad}/``,
``<cat>/ground_truth/bad/<stem>.png``. Original layout: ``split_csv/1cls.csv`` with columns
``object,split,label,image,mask`` (paths relative to the VisA folder, first component the category; images
under ``<cat>/Data/Images/{Normal,Anomaly}``); ``train`` rows are normal references, ``test`` rows queries.
VisA does not name defect types in either layout: the defect type is ``"anomaly"`` unless the CSV has a
``defect_type`` (or ``defect``) column or the category's ``image_anno.csv`` labels the image.
"""
from __future__ import annotations

import csv
from pathlib import Path

from ..errors import DataError
from ..paths import safe_join
from .loader_base import SourceBuilder
from .mvtec import walk_mvtec_like
from .sample import SourceSet

SPLIT_CSV = "split_csv/1cls.csv"
UNKNOWN_DEFECT = "anomaly"
NORMAL_LABELS = ("normal", "good", "0")
ANOMALY_LABELS = ("anomaly", "anomalous", "bad", "1")
_COLUMNS = ("object", "split", "label", "image")


def load_visa(folder: Path) -> SourceSet:
    """Load a VisA folder: the split-CSV layout when ``split_csv/1cls.csv`` exists, else the 1-class layout."""
    if (Path(folder) / SPLIT_CSV).is_file():
        return load_visa_csv(folder)
    b = SourceBuilder(folder, "visa")
    walk_mvtec_like(b, defect_name=lambda d: UNKNOWN_DEFECT if d == "bad" else d)
    return b.finish()


def read_csv_rows(path: Path, required: tuple[str, ...]) -> list[dict[str, str]]:
    """Rows of an annotation CSV; DataError naming the file when it is unreadable or lacks a column."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            missing = [c for c in required if c not in (reader.fieldnames or [])]
            if missing:
                raise DataError(f"missing column(s) {', '.join(missing)}; has {reader.fieldnames}",
                                culprit=str(path))
            return [{k: (v or "").strip() for k, v in row.items() if k is not None} for row in reader]
    except (UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"unreadable CSV: {e}", culprit=str(path)) from None


def _image_labels(folder: Path, category: str) -> dict[str, str]:
    """VisA's per-category ``image_anno.csv`` (image -> defect label), when present."""
    path = folder / category / "image_anno.csv"
    if not path.is_file():
        return {}
    return {r["image"]: r["label"] for r in read_csv_rows(path, ("image", "label"))}


def load_visa_csv(folder: Path) -> SourceSet:
    b = SourceBuilder(folder, "visa")
    csv_path = b.folder / SPLIT_CSV
    labels: dict[str, dict[str, str]] = {}
    for n, row in enumerate(read_csv_rows(csv_path, _COLUMNS), start=2):
        where = f"{csv_path}:{n}"
        cat, rel = row["object"], row["image"]
        image = safe_join(b.folder, rel, what="image path")
        if Path(rel).parts[0] != cat:
            raise DataError(f"image path {rel!r} does not start with its object {cat!r}", culprit=where)
        if not image.is_file():
            raise DataError(f"image {rel!r} not found", culprit=where)
        label = row["label"].lower()
        if label not in NORMAL_LABELS + ANOMALY_LABELS:
            raise DataError(f"unknown label {row['label']!r} (expected normal or anomaly)", culprit=where)
        anomalous = label in ANOMALY_LABELS
        split = row["split"].lower()
        if split == "train":
            if anomalous:
                b.skip(image, "anomalous image in the train split (not a normal reference)")
            else:
                b.add_normal(cat, image)
            continue
        if split != "test":
            raise DataError(f"unknown split {row['split']!r} (expected train or test)", culprit=where)
        mask = None
        if anomalous:
            if row.get("mask"):
                mask = safe_join(b.folder, row["mask"], what="mask path")
                if not mask.exists():
                    raise DataError(f"mask {row['mask']!r} not found", culprit=where)
            else:
                b.skip(image, "no mask given (sample kept without a mask)")
        if cat not in labels:
            labels[cat] = _image_labels(b.folder, cat)
        defect = row.get("defect_type") or row.get("defect") or labels[cat].get(rel) or UNKNOWN_DEFECT
        b.normals.setdefault(cat, [])
        b.add_sample(cat, image, anomalous=anomalous, defect_type=defect, mask=mask)
    return b.finish()
