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


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    first = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(only=first)
    args = parser.parse_args(argv)
    if not getattr(args, "_module", None):
        parser.print_help()
        return 0 if not argv else 2
    try:
        return int(args._module.main(args) or 0)
    except MmadError as e:
        print(f"mmad-eval {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; answers so far are saved, rerun the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
