"""The one compatibility check between two records of the same run (used by run, resume and merge)."""
from __future__ import annotations

NOT_ANSWER_SETTINGS = {("model_spec", "price")}    # recorded, but no answer depends on them
AGENT_ONLY_OPTIONS = ("tool_call_format",)          # backend options read only when a run offers tools


def incompatibilities(a: dict, b: dict) -> list[str]:
    """Names of what differs between two run records in a way that changes answers (empty: compatible).

    Compared: every recorded setting, the model spec (less its list price, which a release may update), the
    question file's hash, the prompt template's hash and the backend's identity (left out when either record
    predates it).
    """
    diffs = []
    agent = bool((a.get("settings") or {}).get("agent") or (b.get("settings") or {}).get("agent"))
    for section in ("settings", "model_spec"):
        sa, sb = a.get(section) or {}, b.get(section) or {}
        if section == "model_spec" and not agent:     # e.g. a preset's tool_call_format: no plain run reads it
            sa, sb = _without_agent_options(sa), _without_agent_options(sb)
        diffs += [f"{section}.{k}" for k in sorted(set(sa) | set(sb))
                  if sa.get(k) != sb.get(k) and (section, k) not in NOT_ANSWER_SETTINGS]
    if (a.get("questions") or {}).get("sha256") != (b.get("questions") or {}).get("sha256"):
        diffs.append("questions.sha256")
    if (a.get("prompt") or {}).get("sha256") != (b.get("prompt") or {}).get("sha256"):
        diffs.append("prompt.sha256")
    ga, gb = (a.get("grounding_prompt") or {}).get("sha256"), (b.get("grounding_prompt") or {}).get("sha256")
    if ga and gb and ga != gb:
        diffs.append("grounding_prompt.sha256")
    if "backend_identity" in a and "backend_identity" in b and a["backend_identity"] != b["backend_identity"]:
        diffs.append("backend identity")
    return diffs


def _without_agent_options(spec: dict) -> dict:
    options = spec.get("options")
    if not isinstance(options, dict):
        return spec
    return {**spec, "options": {k: v for k, v in options.items() if k not in AGENT_ONLY_OPTIONS}}
