"""Cheap image checks for loaders (header only, no full decode) and reading of (multi-file) masks."""
from __future__ import annotations

import warnings
from pathlib import Path

from ..errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def is_image_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES


def image_size(path: Path, *, what: str = "image") -> tuple[int, int]:
    """(width, height) from the file header; DataError naming the file when missing or unreadable."""
    from ..imageio import open_image

    path = Path(path)
    if not path.exists():
        raise DataError(f"{what} file not found", culprit=str(path))
    with open_image(path, what=what) as im:
        return im.size


def mask_files(path: Path) -> list[Path]:
    """The mask files behind a mask path: the file itself, or every image in a mask folder (MVTec LOCO)."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if is_image_file(p))
        if not files:
            raise DataError("mask folder holds no image files", culprit=str(path))
        return files
    return [path]


def check_mask(image: Path, mask: Path) -> tuple[int, int]:
    """Raise DataError unless every file of ``mask`` exists, is readable and has the image's size."""
    size = image_size(image)
    for m in mask_files(mask):
        msize = image_size(m, what="mask")
        if msize != size:
            raise DataError(f"mask size {msize[0]}x{msize[1]} differs from its image {image.name} "
                            f"({size[0]}x{size[1]})", culprit=str(m))
    return size


def read_mask(path: Path):
    """A boolean numpy mask (True = defect). A mask folder (MVTec LOCO: one file per defect region) is merged
    by union, so callers never need to know whether a sample's ``mask`` names a file or a folder."""
    import numpy as np

    from ..imageio import open_image

    merged = None
    for f in mask_files(Path(path)):
        with open_image(f, what="mask") as im:
            arr = np.asarray(im.convert("L")) > 0
        if merged is not None and arr.shape != merged.shape:
            raise DataError("mask files of one folder differ in size", culprit=str(f))
        merged = arr if merged is None else (merged | arr)
    return merged


def warn_skipped(dataset: str, skipped: list[tuple[str, str]]) -> None:
    """One warning counting what a loader skipped (the list itself is kept in ``SourceSet.skipped``)."""
    if skipped:
        first = "; ".join(f"{p}: {r}" for p, r in skipped[:3])
        more = f" (and {len(skipped) - 3} more)" if len(skipped) > 3 else ""
        warnings.warn(f"{dataset}: {len(skipped)} item(s) skipped, see SourceSet.skipped: {first}{more}",
                      stacklevel=3)
