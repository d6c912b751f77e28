"""Shared plumbing of the dataset-layout loaders: keys, checks, skipped items, knowledge and generator metadata.

Every loader is given a dataset folder (e.g. ``/data/MVTec-AD``) and returns a :class:`SourceSet` whose
``root`` is the folder's parent and whose ``dataset`` is the folder's name, so each key reads
``<dataset>/<category>/...`` (MMAD's key convention).
"""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import DataError, LayoutError
from ..imageio import BadImageError
from ..inputfile import parse_json, read_input
from .imagecheck import check_mask, image_size, is_image_file, warn_skipped
from .sample import AnnotatedSample, SourceSet

KNOWLEDGE_NAMES = ("knowledge.json", "domain_knowledge.json")
SYNTH_META = "synth_meta.json"
DEFECT_KINDS = ("structural", "logical")


def find_knowledge(folder: Path) -> Path | None:
    """A knowledge file shipped in the dataset folder or its parent (ours first, then MMAD's)."""
    for where in (folder, folder.parent):
        for name in KNOWLEDGE_NAMES:
            if (where / name).is_file():
                return where / name
    return None


def _load_synth_meta(folder: Path) -> dict[str, dict]:
    path = folder / SYNTH_META
    if not path.is_file():
        return {}
    data = parse_json(read_input(path, "synth_meta.json"), str(path))
    if isinstance(data, dict) and isinstance(data.get("images"), dict):
        data = data["images"]   # the generator's manifest: {"format", "settings", ..., "images": {...}}
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise DataError("expected an object keyed by image path, each value an object", culprit=str(path))
    prefix = f"{folder.name}/"   # keys may be relative to the dataset folder or to the root
    return {(k[len(prefix):] if k.startswith(prefix) else k): v for k, v in data.items()}


class SourceBuilder:
    """Collects samples, normal references and skipped items for one dataset folder."""

    def __init__(self, folder: Path, layout: str):
        folder = Path(os.path.abspath(folder))   # '..' folded, links kept: the folder's own name is the dataset
        if not folder.is_dir():
            raise LayoutError(f"{layout} dataset folder not found", culprit=str(folder))
        self.folder = folder
        self.layout = layout
        self.dataset = folder.name
        self.samples: list[AnnotatedSample] = []
        self.normals: dict[str, list[str]] = {}
        self.skipped: list[tuple[str, str]] = []
        self._meta = _load_synth_meta(folder)
        self._meta_used: set[str] = set()

    def key(self, path: Path) -> str:
        """The key of a file under the root (the dataset folder's parent): ``<dataset>/<category>/...``."""
        return self.local(path).relative_to(self.folder.parent).as_posix()

    def local(self, path: Path) -> Path:
        """``path`` spelled under ``self.folder``: a path ``safe_join`` resolved through links is mapped back."""
        path = Path(path)
        if path.is_relative_to(self.folder):
            return path
        try:
            return self.folder / path.relative_to(self.folder.resolve())
        except ValueError:
            return path

    def skip(self, path: Path, reason: str) -> None:
        self.skipped.append((self.key(path) if Path(path).is_absolute() else str(path), reason))

    def add_normal(self, category: str, path: Path) -> None:
        try:
            image_size(path)
        except BadImageError as e:           # one bad file is skipped (and listed), not the whole source
            self.skip(path, str(e))
            return
        self.normals.setdefault(category, []).append(self.key(path))

    def add_sample(self, category: str, image: Path, *, anomalous: bool, defect_type: str | None = None,
                   mask: Path | None = None, defect_kind: str | None = None, meta: dict | None = None) -> None:
        """Check the image header (and the mask's size against it), then record the sample."""
        try:
            if mask is not None:
                check_mask(image, mask)
            else:
                image_size(image)
        except BadImageError as e:           # one bad file is skipped (and listed), not the whole source
            self.skip(image, str(e))
            return
        rel = self.local(image).relative_to(self.folder).as_posix()
        extra = dict(meta or {})
        if rel in self._meta:
            extra.update(self._meta[rel])
            self._meta_used.add(rel)
        if defect_kind is None and anomalous and extra.get("kind") in DEFECT_KINDS:
            defect_kind = extra["kind"]
        self.samples.append(AnnotatedSample(
            image=self.key(image), dataset=self.dataset, category=category, is_anomalous=anomalous,
            defect_type=defect_type if anomalous else None,
            mask=self.key(mask) if (mask is not None and anomalous) else None,
            defect_kind=defect_kind if anomalous else None, meta=extra))

    def finish(self) -> SourceSet:
        for rel in sorted(set(self._meta) - self._meta_used):
            self.skipped.append((f"{self.dataset}/{SYNTH_META}[{rel!r}]", "metadata for an image not in the set"))
        if not self.samples:
            raise LayoutError(f"no query images found in this {self.layout} layout", culprit=str(self.folder))
        warn_skipped(self.dataset, self.skipped)
        return SourceSet(root=self.folder.parent, dataset=self.dataset,
                         samples=sorted(self.samples, key=lambda s: s.image),
                         normals={c: sorted(v) for c, v in sorted(self.normals.items())},
                         knowledge_path=find_knowledge(self.folder), skipped=list(self.skipped))


def list_images(folder: Path, builder: SourceBuilder) -> list[Path]:
    """Image files of a folder, sorted; anything else in it is recorded as skipped (never dropped silently)."""
    out = []
    for p in sorted(folder.iterdir()):
        if is_image_file(p):
            out.append(p)
        elif p.name.startswith("."):
            continue  # hidden files (.DS_Store, editor swap files) are not data
        else:
            builder.skip(p, "not an image file" if p.is_file() else "unexpected folder")
    return out


def find_mask(mask_dir: Path, image: Path) -> Path | None:
    """The mask of ``image`` inside ``mask_dir``: ``<stem>_mask.*``, ``<stem>.*`` or a ``<stem>/`` folder."""
    if not mask_dir.is_dir():
        return None
    stem = image.stem
    for name in (f"{stem}_mask.png", f"{stem}.png", f"{stem}_mask{image.suffix}", f"{stem}{image.suffix}"):
        if (mask_dir / name).is_file():
            return mask_dir / name
    folder = mask_dir / stem
    if folder.is_dir():  # MVTec LOCO: one file per defect region; a lone file is named directly
        files = [p for p in folder.iterdir() if is_image_file(p)]
        return files[0] if len(files) == 1 else folder
    return None
