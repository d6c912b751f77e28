"""One lazy registry of backends ("name" -> "module:Class") and the named model presets (presets.toml)."""
from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError, MissingExtraError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

BACKENDS: dict[str, str] = {
    "openai": "mmad_eval.backends.openai_api:OpenAIBackend",
    "vllm": "mmad_eval.backends.vllm_engine:VLLMBackend",
    "hf": "mmad_eval.backends.hf_local:HFBackend",
    "random": "mmad_eval.backends.baselines:RandomBackend",
    "blind": "mmad_eval.backends.baselines:BlindBackend",
    "expert": "mmad_eval.backends.baselines:ExpertBackend",
}
# Optional third-party module each backend needs, and the extra that installs it.
REQUIRES: dict[str, tuple[str, str]] = {"vllm": ("vllm", "vllm"), "hf": ("transformers", "hf")}
PRESETS_FILE = Path(__file__).with_name("presets.toml")


@dataclass(frozen=True)
class ModelSpec:
    """A resolved model: backend name, model id, backend options and generation overrides."""

    name: str                    # what the user typed (preset name or backend:model)
    backend: str
    model: str
    options: dict = field(default_factory=dict)
    generation: dict = field(default_factory=dict)
    description: str = ""
    price: dict = field(default_factory=dict)   # USD per million tokens: {"input": x, "output": y}


def load_presets(path: Path = PRESETS_FILE) -> dict[str, ModelSpec]:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    out = {}
    for name, p in data.get("presets", {}).items():
        out[name] = ModelSpec(name=name, backend=p["backend"], model=p["model"], options=p.get("options", {}),
                              generation=p.get("generation", {}), description=p.get("description", ""),
                              price=p.get("price", {}))
    return out


def resolve_model(spec: str) -> ModelSpec:
    """``gpt-4o`` (a preset), ``backend:model`` (anything else) or a bare baseline name (``random``)."""
    presets = load_presets()
    if spec in presets:
        return presets[spec]
    backend, sep, model = spec.partition(":")
    if sep and backend in BACKENDS:
        return ModelSpec(name=spec, backend=backend, model=model)
    if not sep and spec in BACKENDS:
        return ModelSpec(name=spec, backend=spec, model=spec)
    raise ConfigError(f"unknown model; use a preset ({', '.join(sorted(presets))}) "
                      f"or backend:model with backend one of {', '.join(BACKENDS)}", culprit=spec)


def backend_class(name: str):
    """Import a backend class lazily; a missing optional dependency gives a one-line install hint."""
    if name not in BACKENDS:
        raise ConfigError(f"unknown backend; known: {', '.join(BACKENDS)}", culprit=name)
    if name in REQUIRES:
        module, extra = REQUIRES[name]
        if importlib.util.find_spec(module) is None:
            raise MissingExtraError(module, extra)
    module_name, _, cls = BACKENDS[name].partition(":")
    return getattr(importlib.import_module(module_name), cls)
