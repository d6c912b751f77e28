"""List the named model presets and the registered backends."""
from __future__ import annotations

HELP = "List named model presets and backends"


def add_arguments(p) -> None:
    pass


def main(args) -> int:
    from ..backends.registry import backend_names, load_presets

    presets = load_presets()
    width = max(len(n) for n in presets)
    print("Presets (use with --model NAME):")
    for name, spec in presets.items():
        print(f"  {name:<{width}}  {spec.backend}:{spec.model}  {spec.description}")
    print("\nBackends (use --model BACKEND:MODEL for anything else): " + ", ".join(backend_names()))
    return 0
