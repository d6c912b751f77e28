"""The ``mmad-eval`` command line. Each subcommand lives in ``mmad_eval/commands/<name>.py``.

A command module defines ``HELP`` (one line), ``add_arguments(parser)`` and ``main(args) -> int``;
modules are imported only when their command runs (fast start, no heavy imports).
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from . import __version__, commands
from .errors import MmadError


def _command_names() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(commands.__path__) if not m.name.startswith("_"))


def _help_line(name: str) -> str:
    """Read HELP without importing the module's heavy dependencies (first HELP = line of the file)."""
    spec = importlib.util.find_spec(f"{commands.__name__}.{name}")
    for line in open(spec.origin, encoding="utf-8"):
        if line.startswith("HELP = "):
            return line[7:].strip().strip("\"'")
    return ""


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mmad-eval", description="Evaluate multimodal LLMs on MMAD-style "
                                     "industrial inspection questions.")
    parser.add_argument("--version", action="version", version=f"mmad-eval {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _command_names():
        cmd_name = name.replace("_", "-")
        p = sub.add_parser(cmd_name, help=_help_line(name))
        if only == cmd_name:
            module = importlib.import_module(f"{commands.__name__}.{name}")
            p.description = module.HELP
            module.add_arguments(p)
            p.set_defaults(_module=module)
    return parser


def _on_sigterm(signum, frame):
    from .errors import Stopped

    raise Stopped("SIGTERM")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    import signal
    import threading

    # SIGTERM stops a command as Ctrl-C does, while it runs; the caller's handler is back afterwards
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if in_main_thread else None
    try:
        return _main(argv)
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def _main(argv: list[str]) -> int:
    first = next((a for a in argv if not a.startswith("-")), None)
    try:
        parser = build_parser(only=first)
        args = parser.parse_args(argv)
        if not getattr(args, "_module", None):
            parser.print_help()
            return 0 if not argv else 2
        return int(args._module.main(args) or 0)
    except KeyboardInterrupt as e:
        how = getattr(e, "signal", "Ctrl-C")
        saved = getattr(e, "saved", "") or "answers so far are saved"
        print(f"stopped ({how}); {saved}; rerun the same command to resume", file=sys.stderr)
        return 143 if how == "SIGTERM" else 130
    except BrokenPipeError:          # output piped into e.g. `head`, which stopped reading: not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except BaseException as e:       # noqa: BLE001 - every failure is one line, never a traceback
        if isinstance(e, SystemExit):
            raise
        print(f"mmad-eval {first or ''}: error: {describe_failure(e)}".replace("mmad-eval : ", "mmad-eval: "),
              file=sys.stderr)
        return 2


def describe_failure(e: BaseException) -> str:
    """One line for any failure: our errors as they are; the rest named by what a user can act on."""
    import errno
    import sqlite3

    from .errors import clean_message
    from .redact import redact

    if isinstance(e, MmadError):
        text = str(e)
    elif isinstance(e, OSError):
        # a failed rename (os.replace(temporary, target)) names the user's file, not the temporary one
        where = f"{e.filename2 or e.filename}: " if e.filename else ""
        what = {errno.ENOSPC: "no space left on the device", errno.EROFS: "the file system is read-only",
                errno.EACCES: "permission denied", errno.EISDIR: "is a folder, expected a file",
                errno.ENOTDIR: "is not a folder"}.get(e.errno, e.strerror or str(e))
        text = f"{where}{what}"
    elif isinstance(e, sqlite3.Error):
        from .run.store_db import advice
        text = f"store: {advice(e)}"
    elif isinstance(e, RecursionError):
        text = "input nested too deeply to read (a JSON file with thousands of nested levels?)"
    elif isinstance(e, MemoryError):
        text = "out of memory (an input file far larger than expected, or a device file such as /dev/zero?)"
    else:
        text = (f"unexpected {type(e).__name__}: {e} (a bug in mmad-eval: please report it with the command "
                "that caused it)")
    return clean_message(redact(text).replace("\n", " "), 4000)


if __name__ == "__main__":
    sys.exit(main())
