"""The wheel must carry every subpackage and the prompt templates (not only an editable checkout)."""
import sys
from pathlib import Path

import mmad_eval

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPO = Path(mmad_eval.__file__).resolve().parents[1]


def test_every_subpackage_is_listed_in_pyproject():
    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "mmad_eval").rglob("__init__.py")}
    assert found <= listed, f"add to [tool.setuptools] packages: {sorted(found - listed)}"


def test_prompt_templates_ship_as_package_data():
    conf = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert conf["package-dir"]["mmad_eval.prompts_data"] == "prompts"
    assert (REPO / "prompts" / "mmad.j2").is_file()
    patterns = conf["package-data"]["mmad_eval.prompts_data"]
    templates = [p for p in (REPO / "prompts").rglob("*.j2")]
    assert templates and all(any(p.match(pat) for pat in patterns) for p in templates)


def test_every_install_hint_names_a_real_extra():
    import re

    extras = set(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    hinted = {m.group(1) for p in (REPO / "mmad_eval").rglob("*.py")
              for m in re.finditer(r'MissingExtraError\(\s*"[^"]+",\s*"([^"]+)"', p.read_text())}
    hinted |= {extra for _, extra in __import__("mmad_eval.backends.registry", fromlist=["REQUIRES"]).REQUIRES.values()}
    assert hinted and hinted <= extras, sorted(hinted - extras)
