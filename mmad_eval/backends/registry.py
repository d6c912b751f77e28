"""The one way to build a backend: named backends ("name" -> "module:Class"), the model presets
(presets.toml), third-party backends from the ``mmad_eval.backends`` entry-point group, and
:func:`build_backend`, used by ``run``, LLM-assisted question writing (rephrase, caption) and the judge.

A plugin package registers a backend class (a :class:`~mmad_eval.backends.base.Backend` subclass) in its
packaging metadata::

    [project.entry-points."mmad_eval.backends"]
    echo = "my_package.backend:EchoBackend"

and is then used as ``--model echo:MODEL``. Built-in names cannot be taken over by a plugin.
"""
from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import ConfigError, MissingExtraError
from ..prompt.images import ImageRegistry
from ..settings import GenerationSettings
from .base import Backend, RunContext

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ENTRY_POINT_GROUP = "mmad_eval.backends"
BACKENDS: dict[str, str] = {
    "openai": "mmad_eval.backends.openai_api:OpenAIBackend",
    "vllm": "mmad_eval.backends.vllm_engine:VLLMBackend",
    "hf": "mmad_eval.backends.hf_local:HFBackend",
    "random": "mmad_eval.backends.baselines:RandomBackend",
    "blind": "mmad_eval.backends.baselines:BlindBackend",
    "expert": "mmad_eval.backends.baselines:ExpertBackend",
    "detector": "mmad_eval.backends.baselines:DetectorBackend",   # detector:DIR, a folder of maps and scores
    "scripted-agent": "mmad_eval.backends.scripted_agent:ScriptedAgentBackend",   # agent mode's offline baseline
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
    batch_price: dict = field(default_factory=dict)   # the same through the Batch API (run --batch-api)

    def as_dict(self) -> dict:
        return {"name": self.name, "backend": self.backend, "model": self.model,
                "generation": dict(self.generation), "options": dict(self.options), "price": dict(self.price)}


def load_presets(path: Path = PRESETS_FILE) -> dict[str, ModelSpec]:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    out = {}
    for name, p in data.get("presets", {}).items():
        out[name] = ModelSpec(name=name, backend=p["backend"], model=p["model"], options=p.get("options", {}),
                              generation=p.get("generation", {}), description=p.get("description", ""),
                              price=p.get("price", {}), batch_price=p.get("batch_price", {}))
    return out


def plugin_backends() -> dict[str, importlib.metadata.EntryPoint]:
    """Backends registered by installed packages under the ``mmad_eval.backends`` entry-point group."""
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
            if ep.name not in BACKENDS}


def backend_names() -> list[str]:
    return [*BACKENDS, *sorted(plugin_backends())]


def resolve_model(spec: str) -> ModelSpec:
    """``gpt-4o`` (a preset), ``backend:model`` (anything else) or a bare baseline name (``random``)."""
    presets = load_presets()
    if spec in presets:
        return presets[spec]
    backend, sep, model = spec.partition(":")
    names = backend_names()
    if sep and backend in names:
        return ModelSpec(name=spec, backend=backend, model=model)
    if not sep and spec in names:
        return ModelSpec(name=spec, backend=spec, model=spec)
    raise ConfigError(f"unknown model; use a preset ({', '.join(sorted(presets))}) "
                      f"or backend:model with backend one of {', '.join(names)}", culprit=spec)


def backend_class(name: str) -> type[Backend]:
    """Import a backend class lazily; a missing optional dependency gives a one-line install hint."""
    if name in REQUIRES:
        module, extra = REQUIRES[name]
        if importlib.util.find_spec(module) is None:
            raise MissingExtraError(module, extra)
    if name in BACKENDS:
        module_name, _, cls = BACKENDS[name].partition(":")
        return getattr(importlib.import_module(module_name), cls)
    plugin = plugin_backends().get(name)
    if plugin is None:
        raise ConfigError(f"unknown backend; known: {', '.join(backend_names())}", culprit=name)
    try:
        cls = plugin.load()
    except Exception as e:   # a broken plugin names itself, not our traceback
        raise ConfigError(f"the backend plugin {plugin.value!r} failed to load ({type(e).__name__}: {e})",
                          culprit=name) from None
    if not (isinstance(cls, type) and issubclass(cls, Backend)):
        raise ConfigError(f"the backend plugin {plugin.value!r} is not a mmad_eval Backend subclass", culprit=name)
    return cls


def build_backend(model: str | ModelSpec, *, generation: GenerationSettings | None = None,
                  generation_defaults: dict | None = None, images: ImageRegistry | None = None,
                  options: dict | None = None, context: RunContext | None = None,
                  cls: Callable[..., Backend] | None = None) -> tuple[ModelSpec, Backend]:
    """The backend for ``model`` (a preset, ``backend:model`` or a resolved spec), and its spec.

    Preset rules, the same for every caller: ``generation`` when given is used as is (a run's recorded
    settings already hold the preset's values); otherwise the preset's generation table over the caller's
    ``generation_defaults``. Backend options: the preset's, then ``options`` on top. ``context`` is what
    the run gives the backend (data root, question set, expert service); ``cls`` replaces the class: a class
    or any callable with the constructor's signature (tests; ``run --ray`` wraps the class in a worker pool).
    """
    spec = resolve_model(model) if isinstance(model, str) else model
    if generation is None:
        generation = GenerationSettings.from_preset({**(generation_defaults or {}), **spec.generation})
    backend_cls = cls or backend_class(spec.backend)
    backend = backend_cls(spec.model, generation, images or ImageRegistry(), context=context,
                          **{**spec.options, **(options or {})})
    return spec, backend
