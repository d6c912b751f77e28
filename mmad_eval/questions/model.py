"""The question-set model, a faithful image of MMAD's ``mmad.json`` plus our per-question metadata."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..paths import split_key  # noqa: F401  (re-exported: image keys are dataset/category/...)

# MMAD's type strings, exactly, and the seven reported subtasks.
TYPES = ("Anomaly Detection", "Defect Classification", "Defect Localization", "Defect Description",
         "Defect Analysis", "Object Classification", "Object Structure", "Object Details")
SUBTASKS = ("Anomaly Detection", "Defect Classification", "Defect Localization", "Defect Description",
            "Defect Analysis", "Object Classification", "Object Analysis")
SUBTASK_SHORT = {"Anomaly Detection": "AD", "Defect Classification": "DC", "Defect Localization": "DL",
                 "Defect Description": "DD", "Defect Analysis": "DA", "Object Classification": "OC",
                 "Object Analysis": "OA"}
LETTERS = "ABCDE"


def subtask_of(qtype: str) -> str:
    """MMAD reports Object Structure and Object Details together as Object Analysis."""
    return "Object Analysis" if qtype in ("Object Structure", "Object Details") else qtype


@dataclass
class Question:
    """One multiple-choice question about one query image."""

    image: str                      # query key, path relative to the data root
    index: int                      # position in the image's conversation
    type: str                       # one of TYPES
    text: str
    options: dict[str, str]         # ordered letter -> text
    answer: str                     # correct letter
    provenance: dict = field(default_factory=dict)  # rule, annotation fields, seed (ours); {} for MMAD's
    extra: dict = field(default_factory=dict)       # unknown keys of the source record, kept for round trips

    @property
    def qid(self) -> str:
        return f"{self.image}#{self.index}"

    @property
    def dataset(self) -> str:
        return split_key(self.image)[0]

    @property
    def category(self) -> str:
        return split_key(self.image)[1]

    @property
    def subtask(self) -> str:
        return subtask_of(self.type)


@dataclass
class ImageEntry:
    """One query image of the question set and its conversation (MMAD's per-key record)."""

    key: str
    questions: list[Question]
    similar_templates: list[str] = field(default_factory=list)
    random_templates: list[str] = field(default_factory=list)
    mask_path: str = ""
    image_path: str | None = None   # some MMAD copies carry it (relative to <dataset>/<category>/)
    extra: dict = field(default_factory=dict)

    @property
    def is_normal(self) -> bool:
        """MMAD's rule: a key containing 'good' is a normal image."""
        return "good" in self.key


@dataclass
class QuestionSet:
    entries: dict[str, ImageEntry]          # ordered as in the file
    sha256: str = ""                        # of the file it was read from
    source: str = ""                        # the file's path, for messages
    git_blob: str = ""                      # git's blob id of the file (recognises MMAD's GitHub copy)

    def questions(self):
        for entry in self.entries.values():
            yield from entry.questions

    def __len__(self) -> int:
        return sum(len(e.questions) for e in self.entries.values())
