"""README opens with exactly the two set-up commands, and CI runs the README's test command."""
from pathlib import Path

import mmad_eval

REPO = Path(mmad_eval.__file__).resolve().parents[1]


def _setup_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    block = text.split("```bash\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


def test_readme_starts_with_demo_and_test_commands():
    demo, tests = _setup_commands()
    assert demo.endswith("mmad-eval demo") and "pip install" in demo
    assert "pytest" in tests and "torch==2.13.0" in tests


def test_ci_runs_the_readme_test_command():
    ci = (REPO / ".ci" / "run").read_text()
    assert _setup_commands()[1] in ci


def test_every_command_is_documented():
    text = (REPO / "README.md").read_text()
    for module in (REPO / "mmad_eval" / "commands").glob("[a-z]*.py"):
        assert f"mmad-eval {module.stem.replace('_', '-')}" in text, module.stem
