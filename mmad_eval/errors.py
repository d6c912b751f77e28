"""Error types. Every error names its culprit (a file, a field, a request) so a user can act on it."""
from __future__ import annotations


class MmadError(Exception):
    """Base class: a clear, one-line problem report that the CLI prints without a traceback."""

    def __init__(self, message: str, culprit: str | None = None):
        self.culprit = culprit
        super().__init__(f"{culprit}: {message}" if culprit else message)


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
