"""Path safety: every path read from a data file is resolved inside its data root."""
from __future__ import annotations

from pathlib import Path, PurePosixPath

from .errors import DataError


def safe_join(root: Path, relative: str, *, what: str = "path") -> Path:
    """Join a data-file path onto ``root``; refuse absolute paths and ones that escape via ``..``."""
    if not isinstance(relative, str) or not relative:
        raise DataError(f"empty or non-string {what}", culprit=repr(relative))
    pure = PurePosixPath(relative.replace("\\", "/"))
    if pure.is_absolute() or (len(relative) > 1 and relative[1] == ":"):
        raise DataError(f"{what} must be relative to the data root {root}", culprit=relative)
    if ".." in pure.parts:
        raise DataError(f"{what} escapes the data root {root}", culprit=relative)
    full = (root / Path(*pure.parts)).resolve()
    base = root.resolve()
    if full != base and base not in full.parents:
        raise DataError(f"{what} escapes the data root {root} (via a link)", culprit=relative)
    return full


def relative_key(root: Path, path: Path) -> str:
    """The POSIX path of ``path`` relative to ``root`` (the form used as question-file keys)."""
    return path.resolve().relative_to(root.resolve()).as_posix()


def split_key(key: str) -> tuple[str, str]:
    """(dataset, category) from an image key: its first and second path components."""
    parts = key.replace("\\", "/").split("/")
    return parts[0], (parts[1] if len(parts) > 1 else "")


def resolve_mask(root: Path, entry) -> Path | None:
    """The mask file (or MVTec LOCO mask folder) of a question-file entry (``.key``, ``.mask_path``); MMAD
    gives it relative to the root or to ``<dataset>/<category>/``: both are accepted. None when the entry has
    no mask path (normal images); a DataError when it names nothing or escapes the root."""
    if not entry.mask_path:
        return None
    direct = safe_join(root, entry.mask_path, what="mask path")
    if direct.exists():
        return direct
    dataset, category = split_key(entry.key)
    nested = safe_join(root, f"{dataset}/{category}/{entry.mask_path}", what="mask path")
    if nested.exists():
        return nested
    raise DataError(f"mask not found (tried {direct} and {nested})", culprit=entry.mask_path)
