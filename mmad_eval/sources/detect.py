"""Load any supported dataset folder, detecting its layout (or taking it by name)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from ..errors import LayoutError
from .folder import ANNOTATION_FILES, load_folder
from .loco import load_loco
from .mvtec import load_ds_mvtec, load_mvtec
from .sample import SourceSet
from .visa import SPLIT_CSV, load_visa

LOADERS: dict[str, Callable[[Path], SourceSet]] = {
    "mvtec": load_mvtec, "ds-mvtec": load_ds_mvtec, "visa": load_visa, "loco": load_loco, "folder": load_folder}
LOOKED_FOR = (f"{' or '.join(ANNOTATION_FILES)} (folder); {SPLIT_CSV} (visa); <category>/test/ with "
              "logical_anomalies/ or structural_anomalies/ (loco); <category>/image/ (ds-mvtec); "
              "<category>/test/{good,bad} (visa); <category>/test/<defect|good>/ (mvtec)")
_LOCO_DIRS = {"logical_anomalies", "structural_anomalies"}


def detect_layout(folder: Path) -> str:
    """The layout name of a dataset folder; LayoutError naming the folder and what was looked for."""
    folder = Path(folder)
    if not folder.is_dir():
        raise LayoutError("dataset folder not found", culprit=str(folder))
    if any((folder / n).is_file() for n in ANNOTATION_FILES):
        return "folder"
    if (folder / SPLIT_CSV).is_file():
        return "visa"
    cats = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")]
    tests = [c / "test" for c in cats if (c / "test").is_dir()]
    if tests:
        subs = {s.name for t in tests for s in t.iterdir() if s.is_dir()}
        if subs & _LOCO_DIRS:
            return "loco"
        if subs and subs <= {"good", "bad"}:
            return "visa"
        return "mvtec"
    if any((c / "image").is_dir() for c in cats):
        return "ds-mvtec"
    hint = ""
    if {p.name for p in cats} & {"test", "train", "ground_truth", "image"}:
        hint = " (this looks like one category's folder: pass the dataset folder that holds the categories)"
    raise LayoutError(f"unknown dataset layout{hint}; looked for {LOOKED_FOR}", culprit=str(folder))


def load_source(path: Path, layout: str | None = None) -> SourceSet:
    """Load a dataset folder (``/data/MVTec-AD``) as a SourceSet rooted at its parent.

    ``layout``: one of ``mvtec``, ``ds-mvtec``, ``visa``, ``loco``, ``folder``; None detects it.
    """
    name = layout or detect_layout(path)
    if name not in LOADERS:
        raise LayoutError(f"unknown layout {name!r}; choose one of {', '.join(LOADERS)}", culprit=str(path))
    return LOADERS[name](Path(path))
