"""A finished (or partial) run as read back from its store, the input of scoring and reporting."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..answers import AnswerRecord


@dataclass
class LoadedRun:
    run_dir: Path                      # the output directory holding the SQLite store
    name: str                          # run name (model label, plus an ablation tag where set)
    record: dict                       # run record: settings, versions, hashes, counts, usage, times
    answers: list[AnswerRecord]        # one per (question, rotation); failed requests have .error; letters
                                       # filled by the parse stage (mmad_eval.parse.stage.parse_run)
    prompts: dict[str, list] = field(default_factory=dict)   # request key -> Request.content()
    image_loader: Callable[[str], bytes | None] | None = None  # sha256 -> bytes (data files or stored hints)
    grounding: list[AnswerRecord] = field(default_factory=list)  # Defect Grounding answers (boxes, not
                                       # letters): moved out of ``answers`` by the parse stage, scored apart
    other_types: list[AnswerRecord] = field(default_factory=list)  # letter answers of types outside MMAD's
                                       # (e.g. RobustMAD's robustness categories): parsed, scored per type

    def image_bytes(self, sha: str) -> bytes | None:
        return self.image_loader(sha) if self.image_loader else None
