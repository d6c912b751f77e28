"""Published MMAD results (1-shot, full question set), as data. Shown only when asked, labelled as published.

Numbers are copied from the MMAD paper / release (ICLR 2025) and later work; they were not re-measured here.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..questions.model import SUBTASKS


@dataclass(frozen=True)
class PublishedRow:
    model: str
    scores: dict[str, float | None]     # subtask (or "Average") -> percent; None = not reported
    source: str


_COLUMNS = (*SUBTASKS, "Average")
_MMAD = "MMAD paper"
_TABLE = [
    ("Human expert", (95.24, 75.00, 92.31, 83.33, 94.20, 86.11, 80.37, 86.65), _MMAD),
    ("Human ordinary", (86.90, 66.25, 85.58, 71.25, 81.52, 89.58, 69.72, 78.69), _MMAD),
    ("GPT-4o (paper)", (68.63, 65.80, 55.62, 73.21, 83.41, 94.98, 82.80, 74.92), _MMAD),
    ("GPT-4o (released CSV)", (67.47, 64.80, 54.97, 72.29, 82.98, 94.89, 82.75, 74.31), "MMAD release CSV"),
    ("GPT-4o-mini", (64.33, 48.58, 38.75, 63.68, 80.40, 88.56, 79.74, 66.29), _MMAD),
    ("Gemini-1.5-flash", (58.58, 54.70, 49.10, 66.53, 82.24, 91.47, 79.71, 68.90), _MMAD),
    ("Qwen2-VL-72B-Instruct", (76.17, 62.06, 69.28, 77.08, 85.24, 92.16, 88.36, 78.62), _MMAD),
    ("Qwen2.5-VL-72B-Instruct-AWQ", (72.66, 62.31, 67.16, 73.56, 81.95, 94.30, 86.78, 76.96), "MMAD release"),
    ("Qwen2.5-VL-7B-Instruct", (71.10, 56.02, 60.69, 64.13, 78.26, 91.49, 83.67, 72.19), "MMAD release"),
    ("Qwen2-VL-7B-Instruct", (68.90, 57.37, 55.36, 73.65, 80.95, 91.95, 85.47, 73.38), _MMAD),
    ("InternVL2-Llama3-76B", (68.25, 54.22, 56.66, 66.30, 80.47, 86.40, 82.92, 70.75), _MMAD),
    ("InternVL2-8B", (59.97, 43.85, 47.91, 57.60, 78.10, 74.18, 80.37, 63.14), _MMAD),
    ("MiniCPM-V-2.6", (57.31, 49.22, 43.28, 65.86, 75.24, 92.02, 80.80, 66.25), _MMAD),
    ("LLaVA-OneVision-7B-si", (51.77, 46.13, 41.85, 62.19, 69.73, 90.31, 80.93, 63.27), _MMAD),
    ("LLaVA-1.5-7B", (51.33, 37.04, 36.62, 50.60, 69.79, 68.29, 69.53, 54.74), _MMAD),
    ("AnomalyGPT", (65.57, 27.49, 27.97, 36.86, 32.11, 29.84, 35.82, 36.52), _MMAD),
]
# Later work reports only the full-set average in the summary we keep.
_AVERAGE_ONLY = [
    ("AD-Copilot-Thinking", 82.29, "later work, Avg only"),
    ("EMIT", 81.95, "later work, Avg only (retrieved templates + knowledge)"),
    ("Gemini-2.5-pro", 81.19, "later work, Avg only"),
]


def published_rows() -> list[PublishedRow]:
    """Every published row we know, MMAD's table first, then average-only later results."""
    rows = [PublishedRow(m, dict(zip(_COLUMNS, vals)), src) for m, vals, src in _TABLE]
    for m, avg, src in _AVERAGE_ONLY:
        scores: dict[str, float | None] = {c: None for c in _COLUMNS}
        scores["Average"] = avg
        rows.append(PublishedRow(m, scores, src))
    return rows
