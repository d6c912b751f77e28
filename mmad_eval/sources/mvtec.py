"""MVTec AD layout (also the synthetic generator's ``Synth-AD`` tree, GoodsAD and MMAD's ``DS-MVTec``).

MVTec AD: ``<cat>/train/good/*.png`` (normal references), ``<cat>/test/<defect|good>/NNN.png`` (queries),
``<cat>/ground_truth/<defect>/NNN_mask.png`` (masks; ``NNN.png`` is accepted too, as in GoodsAD).
DS-MVTec (MMAD's re-annotation): ``<cat>/image/<defect|good>/NNN.png``, ``<cat>/mask/<defect>/NNN_mask.png``;
its normal references are the sibling ``MVTec-AD/<cat>/train/good`` when that folder exists.
A ``synth_meta.json`` in the dataset folder (keyed by image path relative to it) fills each sample's meta.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from .loader_base import SourceBuilder, find_mask, list_images
from .sample import SourceSet

NORMAL = "good"


def walk_mvtec_like(b: SourceBuilder, *, query_dir: str = "test", mask_dir: str = "ground_truth",
                    normal_dirs: tuple[str, ...] = ("train/good",),
                    defect_name: Callable[[str], str] = lambda d: d,
                    defect_kind: Callable[[str], str | None] = lambda d: None,
                    external_normals: Callable[[str], Path | None] = lambda c: None) -> None:
    """Walk ``<cat>/<query_dir>/<defect|good>/`` for every category folder holding ``query_dir``."""
    for cat_dir in sorted(p for p in b.folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        cat = cat_dir.name
        if not (cat_dir / query_dir).is_dir():
            b.skip(cat_dir, f"no {query_dir}/ folder: not a category of this {b.layout} layout")
            continue
        b.normals.setdefault(cat, [])
        for rel in normal_dirs:
            if (cat_dir / rel).is_dir():
                for img in list_images(cat_dir / rel, b):
                    b.add_normal(cat, img)
        ext = external_normals(cat)
        if ext is not None and ext.is_dir():
            for img in list_images(ext, b):
                b.add_normal(cat, img)
        for sub in sorted((cat_dir / query_dir).iterdir()):
            if sub.name.startswith("."):
                continue
            if not sub.is_dir():
                b.skip(sub, f"file directly in {query_dir}/ (expected <defect|good>/ folders)")
                continue
            anomalous = sub.name != NORMAL
            for img in list_images(sub, b):
                mask = None
                if anomalous:
                    mask = find_mask(cat_dir / mask_dir / sub.name, img)
                    if mask is None:
                        b.skip(img, f"no mask found in {mask_dir}/{sub.name}/ (sample kept without a mask)")
                b.add_sample(cat, img, anomalous=anomalous, defect_type=defect_name(sub.name), mask=mask,
                             defect_kind=defect_kind(sub.name))


def load_mvtec(folder: Path) -> SourceSet:
    """Load an MVTec-AD-layout dataset folder (MVTec AD, GoodsAD, the synthetic ``Synth-AD``)."""
    b = SourceBuilder(folder, "mvtec")
    walk_mvtec_like(b)
    return b.finish()


def load_ds_mvtec(folder: Path) -> SourceSet:
    """Load MMAD's DS-MVTec folder; normal references come from a sibling ``MVTec-AD/<cat>/train/good``."""
    b = SourceBuilder(folder, "ds-mvtec")
    sibling = b.folder.parent / "MVTec-AD"
    walk_mvtec_like(b, query_dir="image", mask_dir="mask", normal_dirs=(),
                    external_normals=lambda cat: sibling / cat / "train" / "good")
    return b.finish()
