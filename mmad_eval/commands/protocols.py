"""List the protocol presets (MMAD's official evaluation scripts, and ours) and what each one fixes."""
from __future__ import annotations

HELP = "List protocol presets (one per official MMAD script, and ours) and the settings each fixes"


def add_arguments(p) -> None:
    p.add_argument("name", nargs="?", help="show only this preset")


def _value(v) -> str:
    if v is None:
        return "not sent / default"
    if isinstance(v, tuple):
        return ", ".join(map(str, v))
    return str(v)


def main(args) -> int:
    from ..run.protocol_presets import PRESETS, get_preset

    presets = [get_preset(args.name)] if args.name else list(PRESETS.values())
    for i, p in enumerate(presets):
        if i:
            print()
        print(f"{p.name}: {p.summary}")
        print(f"  script: {p.script or 'none (our own protocol)'}")
        fixed = p.settings()
        if fixed:
            width = max(len(k) for k in fixed)
            print("  fixes:")
            for k, v in fixed.items():
                print(f"    {k:<{width}}  {_value(v)}")
        for a in p.assumptions:
            print(f"  note: {a}")
    print("\nUse with `mmad-eval run --protocol NAME`; explicit flags override a preset and the run records which.")
    return 0
