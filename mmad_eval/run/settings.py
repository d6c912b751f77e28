"""The run's settings (defined once in :mod:`mmad_eval.settings`; re-exported here for existing imports)."""
from ..settings import (EXPERTS, HINT_STYLES, OPTION_ORDERS, QUESTION_MODES, REFERENCE_SOURCES,  # noqa: F401
                        EnhancementSettings, GenerationSettings, ImageSettings, ProtocolSettings, RunSettings)

__all__ = ["EXPERTS", "HINT_STYLES", "OPTION_ORDERS", "QUESTION_MODES", "REFERENCE_SOURCES", "EnhancementSettings",
           "GenerationSettings", "ImageSettings", "ProtocolSettings", "RunSettings"]
