"""Process pools for CPU-bound helpers (synthetic images, question measurements) that stop quietly.

Closing a pool terminates (SIGTERM) each worker that has not yet taken its stop sentinel. A worker forked from
the CLI inherited the CLI's SIGTERM handler (raise ``Stopped``): each printed a traceback, and one caught
between fork and its first task could hang the close; Ctrl-C reached every worker too. Workers of these pools
are started with SIGTERM blocked, reset it to the default (die at once) before unblocking it, and leave
Ctrl-C to the parent, which closes the pool.
"""
from __future__ import annotations

import multiprocessing
import signal

_MASKABLE = hasattr(signal, "pthread_sigmask")


def process_pool(processes: int, *, context: str | None = None, initializer=None, initargs: tuple = ()):
    """``multiprocessing.Pool`` of ``processes`` workers (start method ``context``; None: the default) whose
    workers run ``initializer(*initargs)`` after resetting their signal handlers."""
    ctx = multiprocessing.get_context(context)
    if not _MASKABLE:
        return ctx.Pool(processes, _quiet_worker, (initializer, initargs))
    before = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})   # inherited by the workers
    try:
        return ctx.Pool(processes, _quiet_worker, (initializer, initargs))
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def _quiet_worker(initializer, initargs: tuple) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if _MASKABLE:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})     # a pending SIGTERM now ends it
    if initializer is not None:
        initializer(*initargs)
