"""Errata: corrections to a question set (from the label audit, or publicly reported), applied before scoring
beside, never instead of, the official score. ``reported.json`` ships the publicly reported MMAD errors."""
from __future__ import annotations

from importlib import resources
from pathlib import Path

from .apply import Changes, apply_to_answers, apply_to_questions
from .model import Errata, load_errata, save_errata

__all__ = ["Changes", "Errata", "apply_to_answers", "apply_to_questions", "load_errata", "reported_path",
           "save_errata"]


def reported_path() -> Path:
    """The shipped errata file of publicly reported MMAD errors (``--errata mmad-reported`` names it)."""
    return Path(str(resources.files(__package__).joinpath("reported.json")))


def resolve_errata(spec: str) -> Errata:
    """An errata file path, or ``mmad-reported`` for the shipped one."""
    return load_errata(reported_path() if spec == "mmad-reported" else Path(spec))
