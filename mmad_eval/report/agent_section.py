"""The report's agent section: per agent run, how it used its tools and what they cost, and the paired
comparison with the same model answering directly (a run in the report whose settings differ only in agent
mode)."""
from __future__ import annotations

from dataclasses import dataclass

from ..run.loaded import LoadedRun
from ..score.ad_scores import detection_report
from ..score.agent import AgentSummary, agent_summary, direct_vs_agent
from ..score.compare import Comparison


@dataclass
class AgentCard:
    run: str
    tools: list[str]
    max_turns: int
    summary: AgentSummary
    direct: str | None = None                 # the run answering directly, when the report has one
    comparison: Comparison | None = None      # agent - direct, strict score, paired
    auroc: tuple[float | None, float | None] = (None, None)   # Anomaly Detection AUROC: direct, agent


def _auroc(records) -> float | None:
    rep = detection_report(records, n_boot=0)
    return rep.overall.auroc if rep is not None and rep.overall is not None else None


def _without_agent(record: dict) -> dict:
    return {k: v for k, v in (record.get("settings") or {}).items() if k != "agent"}


def agent_cards(runs: list[LoadedRun], n_boot: int = 1000) -> list[AgentCard]:
    cards = []
    for run in runs:
        agent = (run.record.get("settings") or {}).get("agent")
        summary = agent_summary(run.answers, (run.record.get("model_spec") or {}).get("price")) if agent else None
        if summary is None:
            continue
        direct = next((d for d in runs if not (d.record.get("settings") or {}).get("agent")
                       and _without_agent(d.record) == _without_agent(run.record)), None)
        cards.append(AgentCard(run.name, agent.get("tools", []), agent.get("max_turns", 0), summary,
                               direct.name if direct else None,
                               direct_vs_agent(direct.answers, run.answers, n_boot) if direct else None,
                               (_auroc(direct.answers) if direct else None, _auroc(run.answers))))
    return cards
