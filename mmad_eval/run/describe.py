"""One line per run for people: what the model or baseline is, the protocol preset, the answer mode, the help it
got and which questions it was asked, all read from the run record."""
from __future__ import annotations

import re

from ..settings import OWN_PRESET


def backend_summary(kind: str) -> str | None:
    """What a backend is, in a few words: the class's ``summary`` if it has one, else the first sentence of its
    docstring (None for a docstring that lists options, or an unknown or unloadable backend)."""
    from ..backends.registry import backend_class

    try:
        cls = backend_class(kind)
    except Exception:       # a missing extra or a broken plugin: the report still describes the run
        return None
    text = getattr(cls, "summary", None) or (cls.__doc__ or "").strip()
    first = re.split(r"(?<=[a-z)])\.\s", " ".join(text.split()), maxsplit=1)[0].rstrip(".")
    first = re.sub(r"\s*\(.*\)$", "", first)        # a trailing aside: "(model = detector kind: ...)"
    return None if not first or first.startswith("Options") else first.replace("``", "")


def preset_description(spec: dict) -> str | None:
    """The description of the model preset the run used (``backends/presets.toml``), None when it used none."""
    from ..backends.registry import load_presets

    preset = load_presets().get(spec.get("name") or "")
    if preset is None or (preset.backend, preset.model) != (spec.get("backend"), spec.get("model")):
        return None
    return preset.description.rstrip(".") or None


def _model(record: dict) -> str:
    spec = record.get("model_spec") or {}
    kind, model = spec.get("backend"), spec.get("model") or (record.get("settings") or {}).get("model")
    if not kind:
        return str(model or record.get("name") or "unknown model")
    who = spec.get("name") or (kind if model in (None, kind) else f"{kind}:{model}")
    what = preset_description(spec) or backend_summary(kind)
    return f"{who}: {what}" if what else f"{model} via the {kind} backend"


def _help(record: dict) -> str:
    s = record.get("settings") or {}
    p, e = s.get("protocol") or {}, s.get("enhancements") or {}
    shots = p.get("shots")
    parts = ["no reference image" if p.get("references") == "none" or not shots
             else f"{shots} reference image{'s' if shots != 1 else ''}"]
    if e.get("knowledge"):
        parts.append("domain knowledge")
    if e.get("expert") not in (None, "none"):
        parts.append(f"expert hints ({e['expert']})")
    return " + ".join(parts)


def _value(v) -> str:
    if isinstance(v, dict):
        return str(v.get("name") or ", ".join(f"{k}={x}" for k, x in v.items()))
    return ", ".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v)


def _sample(record: dict) -> str:
    q, sl = record.get("questions") or {}, record.get("slice") or {}
    count, selected = q.get("count"), q.get("selected")
    chosen = [f"{k} {_value(v)}" for k, v in sl.items() if v not in (None, [], {}, "", False)]
    source = q.get("known_as") or (f"{q.get('file') or 'questions'} (sha256 {q['sha256'][:12]})" if q.get("sha256")
                                   else q.get("file"))
    if selected is None or count is None:
        return source or "questions unknown"
    head = f"all {count:,} questions" if selected == count else f"{selected:,} of {count:,} questions"
    return head + (f" ({'; '.join(chosen)})" if chosen else "") + (f" of {source}" if source else "")


def describe_run(record: dict) -> str:
    """e.g. ``random: Seeded random choice among the shown options (chance level) · protocol mmad-eval · answers
    generated · 1 reference image · all 743 questions of questions.json``."""
    s = record.get("settings") or {}
    mode = (s.get("generation") or {}).get("answer_mode") or "generate"
    answers = "answers generated" if mode == "generate" else f"answers by {mode}"
    return " · ".join([_model(record), f"protocol {s.get('preset') or OWN_PRESET}", answers, _help(record),
                       _sample(record)])
