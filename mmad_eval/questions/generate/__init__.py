"""Rule-based MMAD-style question generation (one module per subtask rule family); see build.py."""
from .build import GenerateResult, GenerateSettings, generate_questions

__all__ = ["GenerateResult", "GenerateSettings", "generate_questions"]
