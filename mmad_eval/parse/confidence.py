"""Verbalised confidence: "Confidence: 80%" (or 0.8, "80 percent") in a reply, read as a number in [0, 1].

The prompt ``mmad_confidence`` asks for it on its own line after the letter. The last statement counts;
values above 1 are read as percentages; anything outside [0, 100] is ignored.
"""
from __future__ import annotations

import re

_CONF = re.compile(r"confidence(?:\s+level)?\s*(?:is|of)?\s*[:：=]?\s*\**\s*(\d+(?:\.\d+)?)\s*(%|percent)?", re.I)


def verbal_confidence(text: str | None) -> float | None:
    """The stated confidence in [0, 1], or None."""
    if not text:
        return None
    found = _CONF.findall(text)
    if not found:
        return None
    value, pct = found[-1]
    v = float(value)
    if pct or v > 1:
        v /= 100
    return v if 0.0 <= v <= 1.0 else None


def without_confidence(text: str) -> str:
    """The reply with its confidence statements removed (so "80%" is never read as an answer)."""
    return _CONF.sub("", text)
