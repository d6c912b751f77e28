"""Agent mode: the model calls inspection tools (zoom, detector, references, compare) over several turns.

Each turn is an ordinary request through the store (:class:`~.executor.StoreCachedBackend`): the first turn's
request is the question with the tools offered; a reply with tool calls gets the tools' results (text in
``tool`` messages, images in a user message after them) and the whole conversation so far becomes the next
turn's request, whose key therefore holds every earlier turn. A killed run, rerun, rebuilds the same
conversations (tools are deterministic), finds each completed turn's answer in the store and asks only the
first missing turn. A reply without tool calls is the answer; after ``max_turns`` replies the last one is the
answer even if it still calls tools (usually no letter: then no answer). Invalid calls (an unknown tool, bad
arguments) are answered with an error text for the model and counted.

The run's members end pointing at each conversation's last turn (what is parsed and scored); that answer's
details carry the trajectory's summary (``agent``: turns, calls by tool, invalid calls, tokens over all turns,
whether the turn limit ended it, the keys of its turns).
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field, replace

from ..enhance.tools import InspectionTools, ToolResult
from ..prompt.images import ImageRegistry
from ..prompt.message import ImagePart, Message, Request, TextPart, ToolCall
from ..prompt.tools import LAST_TURN
from ..questions.model import QuestionSet
from ..settings import AgentSettings
from .executor import Outcome, StoreCachedBackend
from .store import Store


@dataclass
class Trajectory:
    """One conversation: the keys of its turns, and what happened in them."""

    keys: list[str]
    calls: Counter = field(default_factory=Counter)
    invalid: int = 0

    def summary(self, rows: dict, limit_hit: bool) -> dict:
        tokens = [(rows.get(k) or {}) for k in self.keys]
        return {"turns": len(self.keys), "tool_calls": dict(self.calls), "invalid_tool_calls": self.invalid,
                "turn_limit": limit_hit, "turn_keys": list(self.keys),
                "prompt_tokens": sum(r.get("prompt_tokens") or 0 for r in tokens),
                "completion_tokens": sum(r.get("completion_tokens") or 0 for r in tokens)}


def stored_tool_calls(row: dict | None) -> list[dict]:
    """The tool calls of a stored, successful reply (empty when it answered)."""
    if not row or row.get("status") != "ok" or not row.get("extra"):
        return []
    calls = json.loads(row["extra"]).get("tool_calls")
    return calls if isinstance(calls, list) else []


class AgentLoop:
    """Drives every conversation of a plan turn by turn through the store-cached backend."""

    def __init__(self, backend, store: Store, tools: InspectionTools, settings: AgentSettings,
                 questions: QuestionSet, registry: ImageRegistry):
        self.backend, self.store, self.tools, self.settings = backend, store, tools, settings
        self.questions, self.registry = questions, registry
        self.identity = backend.identity()

    def answer(self, first: dict[str, Request], *, retry_failed: bool = False, progress: bool = False,
               since: float | None = None) -> tuple[Outcome, dict[str, str], dict]:
        """Run every conversation to its end. Returns the combined outcome, first-turn key -> last-turn key,
        and the run's agent statistics."""
        total = Outcome()
        trajectories = {k: Trajectory([k]) for k in first}
        owner = {k: k for k in first}           # a turn's key -> its conversation's first-turn key
        current, finals, limit_hits = dict(first), {}, set()
        for turn in range(1, self.settings.max_turns + 1):
            if not current:
                break
            out = StoreCachedBackend(self.backend, self.store).answer(
                current, retry_failed=retry_failed, progress=progress, since=since)
            self._add(total, out, turn == 1)
            rows = self.store.requests_for(current)
            following: dict[str, Request] = {}
            for key, request in current.items():
                calls, conv = stored_tool_calls(rows.get(key)), owner[key]
                if not calls or turn == self.settings.max_turns:
                    finals[conv] = key
                    if calls:
                        limit_hits.add(conv)
                    continue
                nxt = self.next_request(request, rows[key], calls, trajectories[conv], turn + 1)
                nkey = nxt.key(self.identity)
                following[nkey] = nxt
                owner[nkey] = conv
                trajectories[conv].keys.append(nkey)
            current = following
        if not first:             # (a fast resume rebuilt nothing: the stored statuses of the entries it kept)
            total.status = self.store.statuses()
        all_rows = self.store.requests_for({k for t in trajectories.values() for k in t.keys})
        summaries = {finals[c]: {"agent": t.summary(all_rows, c in limit_hits)}
                     for c, t in trajectories.items() if c in finals}
        self.store.annotate(summaries)
        return total, finals, self.statistics([s["agent"] for s in summaries.values()])

    @staticmethod
    def _add(total: Outcome, out: Outcome, first_turn: bool) -> None:
        total.asked += out.asked
        total.failed += out.failed
        total.answered |= out.answered
        total.stored_errors += out.stored_errors     # (a failed turn ends its conversation: counted once)
        if first_turn:            # (the counts of reuse are the conversations', i.e. their first turns')
            total.status, total.in_batches, total.pending = out.status, out.in_batches, out.pending
        total.commits = out.commits or total.commits

    def next_request(self, request: Request, row: dict, calls: list[dict], trajectory: Trajectory,
                     turn: int) -> Request:
        """The conversation so far, the model's tool calls, and their results: the next turn's request."""
        entry = self.questions.entries[request.meta["image"]]
        shown = tuple(p.label for p in request.images() if p.role == "template")
        said = Message("assistant", (TextPart(row.get("text") or ""),),
                       tool_calls=tuple(ToolCall(c.get("id", ""), c.get("name", ""), c.get("arguments", ""))
                                        for c in calls))
        results, pictures = [], []
        for i, call in enumerate(calls):
            res = self._run_call(entry, call, shown, i, trajectory)
            results.append(Message("tool", (TextPart(res.text),), tool_call_id=call.get("id", "")))
            for png, label in res.images:
                sha = self.registry.add_bytes(png)
                self.store.put_images([(sha, None, png)])
                pictures += [TextPart(f"Image returned by {call.get('name')} ({label}):"),
                             ImagePart(sha, role="tool", label=label)]
        if turn == self.settings.max_turns:
            pictures.append(TextPart(LAST_TURN))
        extra = (Message("user", tuple(pictures)),) if pictures else ()
        return replace(request, messages=(*request.messages, said, *results, *extra))

    def _run_call(self, entry, call: dict, shown: tuple[str, ...], i: int, trajectory: Trajectory) -> ToolResult:
        """One call of a reply, counted by tool (names not offered count only as invalid); past
        ``max_tool_calls`` calls (hostile or runaway output) it is not run, only answered with an error."""
        name = call.get("name", "")
        limit = self.settings.max_tool_calls
        if i >= limit:
            res = ToolResult(f"error: at most {limit} tool calls are run per reply; this one was not", error=True)
        else:
            res = self.tools.call(entry, name, call.get("arguments", ""), shown)
            if name in self.settings.tools:
                trajectory.calls[name] += 1
        trajectory.invalid += res.error
        return res

    def statistics(self, summaries: list[dict]) -> dict:
        """Over the run's conversations: turns, calls by tool, invalid calls, turn-limit endings, tokens."""
        calls = Counter()
        for s in summaries:
            calls.update(s["tool_calls"])
        n = len(summaries)
        return {"conversations": n, "tools": list(self.settings.tools), "max_turns": self.settings.max_turns,
                "turns": sum(s["turns"] for s in summaries), "tool_calls": dict(calls),
                "invalid_tool_calls": sum(s["invalid_tool_calls"] for s in summaries),
                "turn_limit_endings": sum(1 for s in summaries if s["turn_limit"]),
                "prompt_tokens": sum(s["prompt_tokens"] for s in summaries),
                "completion_tokens": sum(s["completion_tokens"] for s in summaries)}


def earlier_turns_usage(store: Store, run: str) -> dict:
    """Requests and tokens of the turns before each conversation's last (its members point at the last turn
    only, so the store's usage leaves them out): stored and billed (retried attempts and replaced replies
    included, as :meth:`Store.usage` counts them); zeros for a run without agent conversations."""
    finals = store.requests_for({m.request_key for m in store.members(run)})
    earlier = {k for row in finals.values() if row.get("extra")
               for k in (json.loads(row["extra"]).get("agent") or {}).get("turn_keys", [])[:-1]}
    out = dict.fromkeys(("prompt_tokens", "completion_tokens", "requests_sent", "prompt_tokens_billed",
                         "completion_tokens_billed"), 0)
    rows = store.requests_for(earlier).values()
    for r in rows:
        before = (json.loads(r["extra"]) if r.get("extra") else {}).get("earlier") or {}
        out["prompt_tokens"] += r.get("prompt_tokens") or 0
        out["completion_tokens"] += r.get("completion_tokens") or 0
        out["requests_sent"] += (r.get("attempts") or 0) + (before.get("attempts") or 0)
        out["prompt_tokens_billed"] += (r.get("prompt_tokens") or 0) + (before.get("prompt_tokens") or 0)
        out["completion_tokens_billed"] += (r.get("completion_tokens") or 0) + (before.get("completion_tokens") or 0)
    return {"requests": len(rows), **out}
