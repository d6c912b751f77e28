"""Degenerate runs never crash: no answer at all (killed before the first), none parsed, every request failed,
a single subtask, a single dataset. score, report, compare and ablate print them with n = 0 and say why."""
from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mmad_eval.cli import main
from mmad_eval.testing.openai_server import FakeOpenAIServer, Fault, prompt_text

sys.path.insert(0, str(Path(__file__).parents[1] / "run"))
from run_engine_helpers import make_dataset  # noqa: E402


def _run(q: Path, out: Path, name: str, url: str, *flags: str) -> int:
    return main(["run", "--questions", str(q), "--model", f"openai:{name}", "--out", str(out), "--name", name,
                 "--base-url", url, "--quiet", *flags])


def _members(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as con:
            return con.execute("SELECT COUNT(*) FROM members").fetchone()[0]
    except sqlite3.Error:
        return 0


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("degenerate")
    q = make_dataset(root / "data")
    out = root / "out"
    with FakeOpenAIServer(responder=lambda body: "I cannot tell from these images.") as srv:
        assert _run(q, out, "unparsed", srv.base_url) == 0
    # every request fails on its own (a 400; a 401 would stop the run after the first: tests/faults)
    with FakeOpenAIServer(faults=lambda i, body: Fault("bad_request")) as srv:
        assert _run(q, out, "failed", srv.base_url) == 1
    def mixed(body):      # a quarter without a letter, the rest a letter, both fixed by the prompt
        h = int(hashlib.sha256(prompt_text(body).encode()).hexdigest(), 16)
        return "no idea" if h % 4 == 0 else "ABCD"[h % 3]

    with FakeOpenAIServer(responder=mixed) as srv:
        assert _run(q, out, "mixed", srv.base_url) == 0
    with FakeOpenAIServer() as srv:
        assert _run(q, out, "single", srv.base_url, "--subtasks", "AD", "--datasets", "VisA") == 0
        assert _run(q, out, "one-dataset", srv.base_url, "--datasets", "DS-MVTec") == 0
    # a real process killed before its first answer: the run and its questions are stored, no answer is
    with FakeOpenAIServer(faults=lambda i, body: Fault("hang", hang_s=30)) as srv:
        cmd = [sys.executable, "-m", "mmad_eval", "run", "--questions", str(q), "--model", "openai:killed",
               "--name", "killed", "--out", str(out), "--base-url", srv.base_url, "--quiet"]
        proc = subprocess.Popen(cmd, env={**os.environ}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while srv.count == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert _members(out / "mmad-eval.sqlite") > 0
    return out


@pytest.mark.parametrize("name, why", [
    ("unparsed", "no reply had a letter"), ("failed", "every request failed"), ("killed", "no question answered yet"),
])
def test_score_prints_empty_runs_with_the_reason(runs, name, why, capsys):
    assert main(["score", str(runs), "--run", name, "--bootstrap", "20"]) == 0
    out = capsys.readouterr().out
    assert "n = 0" in out and why in out


@pytest.mark.parametrize("name", ["single", "one-dataset"])
def test_score_single_subtask_or_dataset(runs, name, capsys):
    assert main(["score", str(runs), "--run", name, "--bootstrap", "20"]) == 0
    assert "MMAD-compatible" in capsys.readouterr().out


def test_report_and_compare_on_degenerate_runs(runs, tmp_path, capsys):
    assert main(["report", str(runs), "--out", str(tmp_path / "r.html"), "--no-images"]) == 0
    html = (tmp_path / "r.html").read_text()
    assert "n = 0" in html and "every request failed" in html
    for a, b in (("unparsed", "failed"), ("killed", "single"), ("single", "one-dataset")):
        assert main(["compare", str(runs), "--a", a, "--b", b, "--bootstrap", "20"]) == 0
        assert "shared questions" in capsys.readouterr().out
    assert main(["compare", str(runs), "--a", "unparsed", "--b", "failed", "--scorer", "mmad", "--bootstrap", "20"]) == 0
    out = capsys.readouterr().out
    assert "run A has n = 0 under the mmad score: no reply had a letter" in out
    assert "run B has n = 0 under the mmad score: every request failed" in out


def test_the_mmad_comparison_of_a_run_with_itself_shows_its_own_score(runs, tmp_path, capsys):
    """Paired MMAD-compatible columns are the run's own table: skip-after-drop decided over the whole run."""
    import json

    js = tmp_path / "s.json"
    assert main(["score", str(runs), "--run", "mixed", "--bootstrap", "0", "--json", str(js)]) == 0
    table = json.loads(js.read_text())["mixed"]["mmad"]
    assert table["extra"]["dropped_invalid"] > 0 and table["extra"]["skipped_after_drop"] > 0
    own = table["overall"]
    assert main(["compare", str(runs), "--a", "mixed", "--b", "mixed", "--scorer", "mmad",
                 "--bootstrap", "20", "--json", str(js)]) == 0
    assert json.loads(js.read_text())["a"] == own


def test_ablate_with_a_backend_that_always_fails(tmp_path, capsys):
    q = make_dataset(tmp_path / "data")
    # every request fails on its own (a 400; a 401 would stop the run after the first: tests/faults)
    with FakeOpenAIServer(faults=lambda i, body: Fault("bad_request")) as srv:
        rc = main(["ablate", "--questions", str(q), "--model", "openai:m", "--out", str(tmp_path / "abl"),
                   "--base-url", srv.base_url, "--quiet", "--arms", "none", "+references"])
    assert rc in (0, 1)
    capsys.readouterr()
    assert main(["score", str(tmp_path / "abl"), "--bootstrap", "0"]) == 0
    assert "every request failed" in capsys.readouterr().out
    assert main(["report", str(tmp_path / "abl"), "--out", str(tmp_path / "a.html"), "--no-images"]) == 0
