"""Helpers of the grounding tests (a uniquely named module, importable from the test folder)."""
from mmad_eval.cli import main


def generate(root, name, *extra):
    """``mmad-eval generate`` of the synthetic set into ``root/name`` (once per session)."""
    out = root / name
    if not out.exists():
        assert main(["generate", str(root / "data"), "--out", str(out), "--workers", "1", *extra]) == 0
    return out
