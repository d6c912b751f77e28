"""Agent mode's measures: how a run used its tools, what they were worth, what they cost, and the paired
comparison with the same model answering directly.

Every number comes from the answers' trajectory summaries (``meta["agent"]``, written by
:mod:`mmad_eval.run.agent`) and the strict score's right/wrong per question (rotation 0).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from ..answers import AnswerRecord
from .compare import Comparison, compare_runs
from .scorers import STRICT


@dataclass
class ToolWorth:
    tool: str
    used: int                         # questions whose conversation called the tool
    used_accuracy: float | None       # strict accuracy (%) of those
    unused_accuracy: float | None     # and of the others


@dataclass
class AgentSummary:
    questions: int
    turns_per_question: float
    calls_per_100: dict[str, float]               # tool -> calls per 100 questions
    invalid_calls: int
    turn_limit_endings: int
    tokens_per_100_images: float | None           # prompt + completion tokens of every turn
    cost_per_100_images: float | None             # USD, when the preset has a list price
    worth: list[ToolWorth] = field(default_factory=list)


def _pct(flags: list[bool]) -> float | None:
    return 100.0 * sum(flags) / len(flags) if flags else None


def agent_summary(records: Sequence[AnswerRecord], price: dict | None = None) -> AgentSummary | None:
    """The summary of a run's agent conversations; None when the run has none (not an agent run)."""
    recs = [r for r in records if r.rotation == 0 and isinstance((r.meta or {}).get("agent"), dict)]
    if not recs:
        return None
    agents = [r.meta["agent"] for r in recs]
    right = [bool(STRICT.correct(r)) for r in recs]
    n, images = len(recs), len({r.image for r in recs}) or 1
    calls: dict[str, int] = {}
    for a in agents:
        for tool, k in (a.get("tool_calls") or {}).items():
            calls[tool] = calls.get(tool, 0) + int(k)
    prompt = sum(int(a.get("prompt_tokens") or 0) for a in agents)
    completion = sum(int(a.get("completion_tokens") or 0) for a in agents)
    cost = None
    if price and (prompt or completion):
        cost = 100 * (prompt * price.get("input", 0) + completion * price.get("output", 0)) / 1e6 / images
    worth = []
    for tool in sorted(calls):
        used = [(a.get("tool_calls") or {}).get(tool, 0) > 0 for a in agents]
        worth.append(ToolWorth(tool, sum(used), _pct([c for c, u in zip(right, used) if u]),
                               _pct([c for c, u in zip(right, used) if not u])))
    return AgentSummary(
        questions=n, turns_per_question=sum(int(a.get("turns") or 1) for a in agents) / n,
        calls_per_100={t: 100 * k / n for t, k in sorted(calls.items())},
        invalid_calls=sum(int(a.get("invalid_tool_calls") or 0) for a in agents),
        turn_limit_endings=sum(1 for a in agents if a.get("turn_limit")),
        tokens_per_100_images=100 * (prompt + completion) / images if prompt or completion else None,
        cost_per_100_images=cost, worth=worth)


def direct_vs_agent(direct: Sequence[AnswerRecord], agent: Sequence[AnswerRecord], n_boot: int = 1000) -> Comparison:
    """The agent run against the same model answering directly, paired on the shared questions (strict score;
    differences are agent - direct, with paired bootstrap CIs and McNemar per subtask)."""
    return compare_runs(direct, agent, STRICT, n_boot=n_boot)
