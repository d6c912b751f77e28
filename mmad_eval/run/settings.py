"""The run's settings (defined once in :mod:`mmad_eval.settings`; re-exported here for existing imports)."""
from ..settings import (EXPERTS, HINT_STYLES, OPTION_ORDERS, OWN_PRESET, QUESTION_MODES,  # noqa: F401
                        REFERENCE_LETTERS, REFERENCE_SCOPES, REFERENCE_SOURCES, EnhancementSettings,
                        GenerationSettings, ImageSettings, ProtocolSettings, RunSettings)

__all__ = ["EXPERTS", "HINT_STYLES", "OPTION_ORDERS", "OWN_PRESET", "QUESTION_MODES", "REFERENCE_LETTERS",
           "REFERENCE_SCOPES", "REFERENCE_SOURCES", "EnhancementSettings", "GenerationSettings", "ImageSettings",
           "ProtocolSettings", "RunSettings"]
