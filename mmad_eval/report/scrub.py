"""Safeguards for what a report displays: no absolute local paths, no secrets, no endless model text."""
from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath, PureWindowsPath

_SECRET_KEY = re.compile(r"(api[_-]?key|secret|password|passwd|authorization|bearer|(access|auth|hf|api)[_-]?token)$",
                         re.I)
_ABS = re.compile(r"^(/|~[/\\]|[A-Za-z]:[/\\]|\\\\)")
# an absolute path embedded in longer text, e.g. "cannot read /home/u/data/x.png: ..."
_EMBEDDED = re.compile(r"(?<![\w.:/])(/(?:home|Users|root|mnt|data|scratch|tmp|var|opt|srv|media|work)"
                       r"(?:/[^\s'\",;:()\[\]{}]+)+)")


def display_path(path: str | os.PathLike, base: Path | None = None) -> str:
    """A path for display: relative to ``base`` (default: the working directory) if inside it, else its name."""
    p = Path(path)
    try:
        return p.resolve().relative_to((base or Path.cwd()).resolve()).as_posix() or "."
    except (ValueError, OSError):
        return p.name


_KEY_LIKE = re.compile(r"\b(sk|rk|pk)-[A-Za-z0-9_\-*.]{4,}")
DISPLAY_CHARS = 4000     # model text (a reply, an error) shown in a report is cut after this many characters


def display_text(text: str | None, limit: int = DISPLAY_CHARS) -> str | None:
    """``text`` as a report shows it: at most ``limit`` characters, then "… (N more characters)" (the store
    keeps it whole; reports escape it like any text)."""
    if text is None or len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit:,} more characters)"


def scrub_text(text: str) -> str:
    """Replace absolute paths (whole value or embedded) by their last component; redact API-key-shaped text."""
    text = _KEY_LIKE.sub("[redacted]", text)
    if _ABS.match(text) and "\n" not in text:
        name = (PureWindowsPath(text) if "\\" in text else PurePosixPath(text)).name
        return name or "."
    home = str(Path.home())
    if len(home) > 1:
        text = text.replace(home, "~")
    return _EMBEDDED.sub(lambda m: ".../" + PurePosixPath(m.group(1)).name, text)


def scrub(value, key: str = ""):
    """A deep copy of a run record with secrets redacted and absolute paths reduced to basenames."""
    if isinstance(value, dict):
        return {k: scrub(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub(v, key) for v in value]
    if isinstance(value, str):
        if _SECRET_KEY.search(key) and value:
            return "[redacted]"
        return scrub_text(value)
    return value
