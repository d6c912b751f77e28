"""Settings are defined once (mmad_eval.settings) and refuse unknown choices on construction."""
import pytest

from mmad_eval.backends.base import GenerationSettings as BackendGeneration
from mmad_eval.errors import ConfigError
from mmad_eval.prompt.images import ImageSettings as PromptImages
from mmad_eval.run import settings as run_settings
from mmad_eval.settings import (EXPERT_KINDS, HINT_STYLES, EnhancementSettings, GenerationSettings, ImageSettings,
                                ProtocolSettings, RunSettings)


@pytest.mark.parametrize("make, field", [
    (lambda: ProtocolSettings(option_order="random"), "ProtocolSettings.option_order"),
    (lambda: ProtocolSettings(question_mode="batched"), "ProtocolSettings.question_mode"),
    (lambda: ProtocolSettings(references="nearest"), "ProtocolSettings.references"),
    (lambda: ProtocolSettings(shots=-1), "ProtocolSettings.shots"),
    (lambda: EnhancementSettings(expert="bulitin"), "EnhancementSettings.expert"),
    (lambda: EnhancementSettings(hint="arrows"), "EnhancementSettings.hint"),
    (lambda: ImageSettings(format="webp"), "ImageSettings.format"),
    (lambda: ImageSettings(jpeg_quality=0), "ImageSettings.jpeg_quality"),
    (lambda: GenerationSettings(max_tokens=0), "GenerationSettings.max_tokens"),
    (lambda: GenerationSettings(top_p=1.5), "GenerationSettings.top_p"),
])
def test_unknown_or_out_of_range_values_are_errors_naming_the_field(make, field):
    with pytest.raises(ConfigError) as e:
        make()
    assert field in str(e.value)


def test_defined_once_and_shared():
    assert BackendGeneration is GenerationSettings and PromptImages is ImageSettings
    assert run_settings.RunSettings is RunSettings and run_settings.EXPERTS == ("none", *EXPERT_KINDS)
    from mmad_eval.enhance.expert.service import KINDS
    from mmad_eval.enhance.hints import STYLES

    assert KINDS is EXPERT_KINDS and STYLES is HINT_STYLES
    assert "parser" not in RunSettings(model="random").as_dict()      # recorded but never read: gone


def test_preset_generation_ignores_unknown_keys_and_overrides_win():
    g = GenerationSettings.from_preset({"temperature": 1.0, "max_tokens": 64, "reasoning": "high"}, max_tokens=8)
    assert (g.temperature, g.max_tokens) == (1.0, 8)
