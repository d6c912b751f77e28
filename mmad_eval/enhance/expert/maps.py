"""Bring your own detector: anomaly maps and image scores written by any detector, read as an expert.

Layout of a maps folder ``DIR`` (``--expert maps:DIR``, ``--model detector:DIR``)::

    DIR/scores.csv                    image,score[,threshold]
    DIR/maps/<image key>.npy          one map per query image: .npy, .tiff/.tif or single-channel .png
                                      (the key's own extension replaced; ``DIR/<image key>.<ext>`` also works)

* ``image``: the query key as in the question file (``MVTec-AD/bottle/test/broken_large/000.png``), or
  any path ending with it (an absolute path on the detector's machine). Aliases: ``image_path``, ``path``.
* ``score``: the image-level anomaly score, higher = more anomalous (aliases: ``pred_score``,
  ``anomaly_score``). Missing: the map's maximum.
* ``threshold``: the decision threshold in the score's units, per row; default 0.5 (anomalib's normalised
  scores). The verdict is ``score >= threshold``.
* Maps may have any size: they are resized (bilinear) to the query image. ``.npy`` and ``.tiff`` hold raw
  values; an 8-bit PNG is read as value / 255, a 16-bit one as value / 65535. Colour heatmaps are refused
  (their colours cannot be read back as scores). An image with a score but no map gets an empty map (no
  marked region).

:func:`write_maps` writes this layout from arrays; :func:`from_anomalib` from anomalib's
``Engine.predict`` output (batches with ``image_path``, ``pred_score``, ``anomaly_map``).
"""
from __future__ import annotations

import csv
import hashlib
import io
import os
from pathlib import Path
from typing import Iterable

import numpy as np
from PIL import Image

from ...atomic_write import write_bytes
from ...errors import ConfigError, DataError
from ...imageio import MAX_PIXELS, open_image
from ...sources.imagecheck import image_size
from .result import ExpertResult, boxes_and_location

MAP_EXTENSIONS = (".npy", ".tiff", ".tif", ".png")
DEFAULT_THRESHOLD = 0.5
_IMAGE_COLS = ("image", "image_path", "path")
_SCORE_COLS = ("score", "pred_score", "anomaly_score")


def _pick(row: dict, names: tuple[str, ...]) -> str | None:
    for n in names:
        v = row.get(n)
        if v not in (None, ""):
            return v
    return None


def _float(value: str, where: str) -> float:
    try:
        v = float(value)
    except ValueError:
        raise DataError(f"not a number: {value!r}", culprit=where) from None
    if not np.isfinite(v):
        raise DataError(f"not a finite number: {value!r}", culprit=where)
    return v


class MapsFolder:
    """Reads one maps folder; scores are parsed once, maps on demand."""

    def __init__(self, folder: Path):
        self.dir = Path(folder)
        if not self.dir.is_dir():
            raise ConfigError("maps folder not found", culprit=str(self.dir))
        self.csv = self.dir / "scores.csv"
        self.rows: dict[str, tuple[float | None, float]] = {}     # normalised path -> (score, threshold)
        if self.csv.is_file():
            self._read_csv()
        self._by_key: dict[str, tuple[float | None, float] | None] = {}

    def _read_csv(self) -> None:
        with open(self.csv, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            cols = [c.strip().lower() for c in (reader.fieldnames or [])]
            if not any(c in cols for c in _IMAGE_COLS):
                raise DataError(f"no image column (one of {', '.join(_IMAGE_COLS)})", culprit=str(self.csv))
            for n, raw in enumerate(reader, start=2):
                row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
                where = f"{self.csv}:{n}"
                image = _pick(row, _IMAGE_COLS)
                if not image:
                    raise DataError("empty image path", culprit=where)
                score = _pick(row, _SCORE_COLS)
                thr = row.get("threshold")
                self.rows[image.replace("\\", "/")] = (_float(score, where) if score is not None else None,
                                                       _float(thr, where) if thr else DEFAULT_THRESHOLD)

    def fingerprint(self) -> str:
        """SHA-256 of scores.csv and the map files' names, sizes and times (changes when the maps do)."""
        h = hashlib.sha256(self.csv.read_bytes() if self.csv.is_file() else b"")
        for root, _, files in sorted(os.walk(self.dir)):
            for name in sorted(files):
                p = Path(root) / name
                if p.suffix.lower() in MAP_EXTENSIONS:
                    st = p.stat()
                    h.update(f"{p.relative_to(self.dir)}:{st.st_size}:{st.st_mtime_ns};".encode())
        return h.hexdigest()

    def score_row(self, key: str) -> tuple[float | None, float] | None:
        """(score, threshold) of a query key: the CSV row whose path is the key or ends with /key."""
        if key not in self._by_key:
            hit = self.rows.get(key)
            if hit is None:
                hit = next((v for p, v in self.rows.items() if p.endswith("/" + key)), None)
            self._by_key[key] = hit
        return self._by_key[key]

    def map_file(self, key: str) -> Path | None:
        stem = Path(key).with_suffix("")
        for base in (self.dir / "maps", self.dir):
            for ext in MAP_EXTENSIONS:
                p = base / f"{stem}{ext}"
                if p.is_file():
                    return p
        return None

    def result(self, data_root: Path, key: str) -> ExpertResult:
        """The folder's analysis of a query image, its map resized to the image."""
        width, height = image_size(Path(data_root) / key)
        path = self.map_file(key)
        row = self.score_row(key)
        if path is None and (row is None or row[0] is None):
            raise DataError(f"no anomaly map (maps/{Path(key).with_suffix('')}.npy|.tiff|.png) and no score in "
                            f"scores.csv for this image", culprit=f"{self.dir}: {key}")
        amap = read_map(path, (height, width)) if path is not None else np.zeros((height, width), np.float32)
        score = row[0] if row is not None and row[0] is not None else float(amap.max())
        threshold = row[1] if row is not None else DEFAULT_THRESHOLD
        boxes, location = boxes_and_location(amap)
        return ExpertResult(kind="maps", score=float(score), threshold=float(threshold),
                            normal_range=(float("nan"), float("nan")), verdict=bool(score >= threshold),
                            anomaly_map=amap, boxes=boxes, location=location, references=0,
                            map_threshold=float(threshold), variant=f"maps:{self.dir.name}")


def read_map(path: Path, shape: tuple[int, int]) -> np.ndarray:
    """A map file as float32 H x W, resized (bilinear) to ``shape`` = (height, width). What is not a map of
    real numbers, H x W with both sides at least 2, within the image pixel limit, is one DataError naming
    the file (read from its header first: a huge map is never loaded)."""
    if path.suffix.lower() == ".npy":
        arr = _read_npy(path)
    else:
        with open_image(path, what="anomaly map") as im:
            if im.mode in ("RGB", "RGBA", "P", "CMYK", "LA", "YCbCr", "HSV", "LAB", "PA", "RGBX"):
                raise DataError(f"a {im.mode} image is a colour heatmap, not scores; write one channel "
                                "(8/16-bit PNG, float TIFF or .npy)", culprit=str(path))
            _check_map_shape(im.size[::-1], path)
            arr = np.asarray(im)
        if path.suffix.lower() == ".png":
            arr = arr.astype(np.float32) / (65535.0 if arr.dtype != np.uint8 else 255.0)
    arr = np.asarray(arr, dtype=np.float32)
    if not np.isfinite(arr).all():
        raise DataError("anomaly map holds NaN or infinite values", culprit=str(path))
    if arr.shape != shape:
        arr = np.asarray(Image.fromarray(arr, mode="F").resize((shape[1], shape[0]), Image.Resampling.BILINEAR))
    return arr.astype(np.float32)


def _read_npy(path: Path) -> np.ndarray:
    """A .npy map: real numbers (bool, integer or float), 2-D once single channels are dropped."""
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)      # the header only, until read below
    except (OSError, ValueError, EOFError) as e:
        raise DataError(f"unreadable anomaly map ({e})", culprit=str(path)) from None
    if not isinstance(arr, np.ndarray):
        raise DataError("an anomaly map must be one array (.npy), not an archive", culprit=str(path))
    if arr.dtype.fields is not None or arr.dtype.kind not in "biuf":
        raise DataError(f"an anomaly map must hold real numbers; this one holds {arr.dtype} values",
                        culprit=str(path))
    shape = tuple(n for n in arr.shape if n != 1) if arr.ndim > 2 else arr.shape
    _check_map_shape(shape, path)
    try:
        return np.array(arr, dtype=np.float32).reshape(shape)
    except (OSError, ValueError) as e:
        raise DataError(f"unreadable anomaly map ({e})", culprit=str(path)) from None


def _check_map_shape(shape: tuple, path: Path) -> None:
    if len(shape) != 2 or min(shape) < 2:
        raise DataError(f"an anomaly map must be 2-D, H x W with both sides at least 2; got shape {tuple(shape)}",
                        culprit=str(path))
    if shape[0] * shape[1] > MAX_PIXELS:
        raise DataError(f"anomaly map of {shape[1]}x{shape[0]} values is over the {MAX_PIXELS:,}-pixel limit",
                        culprit=str(path))


# -- writing the layout ---------------------------------------------------------------------------------
def write_maps(out_dir: Path, items: Iterable[tuple[str, float | None, np.ndarray | None]],
               threshold: float | None = None) -> int:
    """Write ``(image key, score, map)`` items in the maps-folder layout (maps as .npy); returns the count."""
    out_dir = Path(out_dir)
    lines = io.StringIO()
    w = csv.writer(lines, lineterminator="\n")
    w.writerow(["image", "score"] + (["threshold"] if threshold is not None else []))
    n = 0
    for key, score, amap in items:
        key = key.replace("\\", "/").lstrip("/")
        if ".." in Path(key).parts:
            raise DataError("image key escapes the maps folder", culprit=key)
        if amap is not None:
            buf = io.BytesIO()
            np.save(buf, np.squeeze(np.asarray(amap, dtype=np.float32)))
            write_bytes(out_dir / "maps" / f"{Path(key).with_suffix('')}.npy", buf.getvalue())
        w.writerow([key, "" if score is None else f"{float(score):.9g}"]
                   + ([f"{threshold:.9g}"] if threshold is not None else []))
        n += 1
    write_bytes(out_dir / "scores.csv", lines.getvalue().encode())
    return n


def _numpy(x) -> np.ndarray:
    if hasattr(x, "detach"):                    # a torch tensor
        x = x.detach().float().cpu().numpy()
    return np.asarray(x)


def from_anomalib(predictions, data_root: Path, out_dir: Path, threshold: float | None = None) -> int:
    """Convert anomalib's ``Engine.predict`` output (an iterable of batches, each with ``image_path``,
    ``pred_score`` and ``anomaly_map``, as attributes or dict keys) into a maps folder; image paths are
    made relative to ``data_root`` (the question file's root)."""
    root = Path(data_root).resolve()

    def get(batch, name):
        return batch.get(name) if isinstance(batch, dict) else getattr(batch, name, None)

    def items():
        for batch in predictions:
            paths = get(batch, "image_path")
            if paths is None:
                raise DataError("a prediction batch has no image_path", culprit="anomalib predictions")
            paths = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
            scores, maps = get(batch, "pred_score"), get(batch, "anomaly_map")
            scores = _numpy(scores).reshape(-1) if scores is not None else [None] * len(paths)
            maps = _numpy(maps).reshape(len(paths), *_numpy(maps).shape[-2:]) if maps is not None else [None] * len(paths)
            for p, s, m in zip(paths, scores, maps):
                p = Path(p).resolve()
                try:
                    key = p.relative_to(root).as_posix()
                except ValueError:
                    raise DataError("image is not under the data root", culprit=str(p)) from None
                yield key, None if s is None else float(s), m

    return write_maps(out_dir, items(), threshold)
