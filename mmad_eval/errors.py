"""Error types. Every error names its culprit (a file, a field, a request) so a user can act on it."""
from __future__ import annotations

import re

MAX_MESSAGE = 2000      # characters of a message kept (a message quoting a huge input is cut)
_ADDRESS = re.compile(r" (?:object )?at 0x[0-9a-fA-F]+")


def clean_message(text: str, limit: int = MAX_MESSAGE) -> str:
    """``text`` without Python object addresses (``<... at 0x7f..>``), cut to ``limit`` characters."""
    text = _ADDRESS.sub("", str(text))
    if len(text) > limit:
        text = text[:limit - 40] + f" ... [{len(text) - limit + 40:,} more characters]"
    return text


def quote(value, limit: int = 120) -> str:
    """``repr(value)`` cut to ``limit`` characters, for messages that quote input."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 20] + f"...[{len(text):,} chars]"


class MmadError(Exception):
    """Base class: a clear, one-line problem report that the CLI prints without a traceback."""

    def __init__(self, message: str, culprit: str | None = None):
        self.culprit = culprit
        message = clean_message(message)
        super().__init__(f"{clean_message(culprit, 500)}: {message}" if culprit else message)


class DataError(MmadError):
    """Bad input data: missing/corrupt image, wrong mask size, malformed JSON, path escaping the root."""


class LayoutError(DataError):
    """A source folder whose layout is unknown or inconsistent."""


class ConfigError(MmadError):
    """Bad settings: unknown model/preset/template, missing API key, missing optional extra."""


class MissingExtraError(ConfigError):
    """An optional dependency is not installed; the message says which extra to install."""

    def __init__(self, module: str, extra: str):
        super().__init__(f"needs the '{module}' package: pip install 'mmad-eval[{extra}]'", culprit=module)
        self.extra = extra


class BackendError(MmadError):
    """A backend failed to answer a request (after its retries)."""

    def __init__(self, message: str, culprit: str | None = None, kind: str = "error", attempts: int = 1):
        super().__init__(message, culprit)
        self.kind = kind
        self.attempts = attempts


class BackendStopped(ConfigError):
    """The server refused the key, the permission or the model: the run stops, nothing more is sent."""


class Stopped(KeyboardInterrupt):
    """Ctrl-C or SIGTERM (``signal``: which); a run that was stopped adds ``saved``: how many answers are
    saved where. A KeyboardInterrupt, so everything that cleans up after Ctrl-C does the same for both."""

    def __init__(self, signal: str = "Ctrl-C", saved: str = ""):
        super().__init__(signal)
        self.signal, self.saved = signal, saved
