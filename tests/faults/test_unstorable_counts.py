"""A reply the store refuses (``unstorable_reply``) is a failed request wherever the run counts itself: the run
line's "failed N", the exit code, ``last_invocation`` and the invocation log of the run record, and the score's
error count. Before the fix such replies were counted as good answers ("failed 0", exit 0).

The replies come from a real third-party backend plugin (registered by its dist-info entry point, as pip
installs one) that gives every ``odd_every``-th request a usage count the store cannot hold (an object)."""
from __future__ import annotations

import json
import os
import sqlite3

import pytest

from fault_helpers import cli, dataset  # noqa: F401 (fixtures)

PLUGIN = '''
import asyncio

from mmad_eval.backends.base import Backend, Response


class OddUsageBackend(Backend):
    """Answers "A"; every ``odd_every``-th request (1st, then every n-th) with a usage count the store cannot
    hold: an object (``odd_kind=object``) or an integer beyond 64 bits (``odd_kind=huge``)."""

    kind = "odd-usage"

    async def generate(self, items, emit):
        every = int(self.options.get("odd_every", 0))
        odd_value = {"cached": 3} if self.options.get("odd_kind") == "object" else 2 ** 70
        for i, (key, request) in enumerate(items):
            odd = bool(every) and i % every == 0
            emit(Response(key=key, text="A", prompt_tokens=5, completion_tokens=odd_value if odd else 1))
            await asyncio.sleep(0)
'''


@pytest.fixture
def plugin_env(tmp_path) -> dict:
    site = tmp_path / "site"
    info = site / "mmad_odd_usage_plugin-0.1.0.dist-info"
    info.mkdir(parents=True)
    (site / "mmad_odd_usage_plugin.py").write_text(PLUGIN)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: mmad-odd-usage-plugin\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text("[mmad_eval.backends]\nodd-usage = mmad_odd_usage_plugin:OddUsageBackend\n")
    return {"PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))}


@pytest.mark.parametrize("every,kind,bad", [(4, "huge", 4), (5, "object", 4), (3, "huge", 6), (0, "huge", 0)])
def test_unstorable_replies_are_counted_as_failed_everywhere(every, kind, bad, plugin_env, dataset, tmp_path):
    out = tmp_path / "out"
    options = ["--backend-option", f"odd_every={every}", "--backend-option", f"odd_kind={kind}"]
    proc = cli("run", "--questions", dataset, "--model", "odd-usage:m", "--out", out, "--quiet", *options,
               env=plugin_env)
    assert f"asked 16, reused 0, failed {bad}" in proc.stdout, proc.stdout + proc.stderr
    assert proc.returncode == (1 if bad else 0), proc.stdout + proc.stderr
    with sqlite3.connect(out / "mmad-eval.sqlite") as db:
        kinds = [r[0] for r in db.execute("SELECT error_type FROM requests")]
        record = json.loads(db.execute("SELECT record FROM runs").fetchone()[0])
    assert kinds.count("unstorable_reply") == bad and len(kinds) == 16
    assert record["last_invocation"]["failed"] == bad
    assert record["invocation_log"][-1]["failed"] == bad
    again = cli("run", "--questions", dataset, "--model", "odd-usage:m", "--out", out, "--quiet", *options,
                env=plugin_env)
    assert "asked 0" in again.stdout and (f"{bad} earlier errors kept" in again.stdout) == bool(bad), again.stdout
    score = cli("score", out, env=plugin_env)
    assert score.returncode == 0, score.stdout + score.stderr
    assert (f"read by request failed {bad}," in score.stdout) == bool(bad), score.stdout    # the score's errors
