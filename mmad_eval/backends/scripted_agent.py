"""A scripted tool-using agent (no weights): the agent loop's offline baseline for the demo and the tests.

For Anomaly Detection and Defect Localization questions it calls ``detector()``, then ``zoom`` on the region
the detector points to (when it points anywhere), then answers from the detector's verdict (AD) or location
(DL). Other questions it answers at once with the text-only prior (the longest option), as ``blind`` does.
Without the tools it needs, it answers at once. It reads the tools' results from the conversation, so a
resumed run replays it exactly.
"""
from __future__ import annotations

import json

from ..prompt.message import Request
from .base import Response
from .baselines import BlindBackend, best_location_option, option_texts, yes_no_option

USES_TOOLS = ("Anomaly Detection", "Defect Localization")


def detector_facts(request: Request) -> dict | None:
    """The JSON facts of the last ``detector`` tool result in the conversation, if any."""
    for m in reversed(request.messages):
        if m.role == "tool" and m.text.startswith("detector:"):
            try:
                return json.loads(m.text.rsplit("\n", 1)[-1])
            except json.JSONDecodeError:
                return None
    return None


def zoomed(request: Request) -> bool:
    return any(m.role == "tool" and m.text.startswith("zoom:") for m in request.messages)


def _call(name: str, n: int, **args) -> dict:
    return {"id": f"call_{n}", "name": name, "arguments": json.dumps(args)}


class ScriptedAgentBackend(BlindBackend):
    """``--model scripted-agent`` with ``--agent detector,zoom``."""

    kind = "scripted-agent"
    supports_tools = True

    def answer(self, key: str, request: Request) -> Response:
        qtype = (request.meta or {}).get("type")
        if qtype not in USES_TOOLS or len(request.qids) != 1:
            return super().answer(key, request)
        turn = sum(1 for m in request.messages if m.role == "assistant") + 1
        facts = detector_facts(request)
        if facts is None and "detector" in request.tools:
            return Response(key=key, text="", extra={"tool_calls": [_call("detector", turn)]})
        if facts and facts.get("boxes") and "zoom" in request.tools and not zoomed(request):
            x1, y1, x2, y2 = facts["boxes"][0]
            pad = max(8, (x2 - x1 + y2 - y1) // 4)
            return Response(key=key, text="", extra={"tool_calls": [
                _call("zoom", turn, x1=x1 - pad, y1=y1 - pad, x2=x2 + pad, y2=y2 + pad)]})
        if facts is None:
            return super().answer(key, request)
        options = option_texts(request)
        letter = (yes_no_option(facts.get("verdict") == "defective", options) if qtype == "Anomaly Detection"
                  else best_location_option(facts.get("location") or "", options))
        return Response(key=key, text=letter) if letter else super().answer(key, request)
