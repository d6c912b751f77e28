"""Same inputs, same bytes, whatever the process: Python randomises str hashes per process (PYTHONHASHSEED), so
set iteration order and hash() differ from one run to the next. The files a user keeps and compares (the
synthetic set, question files, the audit's and the scores' JSON, the rating sheet, the HTML report) must not
depend on it; only the report's documented run times, process ids and timing figures may differ."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(600)

# One process per hash seed runs the whole path: synth -> generate -> audit -> two runs -> score -> report.
DRIVER = """
import sys
from mmad_eval.cli import main
steps = [
    ["synth", "data", "--categories", "bottle,carpet", "--train", "3", "--test-good", "2", "--per-defect", "1",
     "--size", "64", "--workers", "1"],
    ["generate", "data/Synth-AD", "--out", "data/q.json", "--workers", "1"],
    ["generate", "data/Synth-AD", "--out", "data/q.jsonl", "--workers", "1", "--similar", "none"],
    ["audit", "data/q.json", "--json", "audit.json"],
    ["audit", "data/q.json", "--sheet", "12", "--out", "sheet.html"],
    ["run", "--questions", "data/q.json", "--model", "random", "--out", "runs", "--quiet"],
    ["run", "--questions", "data/q.json", "--model", "compare", "--out", "runs", "--quiet", "--knowledge"],
    ["score", "runs", "--json", "score.json", "--by", "category", "--bootstrap", "50"],
    ["report", "runs", "--out", "report.html"],
]
for step in steps:
    code = main(step)
    if code != 0:
        sys.exit(f"{step[0]} exited {code}")
"""

KEPT = ["data/Synth-AD/synth_meta.json", "data/knowledge.json", "data/q.json", "data/q.jsonl", "audit.json",
        "sheet.html", "score.json", "report.html"]

# what a report may differ in between two runs: when each run started and ended, its process, how long its
# answers waited for a commit, and the resume fingerprint (built from file times)
_VARYING = [re.compile(p) for p in (
    r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?(\+00:00| UTC)?",
    r"(?<=&#34;pid&#34;: )\d+", r"(?<=vm:)\d+", r"(?<=&#34;max_wait_ms&#34;: )[\d.]+",
    r"(?<=&#34;plan_fingerprint&#34;: &#34;)[0-9a-f]+")]


def _masked(text: str) -> str:
    for pattern in _VARYING:
        text = pattern.sub("*", text)
    return text


def _outputs(folder: Path, hash_seed: str) -> dict[str, bytes]:
    folder.mkdir()
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    r = subprocess.run([sys.executable, "-c", DRIVER], cwd=folder, env=env, capture_output=True, text=True,
                       timeout=540)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    return {name: (folder / name).read_bytes() for name in KEPT}


def test_outputs_are_byte_identical_across_hash_seeds(tmp_path):
    a, b = _outputs(tmp_path / "a", "1"), _outputs(tmp_path / "b", "2024")
    for name in KEPT:
        if name == "report.html":
            continue
        assert a[name] == b[name], f"{name} differs between two processes given the same inputs"
    ra, rb = a["report.html"].decode(), b["report.html"].decode()
    assert _masked(ra) != ra                         # (the run times really are there, and masked below)
    assert _masked(ra) == _masked(rb), "report.html differs beyond its run times between two processes"


def test_the_mask_leaves_the_reports_content_alone():
    """The masking is narrow: a changed score or text still shows."""
    text = ('generated 2026-12-08 00:13 UTC · &#34;pid&#34;: 123, &#34;max_wait_ms&#34;: 8.5, '
            '&#34;started&#34;: &#34;2026-12-08T00:12:54.050009+00:00&#34; vm:30291: accuracy 63.69')
    assert _masked(text) == ('generated * · &#34;pid&#34;: *, &#34;max_wait_ms&#34;: *, '
                             '&#34;started&#34;: &#34;*&#34; vm:*: accuracy 63.69')
    assert _masked(text.replace("63.69", "63.70")) != _masked(text)
