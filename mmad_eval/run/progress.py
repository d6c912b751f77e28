"""A live progress bar for a run: done/total, rate, ETA, errors and tokens (rich; silent when disabled)."""
from __future__ import annotations

import sys
import time

from ..backends.base import Response


class RunProgress:
    def __init__(self, total: int, *, enabled: bool = True, label: str = "asking"):
        self.total = total
        self.done = 0
        self.errors = 0
        self.tokens = 0
        self.started = time.perf_counter()
        self._progress = None
        self._task = None
        if enabled and total:
            from rich.console import Console
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn,
                                       TimeElapsedColumn, TimeRemainingColumn)

            self._progress = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
                TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                TextColumn("errors {task.fields[errors]}  tokens {task.fields[tokens]}"),
                console=Console(file=sys.stderr), refresh_per_second=4, transient=False)
            self._task = self._progress.add_task(label, total=total, rate="", errors=0, tokens=0)

    def __enter__(self):
        if self._progress:
            self._progress.start()
        return self

    def __exit__(self, *exc):
        if self._progress:
            self._progress.stop()

    def advance(self, resp: Response, stored_ok: bool | None = None) -> None:
        """One answer done; ``stored_ok``: whether the store kept it as a good answer (default ``resp.ok``)."""
        self.done += 1
        if not (resp.ok if stored_ok is None else stored_ok):
            self.errors += 1
        self.tokens += sum(t for t in (resp.prompt_tokens, resp.completion_tokens) if type(t) is int)
        if self._progress:
            elapsed = max(time.perf_counter() - self.started, 1e-9)
            self._progress.update(self._task, advance=1, rate=f"{self.done / elapsed:.1f} req/s",
                                  errors=self.errors, tokens=self.tokens)
