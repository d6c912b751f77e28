"""Ray workers never outlive their driver: each watches the driver's process and stops before sending more.

Ray itself removes a dead driver's workers only seconds later (they went on sending, and the restarted run
asked those requests again: billed twice), and a local Ray instance whose driver was killed leaves its
agent processes behind. So each :class:`~mmad_eval.backends.ray_pool.AnswerWorker` on the driver's machine
runs :func:`watch`: every :data:`WATCH_S` it checks that the driver process (pid and start time, so a reused
pid is not mistaken for it) still lives, and each request it takes is checked too; once the driver is gone it
stops the local Ray instance the driver started (every process of its session, agents included: the raylet's
children are listed again then, so agents started after the worker go too) and exits at once. A worker on
another machine cannot see the driver's process: there Ray's own clean-up applies.
"""
from __future__ import annotations

import os
import signal
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

WATCH_S = 0.05


def process_start(pid: int) -> str | None:
    """The start time of process ``pid`` (Linux ``/proc``), None when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rpartition(")")[2].split()[19]


def _node_id() -> str | None:
    """This process's Ray node id (None outside a connected Ray process)."""
    try:
        import ray

        return ray.get_runtime_context().get_node_id() if ray.is_initialized() else None
    except Exception:   # noqa: BLE001 - not known: the host name decides alone
        return None


def _parent(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])
    except (OSError, ValueError, IndexError):
        return None


@dataclass(frozen=True)
class DriverWatch:
    """Who the driver is (host, pid, start time) and, when it started a local Ray instance, its session."""

    host: str
    pid: int
    start: str | None
    session_dir: str | None = None
    node_id: str | None = None          # the driver's Ray node: a worker on the same node sees its process

    @classmethod
    def of_this_process(cls, session_dir: str | None = None) -> "DriverWatch":
        return cls(socket.gethostname(), os.getpid(), process_start(os.getpid()), session_dir, _node_id())

    def visible(self) -> bool:
        """Whether this process can see the driver's (same Ray node and machine, ``/proc`` readable)."""
        same = socket.gethostname() == self.host and (self.node_id is None or _node_id() == self.node_id)
        return same and self.start is not None and Path("/proc/self/stat").exists()

    def alive(self) -> bool:
        return not self.visible() or process_start(self.pid) == self.start


def _session_processes(session_dir: str, raylet_children: list[tuple[int, str | None]]) -> list[int]:
    """The local Ray instance's processes: those naming its session folder, and the raylet's children
    (agents rename themselves) recorded when the worker started, if still the same processes."""
    me = os.getpid()
    found = [pid for pid, start in raylet_children if pid != me and process_start(pid) == start]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != me:
            try:
                if session_dir.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def _children(pid: int) -> list[tuple[int, str | None]]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _parent(int(entry.name)) == pid:
            out.append((int(entry.name), process_start(int(entry.name))))
    return out


class Watcher:
    """One per worker process: :meth:`check` before each request, and a thread that does the same."""

    def __init__(self, driver: DriverWatch):
        self.driver = driver
        mine = bool(driver.session_dir and driver.visible())
        self.raylet = (os.getppid(), process_start(os.getppid())) if mine else None
        self.raylet_children = _children(os.getppid()) if mine else []
        self._thread: threading.Thread | None = None

    def start(self) -> "Watcher":
        if self.driver.visible() and self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="mmad-driver-watch", daemon=True)
            self._thread.start()
        return self

    def _loop(self) -> None:
        while True:
            self.check()
            time.sleep(WATCH_S)

    def check(self) -> None:
        """Return if the driver lives; else stop its local Ray instance and exit this process now."""
        if self.driver.alive():
            return
        if self.driver.session_dir:
            children = list(self.raylet_children)
            if self.raylet and process_start(self.raylet[0]) == self.raylet[1]:
                children += _children(self.raylet[0])     # agents the raylet started after this worker
            for pid in _session_processes(self.driver.session_dir, children):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        os._exit(1)

    def guard(self, items: list) -> list:
        """``items``, each checked against the driver's death when it is taken (to be sent)."""
        return _Guarded(items, self.check)


class _Guarded(list):
    """A list whose iteration calls ``check`` before each item (a lazy backend takes items as it sends)."""

    def __init__(self, items, check):
        super().__init__(items)
        self._check = check

    def __iter__(self):
        for item in super().__iter__():
            self._check()
            yield item
