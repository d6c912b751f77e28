"""A generic folder of your own images, described by a small annotation file.

The dataset folder holds ``annotations.csv`` (header row) or ``annotations.jsonl`` (one JSON object per
line) with one record per image:

============  ========  ==============================================================================
column        required  meaning
============  ========  ==============================================================================
image         yes       path relative to the folder; its first component is the category
                        (``bottle/test/001.png``), so the key reads ``<dataset>/<category>/...``
label         yes       ``normal`` (or ``good``, ``0``) / ``anomalous`` (or ``anomaly``, ``bad``, ``1``)
category      no        must equal the image path's first component when given
split         no        ``test`` (default): a query; ``train`` or ``reference``: a normal reference
defect_type   no        e.g. ``scratch``; anomalous rows without one get ``anomaly``
mask          no        mask file (non-zero = defect) or a folder of mask files, relative to the folder
defect_kind   no        ``structural`` or ``logical``
(others)      no        kept in the sample's ``meta``
============  ========  ==============================================================================

Example ``annotations.csv``::

    image,label,defect_type,mask
    bottle/ref/000.png,normal,,
    bottle/q/001.png,anomalous,scratch,bottle/masks/001.png
"""
from __future__ import annotations

import json
from pathlib import Path, PurePosixPath

from ..errors import DataError, LayoutError
from ..inputfile import read_input
from ..paths import safe_join
from .loader_base import DEFECT_KINDS, SourceBuilder
from .sample import SourceSet
from .visa import ANOMALY_LABELS, NORMAL_LABELS, UNKNOWN_DEFECT, read_csv_rows

ANNOTATION_FILES = ("annotations.csv", "annotations.jsonl")
_KNOWN = ("image", "label", "category", "split", "defect_type", "mask", "defect_kind")
_EXTRA_ANOMALY = ("anomalous", "defect", "defective", "abnormal")


def _read_jsonl(path: Path) -> list[dict]:
    rows = []
    for n, line in enumerate(read_input(path, "annotation file").decode("utf-8", "replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"malformed JSON line: {e}", culprit=f"{path}:{n}") from None
        if not isinstance(row, dict):
            raise DataError("each line must be a JSON object", culprit=f"{path}:{n}")
        rows.append(row)
    return rows


def annotation_file(folder: Path) -> Path | None:
    found = [Path(folder) / n for n in ANNOTATION_FILES if (Path(folder) / n).is_file()]
    if len(found) > 1:
        raise LayoutError("both annotations.csv and annotations.jsonl exist; keep one", culprit=str(folder))
    return found[0] if found else None


def load_folder(folder: Path) -> SourceSet:
    b = SourceBuilder(folder, "folder")
    ann = annotation_file(b.folder)
    if ann is None:
        raise LayoutError(f"no annotation file (looked for {', '.join(ANNOTATION_FILES)})", culprit=str(b.folder))
    if ann.suffix == ".csv":
        rows, first_line = read_csv_rows(ann, ("image", "label")), 2
    else:
        rows, first_line = _read_jsonl(ann), 1
    seen: set[str] = set()
    for n, row in enumerate(rows, start=first_line):
        where = f"{ann}:{n}" if ann.suffix == ".csv" else f"{ann}[record {n}]"
        _load_row(b, row, where, seen)
    return b.finish()


def _load_row(b: SourceBuilder, row: dict, where: str, seen: set[str]) -> None:
    rel, label = row.get("image"), str(row.get("label", "")).strip().lower()
    if not rel or not isinstance(rel, str):
        raise DataError("record has no 'image' path", culprit=where)
    image = safe_join(b.folder, rel, what="image path")
    parts = PurePosixPath(rel.replace("\\", "/")).parts
    if len(parts) < 2:
        raise DataError(f"image path {rel!r} must start with its category folder (<category>/...)", culprit=where)
    cat = parts[0]
    if row.get("category") and row["category"] != cat:
        raise DataError(f"category {row['category']!r} differs from the image path's first component "
                        f"{cat!r} (keys read <dataset>/<category>/...)", culprit=where)
    if not image.is_file():
        raise DataError(f"image {rel!r} not found", culprit=where)
    if rel in seen:
        raise DataError(f"image {rel!r} is listed twice", culprit=where)
    seen.add(rel)
    if label not in NORMAL_LABELS + ANOMALY_LABELS + _EXTRA_ANOMALY:
        raise DataError(f"unknown label {row.get('label')!r} (expected normal or anomalous)", culprit=where)
    anomalous = label not in NORMAL_LABELS
    split = str(row.get("split") or "test").lower()
    b.normals.setdefault(cat, [])
    if split in ("train", "reference"):
        if anomalous:
            raise DataError("a reference (train) image must be normal", culprit=where)
        b.add_normal(cat, image)
        return
    if split != "test":
        raise DataError(f"unknown split {row.get('split')!r} (expected test, train or reference)", culprit=where)
    mask = None
    if row.get("mask"):
        mask = safe_join(b.folder, str(row["mask"]), what="mask path")
        if not mask.exists():
            raise DataError(f"mask {row['mask']!r} not found", culprit=where)
        if not anomalous:
            b.skip(mask, f"mask of the normal image {rel} ignored")
            mask = None
    kind = row.get("defect_kind") or None
    if kind is not None and kind not in DEFECT_KINDS:
        raise DataError(f"defect_kind must be one of {DEFECT_KINDS}, got {kind!r}", culprit=where)
    meta = {k: v for k, v in row.items() if k not in _KNOWN and v not in ("", None)}
    b.add_sample(cat, image, anomalous=anomalous, defect_type=row.get("defect_type") or UNKNOWN_DEFECT,
                 mask=mask, defect_kind=kind, meta=meta)
