"""The one compatibility check between two records of the same run (used by run, resume and merge)."""
from __future__ import annotations

NOT_ANSWER_SETTINGS = {("model_spec", "price")}    # recorded, but no answer depends on them


def incompatibilities(a: dict, b: dict) -> list[str]:
    """Names of what differs between two run records in a way that changes answers (empty: compatible).

    Compared: every recorded setting, the model spec (less its list price, which a release may update), the
    question file's hash, the prompt template's hash and the backend's identity (left out when either record
    predates it).
    """
    diffs = []
    for section in ("settings", "model_spec"):
        sa, sb = a.get(section) or {}, b.get(section) or {}
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
