"""Every named preset resolves to a registered backend whose adapter accepts its options."""
import pytest

from backend_helpers import make_registry
from mmad_eval.backends.base import GenerationSettings
from mmad_eval.backends.registry import BACKENDS, backend_class, load_presets, resolve_model
from mmad_eval.errors import ConfigError

PRESETS = load_presets()


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_is_well_formed(name, monkeypatch):
    spec = PRESETS[name]
    assert spec.backend in BACKENDS and spec.model and spec.description
    if spec.backend in ("openai", "random", "blind", "expert"):
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        be = backend_class(spec.backend)(spec.model, GenerationSettings(**spec.generation), make_registry(),
                                         **spec.options)
        assert "sk-test" not in repr(be.describe())


def test_required_presets_exist():
    for name in ("gpt-4o", "gpt-4o-mini", "qwen2.5-vl-7b", "qwen2.5-vl-7b-serve", "internvl3-8b"):
        assert name in PRESETS
    assert PRESETS["qwen2.5-vl-7b"].backend == "vllm"


def test_missing_key_for_gpt4o_is_one_line(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    spec = resolve_model("gpt-4o")
    with pytest.raises(ConfigError) as err:
        backend_class(spec.backend)(spec.model, GenerationSettings(), make_registry(), **spec.options)
    assert "\n" not in str(err.value) and "OPENAI_API_KEY" in str(err.value)


def test_one_factory_applies_the_same_preset_rules_for_every_caller():
    """run passes its recorded generation as is; rephrase, caption and the judge give defaults that the preset's
    generation table overrides (unknown keys ignored); preset options come first, the caller's on top."""
    from mmad_eval.backends.base import RunContext
    from mmad_eval.backends.registry import ModelSpec, build_backend

    spec = ModelSpec(name="p", backend="random", model="random", options={"a": 1, "b": 2},
                     generation={"temperature": 0.7, "reasoning_effort": "high"})
    _, judge = build_backend(spec, generation_defaults={"temperature": 0.0, "max_tokens": 16}, options={"b": 3})
    assert (judge.generation.temperature, judge.generation.max_tokens) == (0.7, 16)
    assert judge.options == {"a": 1, "b": 3}
    ctx = RunContext(data_root="/data")
    got, run = build_backend(spec, generation=GenerationSettings(max_tokens=64), context=ctx)
    assert got is spec and run.generation == GenerationSettings(max_tokens=64) and run.context is ctx
    assert build_backend("random")[1].context == RunContext()          # no run: an empty context
    with pytest.raises(ConfigError, match="unknown model"):
        build_backend("nosuch:thing")
