"""A third-party backend, installed as a real package that registers itself under the ``mmad_eval.backends``
entry-point group, runs through `mmad-eval run` like a built-in one; a broken plugin is one clear error."""
import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
QUESTIONS = ROOT / "tests" / "run" / "fixtures" / "store_v0_1_0" / "data" / "mmad.json"

PLUGIN = '''
from mmad_eval.backends.base import Backend, Response


class EchoBackend(Backend):
    """Answers every question with its last option letter; records what the run gave it."""

    kind = "echo"

    async def generate(self, items, emit):
        for key, request in items:
            if self.context.data_root is None or self.context.questions is None:   # given by the run's factory
                emit(Response(key=key, error_type="bad_input", error_message="no run context"))
                continue
            letters = request.options[-1]
            emit(Response(key=key, text=f"Answer: {letters[-1]}"))
'''


def _install(tmp: Path, entry: str) -> Path:
    """pip-install a one-module plugin package (offline, no build isolation) into its own folder."""
    src = tmp / "src"
    src.mkdir(parents=True)
    (src / "mmad_echo_plugin.py").write_text(PLUGIN)
    (src / "pyproject.toml").write_text(textwrap.dedent(f'''
        [build-system]
        requires = ["setuptools>=68"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "mmad-echo-plugin"
        version = "0.1.0"

        [project.entry-points."mmad_eval.backends"]
        echo = "{entry}"

        [tool.setuptools]
        py-modules = ["mmad_echo_plugin"]
    '''))
    target = tmp / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(src)], check=True, capture_output=True, timeout=300,
                   env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    return target


def _cli(site: Path, *args):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}
    return subprocess.run([sys.executable, "-m", "mmad_eval", *args], capture_output=True, text=True, env=env,
                          timeout=300)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    return _install(tmp_path_factory.mktemp("plugin"), "mmad_echo_plugin:EchoBackend")


def test_installed_plugin_runs_through_mmad_eval_run(site, tmp_path):
    assert "echo" in _cli(site, "models").stdout
    out = tmp_path / "out"
    r = _cli(site, "run", "--questions", str(QUESTIONS), "--model", "echo:v1", "--out", str(out), "--quiet")
    assert r.returncode == 0, r.stderr
    assert "16 questions in 16 requests: asked 16, reused 0, failed 0" in r.stdout
    with sqlite3.connect(out / "mmad-eval.sqlite") as db:
        record = json.loads(db.execute("SELECT record FROM runs WHERE name = 'echo:v1'").fetchone()[0])
        texts = {t for (t,) in db.execute("SELECT text FROM requests")}
    assert record["backend"]["backend"] == "echo" and record["model_spec"]["backend"] == "echo"
    assert texts == {"Answer: B", "Answer: D"}
    again = _cli(site, "run", "--questions", str(QUESTIONS), "--model", "echo:v1", "--out", str(out), "--quiet")
    assert "asked 0, reused 16" in again.stdout


def test_unknown_backend_lists_the_plugin_and_a_broken_plugin_names_itself(site, tmp_path):
    r = _cli(site, "run", "--questions", str(QUESTIONS), "--model", "nope:v1", "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "echo" in r.stderr and "Traceback" not in r.stderr
    broken = _install(tmp_path / "b", "mmad_echo_plugin:NoSuchClass")
    r = _cli(broken, "run", "--questions", str(QUESTIONS), "--model", "echo:v1", "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "mmad_echo_plugin:NoSuchClass" in r.stderr and "failed to load" in r.stderr
