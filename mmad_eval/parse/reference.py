"""MMAD's reference answer parser, emulated exactly.

The reference scripts run ``re.findall(r'\\b([A-E])\\b', reply)`` and keep the last match (some scripts
the first). It also matches the article "A" in prose ("A crack is visible" -> A). When a script passes
the options and nothing matches, it falls back to ``difflib.get_close_matches(reply, options, cutoff=0.0)``,
which always picks some option; that fallback is available here (``options=``) but off by default.
"""
from __future__ import annotations

import difflib
import re

REFERENCE_PATTERN = re.compile(r"\b([A-E])\b")


def reference_parse(text: str | None, take: str = "last", options: dict[str, str] | None = None) -> str | None:
    """The letter MMAD's scripts would record for ``text`` (``take`` = "last" or "first"), or None."""
    if take not in ("last", "first"):
        raise ValueError(f"take must be 'last' or 'first', got {take!r}")
    if text is None:
        return None
    found = REFERENCE_PATTERN.findall(text)
    if found:
        return found[-1] if take == "last" else found[0]
    if options:
        values = list(options.values())
        close = difflib.get_close_matches(text, values, n=1, cutoff=0.0)
        if close:
            return next(k for k, v in options.items() if v == close[0])
    return None


def reference_letters(text: str | None) -> list[str]:
    """Every standalone capital A-E of ``text`` in order (MMAD's Gemini script aligns them with its questions)."""
    return REFERENCE_PATTERN.findall(text or "")
