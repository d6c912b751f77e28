"""The question browser draws Defect Grounding boxes over the query image (headless Chromium), with the
model's text kept as text."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from grounding_helpers import generate
from mmad_eval.cli import main
from mmad_eval.parse.stage import load_parsed_runs
from mmad_eval.testing.openai_server import FakeOpenAIServer, box_responder

pytestmark = pytest.mark.skipif(not Path("/usr/bin/chromium").exists() and not shutil.which("chromium"),
                                reason="chromium is not installed")
HOSTILE = "<script>alert(1)</script>"


def test_browser_draws_true_and_predicted_boxes(synth, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key-not-secret")
    q = generate(synth, "only.jsonl", "--tasks", "grounding")
    out = tmp_path / "runs"
    plain = box_responder(lambda body: "json")
    with FakeOpenAIServer(responder=lambda body: HOSTILE + " " + plain(body)) as srv:
        assert main(["run", "--questions", str(q), "--model", "openai:fake", "--out", str(out), "--base-url",
                     srv.base_url, "--quiet"]) == 0
    run = load_parsed_runs(out)[0]
    n_true = sum(len(json.loads(a.answer)["boxes"]) for a in run.grounding)
    html = tmp_path / "r.html"
    assert main(["report", str(out), "--out", str(html)]) == 0
    dom = subprocess.run(["/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                          f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000", "--dump-dom",
                          html.resolve().as_uri()], capture_output=True, text=True, timeout=90).stdout
    assert 'data-browser="ready"' in dom
    assert dom.count('class="qcard"') == len(run.grounding)
    rects = [r for r in re.findall(r"<rect [^>]*>", dom) if "non-scaling-stroke" in r]     # the box overlay
    assert len([r for r in rects if "stroke-dasharray" in r]) == n_true           # true boxes, dashed
    assert len([r for r in rects if "stroke-dasharray" not in r]) == len(run.grounding)   # one predicted each
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom and "<script>alert(1)" not in dom
    assert "mIoU" in dom
