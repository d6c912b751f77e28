"""List the protocol presets (MMAD's official evaluation scripts, and ours) and what each one fixes."""
from __future__ import annotations

HELP = "List protocol presets (one per official MMAD script, and ours) and the settings each fixes"


def add_arguments(p) -> None:
    p.add_argument("name", nargs="?", help="show only this preset")
    p.add_argument("--published", action="store_true",
                   help="MMAD's 22 published rows (all_result/): the preset, model and command that reproduce "
                        "each, and what is known to differ")
    p.add_argument("--subsets", action="store_true", help="the named subsets papers report on (run --subset NAME)")


def _value(v) -> str:
    if v is None:
        return "not sent / default"
    if isinstance(v, tuple):
        return ", ".join(map(str, v))
    return str(v)


def _published() -> int:
    from ..run.published_rows import PUBLISHED_ROWS

    print(f"MMAD's published rows (jam-cc/MMAD all_result/, {len(PUBLISHED_ROWS)} files); Avg = the CSV's "
          "summary.py average")
    for r in PUBLISHED_ROWS:
        print(f"\n{r.model} ({r.shots}-shot, Avg {r.average:.2f}): all_result/{r.csv}")
        print(f"  preset {r.preset}, model {r.model_id}")
        print(f"  {r.how}{r.command()}")
        for d in r.differences:
            print(f"  differs: {d}")
    return 0


def _subsets() -> int:
    from ..run.subsets import SUBSETS

    for s in SUBSETS.values():
        print(f"{s.name}: {s.description}")
    print("\nUse with `mmad-eval run --subset NAME`, or --subset-file FILE (image keys or key#index question ids).")
    return 0


def main(args) -> int:
    from ..run.protocol_presets import PRESETS, get_preset

    if getattr(args, "published", False):
        return _published()
    if getattr(args, "subsets", False):
        return _subsets()
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
