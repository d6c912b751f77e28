"""The package's layers hold (import-linter contracts in pyproject.toml), and no function in the run, score and
backends packages grows past about 60 lines."""
import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_LINES = 60


def test_import_layers_hold():
    exe = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    assert Path(exe).exists(), "import-linter is not installed (pip install -e '.[test]')"
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = subprocess.run([exe, "--no-cache"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and "BROKEN" not in out.stdout, out.stdout[-4000:] + out.stderr[-2000:]
    assert "0 broken" in out.stdout


def long_functions(folders=("run", "score", "backends"), limit: int = MAX_LINES) -> list[str]:
    found = []
    for folder in folders:
        for path in sorted((ROOT / "mmad_eval" / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    n = node.end_lineno - node.lineno + 1
                    if n > limit:
                        found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({n} lines)")
    return found


def test_no_long_functions_in_run_score_backends():
    assert long_functions() == []
