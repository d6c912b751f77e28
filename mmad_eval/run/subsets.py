"""Named question subsets from papers that report on part of MMAD, and subset files, so such a number can be
reproduced and the report says which part was scored.

A subset keeps an image (all its questions) unless its dataset or ``dataset/category`` is excluded; a subset
file lists what to keep: image keys or question ids (``key#index``), one per line or as a JSON list (or
``{"name": ..., "questions"|"images": [...]}``). Every entry must be in the question file.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError, DataError
from ..inputfile import read_input
from ..questions.model import Question, QuestionSet


@dataclass(frozen=True)
class Subset:
    name: str
    description: str
    exclude_datasets: tuple[str, ...] = ()
    exclude_categories: tuple[str, ...] = ()     # "dataset/category"
    keep: frozenset[str] | None = None           # image keys or question ids (a subset file)
    file: str = ""
    sha256: str = ""

    def keeps(self, q: Question) -> bool:
        if q.dataset in self.exclude_datasets or f"{q.dataset}/{q.category}" in self.exclude_categories:
            return False
        return self.keep is None or q.image in self.keep or q.qid in self.keep

    def describe(self) -> dict:
        """What the run record keeps (a file's entries by hash and count, not listed)."""
        d = {"name": self.name, "description": self.description}
        if self.exclude_datasets or self.exclude_categories:
            d["excluded"] = list(self.exclude_datasets) + list(self.exclude_categories)
        if self.keep is not None:
            d.update(file=self.file, sha256=self.sha256, entries=len(self.keep))
        return d


SUBSETS = {s.name: s for s in (
    Subset("triad", "Triad's MMAD evaluation: without VisA and without MVTec-LOCO "
                    "juice_bottle", exclude_datasets=("VisA",), exclude_categories=("MVTec-LOCO/juice_bottle",)),
    Subset("no-visa", "MMAD without VisA", exclude_datasets=("VisA",)),
)}


def named_subset(name: str) -> Subset:
    if name not in SUBSETS:
        raise ConfigError(f"no subset of that name; known: {', '.join(SUBSETS)} (or --subset-file)", culprit=name)
    return SUBSETS[name]


def subset_from_file(path: Path) -> Subset:
    """A subset file: image keys or question ids, one per line, or JSON (a list, or an object with a name)."""
    path = Path(path)
    raw = read_input(path, "subset file")
    text = raw.decode("utf-8", errors="replace")
    name = path.stem
    if text.lstrip().startswith(("[", "{")):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise DataError(f"not valid JSON (line {e.lineno}): {e.msg}", culprit=str(path)) from None
        if isinstance(data, dict):
            name = str(data.get("name") or name)
            data = data.get("questions", data.get("images"))
        if not isinstance(data, list) or not all(isinstance(x, str) for x in data):
            raise DataError("expected a list of image keys or question ids", culprit=str(path))
        entries = data
    else:
        entries = [line.strip() for line in text.splitlines() if line.strip()]
    if not entries:
        raise DataError("the subset file lists nothing", culprit=str(path))
    return Subset(name, f"entries of {path.name}", keep=frozenset(entries), file=path.name,
                  sha256=hashlib.sha256(raw).hexdigest())


def check_subset(subset: Subset, questions: QuestionSet) -> None:
    """Every entry of a subset file must be in the question file (else the number is not the paper's)."""
    if subset.keep is None:
        return
    known = set(questions.entries) | {q.qid for q in questions.questions()}
    missing = sorted(subset.keep - known)
    if missing:
        raise DataError(f"{len(missing)} of its {len(subset.keep)} entries are not in the question file "
                        f"(first: {missing[0]!r})", culprit=subset.file)
