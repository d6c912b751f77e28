"""Reading input files defensively: the path must be a regular file of sane size (not a folder, not a device
such as /dev/zero), JSON must not hide duplicate keys or nest without end. Errors name the file."""
from __future__ import annotations

import json
import re
import stat
from pathlib import Path

from .errors import DataError, quote

MAX_INPUT_BYTES = 2 << 30      # 2 GiB: far above any question or annotation file


def read_input(path: Path | str, what: str = "file", max_bytes: int = MAX_INPUT_BYTES) -> bytes:
    """The bytes of a regular file; DataError naming it when missing, a folder, a device or too large."""
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise DataError(f"{what} not found", culprit=str(path)) from None
    except OSError as e:
        raise DataError(f"cannot read {what}: {e.strerror}", culprit=str(path)) from None
    if stat.S_ISDIR(st.st_mode):
        raise DataError(f"is a folder; expected {_a(what)}", culprit=str(path))
    if not stat.S_ISREG(st.st_mode):
        raise DataError(f"is not a regular file (a device or pipe?); expected {_a(what)}", culprit=str(path))
    if st.st_size > max_bytes:
        raise DataError(f"{what} is {st.st_size / 2**30:.1f} GiB, over the {max_bytes / 2**30:.0f} GiB limit",
                        culprit=str(path))
    try:
        return path.read_bytes()
    except OSError as e:
        raise DataError(f"cannot read {what}: {e.strerror}", culprit=str(path)) from None


def _a(what: str) -> str:
    return ("an " if what[:1].lower() in "aeiou" else "a ") + what


def _no_duplicates(pairs: list) -> dict:
    seen: dict = {}
    for k, v in pairs:
        if k in seen:
            raise DataError(f"duplicate key {quote(k)} in one JSON object (the second would silently replace "
                            "the first)")
        seen[k] = v
    return seen


def parse_json(raw: bytes | str, where: str):
    """``json.loads`` that refuses duplicate keys, bad UTF-8, text that is not Unicode (a lone surrogate
    escape such as ``\\ud800``) and nesting too deep to read, naming ``where``."""
    try:
        data = json.loads(raw, object_pairs_hook=_no_duplicates)
    except DataError as e:
        raise DataError(str(e), culprit=where) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"malformed JSON: {e}", culprit=where) from None
    except RecursionError:
        raise DataError("JSON nested too deeply to read", culprit=where) from None
    if _SURROGATE_ESCAPE.search(raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogatepass")):
        place = _lone_surrogate(data, "")
        if place is not None:
            raise DataError(f"text at {place or 'the top level'} holds a lone surrogate (a \\uD800-\\uDFFF "
                            "escape without its pair): not Unicode text", culprit=where)
    return data


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")   # only then can a parsed string hold a lone surrogate
_SURROGATES = re.compile("[\ud800-\udfff]")


def _lone_surrogate(value, place: str) -> str | None:
    """Where in parsed JSON a string (or key) holds a lone surrogate (``["key"].field[3]``), else None. Pairs
    were already joined into one character by the parser, so any surrogate left is alone."""
    stack = [(value, place)]
    while stack:
        value, place = stack.pop()
        if isinstance(value, str):
            if _SURROGATES.search(value):
                return place
        elif isinstance(value, dict):
            for k, v in value.items():
                if _SURROGATES.search(k):
                    return f"{place}[{k!r}] (a key)"
                stack.append((v, f"{place}[{k!r}]"))
        elif isinstance(value, list):
            stack.extend((v, f"{place}[{i}]") for i, v in enumerate(value))
    return None
