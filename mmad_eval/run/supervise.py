"""`run --ray` on a local Ray instance: the run goes on in a child process that this command watches.

When a process of the local instance dies under a run (its raylet, its object store, an agent), Ray ends
the driver from native code (``connection.cc``: "Terminate the process"), printing only its own log: no
Python code runs, so the run could not say what happened. The command therefore forks: the child runs the
evaluation as usual (same output, same exit code); the parent waits for it, forwards SIGINT/SIGTERM/SIGHUP to
it (the child has its own process group, so a Ctrl-C reaches it once), and when the child ended without
passing through Python's exit (it writes one byte to a pipe at exit), ends the run with one line. The child
dies with the parent (``PR_SET_PDEATHSIG``): killing the command kills the run, as before.
Elsewhere than Linux the run is not supervised.
"""
from __future__ import annotations

import atexit
import os
import signal
import sys

from ..errors import BackendStopped

_FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def run_supervised(body, culprit: str = "local Ray") -> int:
    """``body()`` in a watched child; its exit code, or one line (BackendStopped) when Ray ended it."""
    if not sys.platform.startswith("linux"):
        return body()
    sys.stdout.flush()
    sys.stderr.flush()
    parent = os.getpid()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        _die_with(parent)
        os.setpgid(0, 0)
        atexit.register(os.write, w, b"x")      # runs on every exit through Python, never on a native one
        return body()
    os.close(w)
    old = {s: signal.signal(s, lambda sig, frame: _send(pid, sig)) for s in _FORWARDED}
    try:
        _, status = os.waitpid(pid, 0)
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
    passed = os.read(r, 1) == b"x"
    os.close(r)
    code = os.waitstatus_to_exitcode(status)
    if passed:
        return code
    how = f"signal {-code}" if code < 0 else f"exit code {code}"
    raise BackendStopped(f"the local Ray instance failed under the run and Ray ended the run's process ({how}; "
                         "see Ray's lines above: its raylet, object store or an agent died); the answers stored "
                         "so far are kept: rerun the same command to ask the rest", culprit=culprit)


def _send(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _die_with(parent: int) -> None:
    """This (child) process is killed when ``parent`` dies (Linux ``prctl(PR_SET_PDEATHSIG, SIGKILL)``)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:       # the parent died before the request took effect
        os._exit(1)
