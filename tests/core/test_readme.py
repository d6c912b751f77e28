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


def _blocks_after(text: str, marker: str) -> list[str]:
    block = text.split(marker, 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


def test_quick_start_is_the_first_screen():
    text = (REPO / "README.md").read_text()
    first = "\n".join(text.splitlines()[:45])
    assert "python3 -m venv" in _setup_commands()[0]
    own = _blocks_after(first, "Your own images in four commands")
    api = _blocks_after(first, "An API model in two")
    assert len(own) == 4 and all(line.startswith("mmad-eval ") for line in own)
    assert len(api) == 2 and all(line.startswith("mmad-eval ") for line in api)
    assert "Reading `reports/demo.html`" in first
    assert text.index("## Contents") < text.index("## What mmad-eval is") < text.index("## Commands")


def test_readme_links_point_at_files_that_exist():
    import re

    text = (REPO / "README.md").read_text()
    links = {m.split("#")[0] for m in re.findall(r"\]\(((?:docs/)[^)]+)\)", text)}
    assert links and all((REPO / link).is_file() for link in links), links
    for doc in (REPO / "docs").glob("*.md"):
        for link in re.findall(r"\]\(([a-z-]+\.md)(?:#[^)]*)?\)", doc.read_text()):
            assert (REPO / "docs" / link).is_file(), (doc.name, link)


def test_the_documented_knowledge_example_loads(tmp_path):
    from mmad_eval.sources.knowledge import load_knowledge

    doc = (REPO / "docs" / "own-images.md").read_text()
    example = doc.split("## The knowledge file", 1)[1].split("```json\n", 1)[1].split("```", 1)[0]
    (tmp_path / "k.json").write_text(example)
    kn = load_knowledge(tmp_path / "k.json")
    bracket = kn.categories["bracket"]
    assert bracket.name == "metal bracket" and bracket.defects["scratch"].cause.startswith("Contact")
