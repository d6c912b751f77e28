"""The helper processes of ``synth`` and ``generate`` stop quietly: closing a pool sends its workers SIGTERM,
and a worker forked from the CLI inherited the CLI's SIGTERM handler (raise Stopped), so each worker still
alive at that moment printed a traceback (the demo printed two, now and then: a race with the workers'
own exit)."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

# A CLI process (its SIGTERM handler installed as cli.main does) opens and closes pools as synth and generate
# do: closing one terminates (SIGTERM) every worker that has not yet taken its stop sentinel.
SCRIPT = textwrap.dedent("""
    import signal, sys
    from mmad_eval import cli
    from mmad_eval.process_pool import process_pool
    signal.signal(signal.SIGTERM, cli._on_sigterm)
    for _ in range(6):
        with process_pool(3, context=sys.argv[1]) as pool:
            assert pool.map(abs, range(-6, 0)) == [6, 5, 4, 3, 2, 1]
    print("done")
""")


@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_pool_workers_die_quietly_on_sigterm(context):
    r = subprocess.run([sys.executable, "-c", SCRIPT, context], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr and "Stopped" not in r.stderr, r.stderr
    assert r.stdout.split() == ["done"], r.stdout + r.stderr


def test_pool_runs_the_callers_initializer():
    from mmad_eval.process_pool import process_pool

    with process_pool(2, initializer=_set_marker, initargs=("ready",)) as pool:
        assert pool.map(_read_marker, range(4)) == ["ready"] * 4


_MARKER: dict = {}


def _set_marker(value):
    _MARKER["value"] = value


def _read_marker(_):
    return _MARKER.get("value")
