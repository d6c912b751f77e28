"""Defect Grounding: a generated question that asks for the defect's bounding box(es), not a letter.

A grounding question is a :class:`Question` of type ``GROUNDING`` with no options. Its ``answer`` is the
truth as compact JSON: ``{"format": "pixels"|"norm1000", "size": [W, H], "boxes": [[x1, y1, x2, y2], ...],
"mask": "<mask path>"}`` with the boxes in PIXELS of the query image whatever the asked format (the
scorer converts a reply from the asked format). Boxes are half-open pixel edges: a blob covering columns
3..7 has x1 = 3, x2 = 8, so width = x2 - x1 and area = width x height.

Blob rule (:func:`mask_boxes`, the same for the truth and for the experts' maps): 8-connected components
of the mask; a component smaller than ``speck_share`` of the largest one's area is a speck and ignored
(the largest is always kept); boxes that overlap or touch are merged into their union, repeatedly; the
``max_boxes`` largest remain (a few dozen specks must not ask a model for dozens of boxes).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

from ..errors import ConfigError, DataError, quote

GROUNDING = "Defect Grounding"
GROUNDING_SHORT = "DG"
BOX_FORMATS = ("pixels", "norm1000")
_EIGHT = np.ones((3, 3), bool)

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class GroundingSettings:
    """How grounding questions are made; recorded in every grounding question's provenance."""

    box_format: str = "pixels"       # the format the question asks for: pixels, or 0-1000 normalised
    speck_share: float = 0.05        # a component under this share of the largest one's area is ignored
    max_boxes: int = 8               # at most this many boxes (the largest after merging)

    def __post_init__(self):
        if self.box_format not in BOX_FORMATS:
            raise ConfigError(f"unknown box format {self.box_format!r}; choose one of {', '.join(BOX_FORMATS)}",
                              culprit="--box-format")
        if not 0 <= self.speck_share < 1 or self.max_boxes < 1:
            raise ConfigError("speck_share must be in [0, 1) and max_boxes >= 1", culprit="GroundingSettings")

    def as_dict(self) -> dict:
        return asdict(self)


def _touch(a: list[int], b: list[int]) -> bool:
    return a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]


def _merge_touching(boxes: list[list[int]]) -> list[list[int]]:
    boxes = [list(b) for b in boxes]
    merged = True
    while merged:
        merged = False
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                if _touch(boxes[i], boxes[j]):
                    a, b = boxes[i], boxes.pop(j)
                    boxes[i] = [min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])]
                    merged = True
                    break
            if merged:
                break
    return boxes


def mask_boxes(mask: np.ndarray, speck_share: float = 0.05, max_boxes: int = 8) -> list[tuple[int, int, int, int]]:
    """Half-open pixel boxes ``(x1, y1, x2, y2)`` of a boolean mask's blobs by the module's blob rule,
    largest first; [] for an empty mask."""
    mask = np.asarray(mask, bool)
    labels, n = ndimage.label(mask, structure=_EIGHT)
    if n == 0:
        return []
    sizes = ndimage.sum_labels(mask, labels, index=np.arange(1, n + 1))
    keep = sizes >= speck_share * sizes.max()
    boxes = [[sx.start, sy.start, sx.stop, sy.stop]
             for (sy, sx), kept in zip(ndimage.find_objects(labels), keep) if kept]
    boxes = _merge_touching(boxes)
    boxes.sort(key=lambda b: (-(b[2] - b[0]) * (b[3] - b[1]), b[1], b[0]))
    return [tuple(int(v) for v in b) for b in boxes[:max_boxes]]


def to_format(box, fmt: str, size: tuple[int, int]) -> list[int]:
    """A pixel box in the asked format (integers)."""
    if fmt == "pixels":
        return [int(round(v)) for v in box]
    w, h = size
    return [int(round(1000 * box[0] / w)), int(round(1000 * box[1] / h)),
            int(round(1000 * box[2] / w)), int(round(1000 * box[3] / h))]


def from_format(box, fmt: str, size: tuple[int, int]) -> Box:
    """A box given in ``fmt`` as pixel coordinates (floats)."""
    if fmt == "pixels":
        return tuple(float(v) for v in box)
    w, h = size
    return (box[0] * w / 1000, box[1] * h / 1000, box[2] * w / 1000, box[3] * h / 1000)


_FORMAT_TEXT = {
    "pixels": "in pixels of the query image ({w} x {h} pixels; x1, y1 is the top-left corner of the box and "
              "x2, y2 its bottom-right corner, with 0, 0 the image's top-left corner)",
    "norm1000": "in coordinates normalised to 0-1000 (0 is the left or top edge of the query image, 1000 its "
                "right or bottom edge; x1, y1 is the top-left corner of the box and x2, y2 its bottom-right)",
}


def question_text(fmt: str, size: tuple[int, int]) -> str:
    return ("Locate every defect in the query image. Give one bounding box per defect region as JSON "
            "[x1, y1, x2, y2] " + _FORMAT_TEXT[fmt].format(w=size[0], h=size[1]) + ". Answer with a JSON list "
            "of boxes only, for example [[x1, y1, x2, y2]], or [] if there is no defect.")


@dataclass(frozen=True)
class GroundingTruth:
    """A grounding question's answer: the asked format, the image size and the true pixel boxes. ``shown`` is
    the size of the query image as a run sent it (a resize such as ``--max-side`` makes it differ from
    ``size``): the frame a pixel reply is given in. None in question files (there it is the original size)."""

    format: str
    size: tuple[int, int]
    boxes: tuple[Box, ...]
    mask: str = ""
    shown: tuple[int, int] | None = None

    @property
    def frame(self) -> tuple[int, int]:
        """The pixel frame of the model's reply: the size it was shown."""
        return self.shown or self.size

    def to_json(self) -> str:
        d = {"format": self.format, "size": list(self.size), "boxes": [list(b) for b in self.boxes],
             "mask": self.mask}
        if self.shown is not None and tuple(self.shown) != tuple(self.size):
            d["shown"] = list(self.shown)
        return json.dumps(d, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str, where: str = "grounding answer") -> "GroundingTruth":
        try:
            d = json.loads(text)
            fmt, size, boxes = d["format"], tuple(int(v) for v in d["size"]), d["boxes"]
            boxes = tuple(tuple(float(v) for v in b) for b in boxes)
            shown = tuple(int(v) for v in d["shown"]) if d.get("shown") is not None else None
            ok = (fmt in BOX_FORMATS and len(size) == 2 and min(size) > 0 and boxes
                  and all(len(b) == 4 and b[2] > b[0] and b[3] > b[1] for b in boxes)
                  and (shown is None or (len(shown) == 2 and min(shown) > 0)))
        except (ValueError, TypeError, KeyError, AttributeError):
            ok = False
        if not ok:
            raise DataError("a Defect Grounding answer must be JSON {format, size [W, H], boxes [[x1, y1, x2, "
                            f"y2], ...] (x2 > x1, y2 > y1), optional shown [W, H]}}, got {quote(text)}",
                            culprit=where)
        return cls(fmt, size, boxes, str(d.get("mask") or ""), shown)

    def as_shown(self, shown: tuple[int, int]) -> "GroundingTruth":
        """The same truth for a run that sends the query image at ``shown`` pixels."""
        return GroundingTruth(self.format, self.size, self.boxes, self.mask,
                              None if tuple(shown) == tuple(self.size) else tuple(shown))


def to_original(box, truth: GroundingTruth) -> Box:
    """A reply's box (in the asked format, pixels of the frame the model was shown) in pixels of the original
    query image: 0-1000 boxes do not depend on the frame; pixel boxes are scaled by size / shown per axis."""
    fw, fh = truth.frame
    x1, y1, x2, y2 = from_format(box, truth.format, truth.frame)
    sx, sy = truth.size[0] / fw, truth.size[1] / fh
    return (x1 * sx, y1 * sy, x2 * sx, y2 * sy)


def shown_question_text(text: str, truth: GroundingTruth) -> str:
    """The question's text for a run that shows the query image at ``truth.shown`` pixels: a pixel question
    generated by :func:`question_text` is restated with the size sent; another pixel question (written by
    hand) keeps its words and gains a sentence naming that size. 0-1000 questions and unresized images keep
    their text."""
    if truth.format != "pixels" or truth.frame == truth.size:
        return text
    if text == question_text(truth.format, truth.size):
        return question_text(truth.format, truth.frame)
    w, h = truth.frame
    return f"{text} (The query image is shown at {w} x {h} pixels; give pixel coordinates of that image.)"


def check_grounding(options, answer, where: str) -> None:
    """The loaders' check of a grounding question: no options, an answer that is a valid truth."""
    if options:
        raise DataError(f"a {GROUNDING} question has no options, got {quote(list(options))}", culprit=where)
    if not isinstance(answer, str):
        raise DataError(f"a {GROUNDING} answer must be JSON text, got {quote(answer)}", culprit=where)
    GroundingTruth.from_json(answer, where)


def without_grounding(qs):
    """(a copy of the set with only its letter questions, how many Defect Grounding questions and how many
    other questions without options (open-ended, as RobustMAD_OE.json's) were left out): for the letter-only
    tools (audits, rating sheets). Indices stay as in the file; entries left empty are dropped."""
    from dataclasses import replace

    from .model import QuestionSet

    entries, n_grounding, n_open = {}, 0, 0
    for key, entry in qs.entries.items():
        kept = [q for q in entry.questions if q.type != GROUNDING and q.options]
        n_grounding += sum(q.type == GROUNDING for q in entry.questions)
        n_open += sum(q.type != GROUNDING and not q.options for q in entry.questions)
        if kept:
            entries[key] = replace(entry, questions=kept)
    return (QuestionSet(entries=entries, sha256=qs.sha256, source=qs.source, git_blob=qs.git_blob), n_grounding,
            n_open)
