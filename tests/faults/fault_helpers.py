"""Helpers and fixtures of the fault tests: the CLI as a real process (checked for tracebacks), a small
MMAD-layout data set, a real small disk (tmpfs). Test modules import the fixtures they use by name (no
conftest.py here: tests/sources imports its own conftest by module name)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "run"))
from run_engine_helpers import make_dataset  # noqa: E402


def cli(*args, env: dict | None = None, timeout: float = 120, check_clean: bool = True,
        cwd=None) -> subprocess.CompletedProcess:
    """``mmad-eval ARGS`` in a real process; by default asserts that no traceback was printed."""
    full_env = {**os.environ, **(env or {})}
    full_env.setdefault("OPENAI_API_KEY", "EMPTY")
    proc = subprocess.run([sys.executable, "-m", "mmad_eval", *map(str, args)], capture_output=True, text=True,
                          env=full_env, timeout=timeout, cwd=cwd)
    if check_clean:
        assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    return proc


def run_args(dataset, out, url, *extra) -> list:
    return ["run", "--questions", dataset, "--model", "openai:fake-vlm", "--out", out, "--base-url", url,
            "--concurrency", "2", "--quiet", *extra]


def one_error_line(proc) -> str:
    """The single error line of a failed command (exit 2)."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = [x for x in proc.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("mmad-eval ") and ": error: " in lines[0], lines[0]
    return lines[0]



@pytest.fixture(scope="session")
def dataset(tmp_path_factory) -> Path:
    """mmad.json with 6 query images and 16 questions (images next to it)."""
    return make_dataset(tmp_path_factory.mktemp("faults-data"))


@pytest.fixture
def small_disk(tmp_path):
    """A real, small tmpfs mounted at tmp_path/disk (skipped, with the reason, where mounting is not allowed).
    Yields (path, remount) where ``remount(options)`` changes size or read-only state."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True,
                          text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({proc.stderr.strip() or 'mount failed'}); the rename logic is "
                    "still tested by test_atomic_write.py with a failing writer")

    def remount(options: str) -> None:
        subprocess.run(["mount", "-o", f"remount,{options}", str(mnt)], check=True, capture_output=True)

    try:
        yield mnt, remount
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)
