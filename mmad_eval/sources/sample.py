"""The annotated-sample record every source (dataset layout or synthetic generator) produces."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class AnnotatedSample:
    """One query image with its annotation. Paths are POSIX paths relative to the source root.

    ``image`` doubles as the MMAD question-file key, so its first component is the dataset name and its
    second the category (e.g. ``"synth/bottle/test/broken/003.png"``).
    """

    image: str
    dataset: str
    category: str
    is_anomalous: bool
    defect_type: str | None = None      # None for normal images; e.g. "scratch"
    mask: str | None = None             # pixel mask (non-zero = defect), None for normal images
    defect_kind: str | None = None      # "structural" or "logical" where the layout says so
    meta: dict = field(default_factory=dict, compare=False)  # e.g. bbox, location phrase from the generator

    @property
    def label(self) -> str:
        return "anomalous" if self.is_anomalous else "normal"


@dataclass
class SourceSet:
    """What a loader returns: the root, the query samples, the normal reference pool and what was skipped."""

    root: Path
    dataset: str
    samples: list[AnnotatedSample]
    normals: dict[str, list[str]]              # category -> normal reference images (train/good), relative
    knowledge_path: Path | None = None         # a knowledge file shipped with the source, if any
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason): never skip silently

    def categories(self) -> list[str]:
        return sorted({s.category for s in self.samples})
