"""Add Defect Grounding questions (see :mod:`mmad_eval.questions.grounding`) to a question set.

Each defective image whose mask has a blob gets one grounding question, appended after its multiple-choice
questions (so their indices, and MMAD's question numbering, stay as they were). Normal images get none:
"where is the defect" has no box to score there.
"""
from __future__ import annotations

from pathlib import Path

from ...errors import DataError
from ...paths import resolve_mask, safe_join
from ...sources.imagecheck import image_size, read_mask
from ..grounding import GROUNDING, GroundingSettings, GroundingTruth, mask_boxes, question_text
from ..model import Question, QuestionSet


def grounding_question(entry, root: Path, settings: GroundingSettings) -> Question | None:
    """The entry's grounding question; None for an image without a mask or with an empty one."""
    mask_file = resolve_mask(root, entry)
    if mask_file is None:
        return None
    size = image_size(safe_join(root, entry.key, what="query image"))
    mask = read_mask(mask_file)
    if mask.shape != (size[1], size[0]):
        raise DataError(f"mask size {mask.shape[1]}x{mask.shape[0]} differs from its image ({size[0]}x{size[1]})",
                        culprit=str(mask_file))
    boxes = mask_boxes(mask, settings.speck_share, settings.max_boxes)
    if not boxes:
        return None
    truth = GroundingTruth(settings.box_format, size, tuple(boxes), entry.mask_path)
    return Question(image=entry.key, index=len(entry.questions), type=GROUNDING,
                    text=question_text(settings.box_format, size), options={}, answer=truth.to_json(),
                    provenance={"rule": "grounding.mask_boxes", **settings.as_dict()})


def add_grounding(qs: QuestionSet, root: Path, settings: GroundingSettings, *, keep_letters: bool = True) -> int:
    """Append a grounding question to each defective entry (in place); with ``keep_letters`` False the
    multiple-choice questions are dropped and entries left without questions removed. Returns how many
    grounding questions were added."""
    added = 0
    for key in list(qs.entries):
        entry = qs.entries[key]
        if not keep_letters:
            entry.questions = []
        q = grounding_question(entry, Path(root), settings)
        if q is not None:
            q.index = len(entry.questions)
            entry.questions.append(q)
            added += 1
        if not entry.questions:
            del qs.entries[key]
    return added
