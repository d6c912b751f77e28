"""The run engine: question set -> plan -> store-cached backend -> run record, resumable and exact.

``run_evaluation`` reads as its steps: read the inputs, set up the enhancements and the backend (through
the one backend factory, with the run's context passed in), plan (:mod:`.plan`: requests, fingerprint,
what still needs an answer), check the plan against an earlier invocation of the same run, save it, execute
it through the store (:mod:`.executor`), and record the outcome.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from ..backends.base import Backend, RunContext
from ..backends.registry import build_backend
from ..enhance.pipeline import Enhancements
from ..enhance.tools import InspectionTools
from ..errors import ConfigError, Stopped
from ..settings import RunSettings
from .agent import AgentLoop, earlier_turns_usage
from .batch_ledger import BatchLedger
from .batch_mode import BatchOptions, StoreBatchedBackend
from .executor import Outcome, StoreCachedBackend
from .plan import Plan, RunInputs, load_questions, make_plan, save_plan  # noqa: F401  (load_questions: public)
from .run_record import invocation_entry, now_iso, with_invocation
from .slices import Slice
from .store import Store


def plural(n: int, noun: str) -> str:
    """``1 request``, ``2 requests``."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


@dataclass
class RunSummary:
    name: str
    out_dir: Path
    questions: int            # selected questions
    answers: int              # (question, rotation) records
    requests: int             # distinct requests
    asked: int                # sent to the backend in this invocation
    reused: int               # already in the store
    failed: int               # asked now and failed
    stored_errors: int        # failed before, not retried (use retry_failed)
    data_errors: int          # questions whose request could not be built (missing/escaping image paths)
    data_error_examples: list[str] = field(default_factory=list)
    unanswered: int = 0       # sent but never emitted by the backend (a backend bug)
    elapsed_s: float = 0.0
    record: dict = field(default_factory=dict)
    in_batches: int = 0       # pending but waiting in Batch API jobs (not asked live)
    batch: object = None      # batch_mode.BatchReport of a --batch-api invocation
    commits: dict = field(default_factory=dict)   # answers committed, transactions, longest wait (ms)
    answered: int = 0         # requests of the run with an answer stored now
    shared_with: dict = field(default_factory=dict)   # other runs holding reused answers: name -> requests
    agent: dict = field(default_factory=dict)     # agent mode: this invocation's conversations (run/agent.py)

    def line(self) -> str:
        rotations = f" ({self.answers} with rotations)" if self.answers != self.questions else ""
        s = f"{self.name}: {plural(self.questions, 'question')}{rotations} in {plural(self.requests, 'request')}: "
        if self.batch is not None:
            s += (f"sent {self.batch.submitted}, answered {self.answered}"
                  f"{' yet' if self.answered < self.requests else ''} (reused {self.reused}, failed {self.failed})")
        else:
            s += f"asked {self.asked}, reused {self.reused}, failed {self.failed}"
        if self.reused and self.shared_with:
            names = [f"{n} ({k})" for n, k in list(self.shared_with.items())[:3]]
            more = len(self.shared_with) - len(names)
            s += (f"; the reused answers are shared with run{'s' if len(self.shared_with) > 1 else ''} "
                  f"{', '.join(names)}{f' and {more} more' if more > 0 else ''} (equal settings give equal answers)")
        if self.stored_errors:
            s += f", {self.stored_errors} earlier errors kept (rerun with --retry-failed to ask them again)"
        if self.data_errors:
            s += (f"; {self.data_errors} questions could not be built (e.g. {self.data_error_examples[0]})")
        if self.unanswered:
            s += f"; {self.unanswered} requests got no answer from the backend"
        if self.in_batches:
            s += (f"; {self.in_batches} requests are waiting in Batch API jobs, not asked live "
                  f"(`mmad-eval batch status {self.out_dir}`; `batch cancel` to ask them live)")
        if self.batch is not None:
            s += "\n" + self.batch.line()
        if self.agent.get("conversations"):
            s += "\n" + agent_line(self.agent)
        return s


def agent_line(stats: dict) -> str:
    """What the agent did in this invocation, in one line."""
    n = stats["conversations"]
    calls = ", ".join(f"{name} {k}" for name, k in sorted(stats["tool_calls"].items())) or "none"
    line = (f"agent: {n} conversation{'s' * (n != 1)} rebuilt, {stats['turns']} turns, tool calls: {calls}")
    if stats["invalid_tool_calls"]:
        line += f"; {stats['invalid_tool_calls']} invalid calls answered with an error"
    if stats["turn_limit_endings"]:
        line += f"; {stats['turn_limit_endings']} ended by the turn limit ({stats['max_turns']})"
    return line


def run_evaluation(settings: RunSettings, questions_path, out_dir, name: str | None = None, data_root=None,
                   slice: Slice = Slice(), backend_options: dict | None = None, retry_failed: bool = False,
                   prompt_dir: Path | None = None, progress: bool = False,
                   backend_factory: Callable[..., Backend] | None = None,
                   batch: BatchOptions | None = None) -> RunSummary:
    """Run (or resume) one evaluation into ``out_dir``; returns what was asked, reused and failed.

    ``backend_factory`` replaces the backend class the model resolves to (tests, custom adapters, the Ray pool);
    ``batch`` sends what is pending through the Batch API instead of asking it live (:mod:`.batch_mode`).
    """
    t0, started = time.perf_counter(), time.time()
    if settings.agent.enabled and batch is not None:
        raise ConfigError("agent mode asks turn by turn, which the Batch API cannot: drop --batch-api",
                          culprit="--agent")
    inputs = RunInputs.read(settings, questions_path, data_root, prompt_dir)
    enh = Enhancements(settings.enhancements, settings.protocol, inputs.root, inputs.questions)
    context = RunContext(data_root=inputs.root, questions=inputs.questions, expert=enh.expert_of_kind,
                         tools=settings.agent.tools)
    spec, backend = build_backend(settings.model, generation=settings.generation, images=inputs.registry,
                                  options=backend_options, context=context, cls=backend_factory)
    if settings.agent.enabled:
        check_agent_backend(backend, settings)
    try:
        with Store(Path(out_dir)) as store:
            inputs.registry.spill_dir = store.dir     # images made in memory past its bound: a temporary file here
            plan = make_plan(store, name or spec.name, settings, inputs, enh, backend, spec, slice, retry_failed)
            plan.check_compatible(out_dir)
            invocation = invocation_entry()
            save_plan(store, plan, invocation, inputs.registry)
            try:
                if settings.agent.enabled:
                    outcome = answer_as_agent(store, plan, backend, settings, inputs, enh, retry_failed, progress,
                                              started)
                elif batch is None:
                    outcome = StoreCachedBackend(backend, store).answer(
                        plan.built.requests, retry_failed=retry_failed, progress=progress, since=started)
                else:
                    outcome = StoreBatchedBackend(backend, store, plan.name, batch).answer(
                        plan.built.requests, retry_failed=retry_failed, progress=progress)
            except BaseException as e:
                record_stop(store, plan, invocation, e)
                if isinstance(e, KeyboardInterrupt):      # Ctrl-C or SIGTERM: say what is kept, and where
                    raise stopped_with_count(e, store, plan.name) from None
                raise
            summary = summarise(store, plan, outcome, Path(out_dir), retry_failed)
            record_outcome(store, plan, summary, enh, inputs, spec, backend, invocation)
    finally:
        backend.close()
    summary.elapsed_s = time.perf_counter() - t0
    return summary


def check_agent_backend(backend: Backend, settings: RunSettings) -> None:
    """Agent mode needs a backend that returns tool calls, and (in-process) a chat template that shows the
    tools; otherwise one line, before anything is asked."""
    try:
        if not getattr(backend, "supports_tools", False):
            raise ConfigError(f"the {backend.kind} backend cannot call tools: agent mode needs an OpenAI-compatible "
                              "server that returns tool calls (e.g. `vllm serve --enable-auto-tool-choice "
                              "--tool-call-parser NAME`), an in-process model (hf:, vllm:) with --tool-call-format, "
                              "or the built-in scripted-agent", culprit=settings.model)
        if backend.options.get("tool_call_format") and not hasattr(backend, "tool_call_format"):
            raise ConfigError(f"the {backend.kind} backend receives tool calls already read (by its server); "
                              "--tool-call-format is for in-process models (hf:, vllm:)", culprit="--tool-call-format")
        backend.check_tools(settings.agent.tools)
    except BaseException:
        backend.close()
        raise


def answer_as_agent(store: Store, plan: Plan, backend: Backend, settings: RunSettings, inputs: RunInputs, enh,
                    retry_failed: bool, progress: bool, started: float) -> Outcome:
    """Agent mode: every conversation run turn by turn (:mod:`.agent`); the run's members then point at each
    conversation's last turn, and the statistics go into the run record."""
    agent = settings.agent
    protocol = settings.protocol
    tools = InspectionTools(inputs.root, agent.tools, lambda: enh.expert_of_kind(agent.detector), enh.retriever,
                            agent.zoom_side, (protocol.perturb, protocol.perturb_seed), protocol.perturb_references,
                            settings.images)
    loop = AgentLoop(backend, store, tools, agent, inputs.questions, inputs.registry)
    outcome, finals, stats = loop.answer(plan.built.requests, retry_failed=retry_failed, progress=progress,
                                         since=started)
    if finals:
        store.put_members(plan.name, [replace(m, request_key=finals.get(m.request_key, m.request_key))
                                      for m in plan.built.members])
    outcome.agent = stats
    return outcome


def summarise(store: Store, plan: Plan, outcome: Outcome, out_dir: Path, retry_failed: bool) -> RunSummary:
    """Counts of this invocation, including the entries a fast resume did not rebuild."""
    built, status = plan.built, outcome.status
    skipped = plan.skipped_keys - set(built.requests)
    kept_data_errors = sorted(k for k in skipped if k.startswith("data-error:"))
    n_requests = len(built.requests) + len({k for k in skipped if not k.startswith("data-error:")})
    stored_errors = outcome.stored_errors
    if not retry_failed:
        stored_errors += sum(1 for k in skipped if status.get(k) == "error" and not k.startswith("data-error:"))
    examples = set(built.data_errors.values()) | {
        r["error_message"] for r in store.requests_for(kept_data_errors[:3]).values()}
    return RunSummary(
        name=plan.name, out_dir=out_dir, questions=plan.question_count,
        answers=len(built.members) + plan.skipped_answers, requests=n_requests, asked=outcome.asked,
        reused=n_requests - outcome.pending, failed=outcome.failed, stored_errors=stored_errors,
        data_errors=len({m.qid for m in built.members if m.request_key in built.data_errors})
        + len(kept_data_errors), data_error_examples=sorted(examples)[:3], unanswered=outcome.unanswered,
        in_batches=outcome.in_batches, batch=outcome.batch, commits=outcome.commits, agent=outcome.agent,
        shared_with=store.sharing_runs(plan.name) if n_requests - outcome.pending else {},
        answered=store.answered_count(plan.name))


def record_outcome(store: Store, plan: Plan, summary: RunSummary, enh, inputs: RunInputs, spec,
                   backend: Backend, invocation: dict) -> None:
    """Complete the run record (end time, enhancements seen, usage and cost, this invocation in the log that
    other processes sharing the run may be adding to) and store it."""
    enh.merge_previous(plan.previous)
    record = plan.record
    usage = store.usage(plan.name)
    if plan.record["settings"].get("agent"):          # the turns before each conversation's answer count too
        earlier = earlier_turns_usage(store, plan.name)
        usage = {**usage, "agent_earlier_turns": earlier.pop("requests"),
                 **{k: usage.get(k, 0) + v for k, v in earlier.items()}}
    usage = with_cost(usage, spec.price, spec.batch_price, BatchLedger(store).usage(plan.name))
    last = {"asked": summary.asked, "reused": summary.reused, "failed": summary.failed,
            "data_errors": summary.data_errors, "image_encodes": inputs.registry.encodes,
            "image_encode_cpu_s": round(inputs.registry.encode_cpu_s, 4),
            "image_encode_on_read_cpu_s": round(inputs.registry.encode_on_read_cpu_s, 4),
            "distinct_images": len(plan.built.images), **backend.execution_report(),
            **({"commits": summary.commits} if summary.commits else {}),
            **({"agent": summary.agent} if summary.agent else {}),
            **({"batch": summary.batch.as_dict()} if summary.batch else {})}
    record.update(ended=now_iso(), enhancements=enh.describe(), usage=usage, last_invocation=last)
    invocation.update(ended=record["ended"], outcome="finished", **last)
    summary.record = store.update_run(plan.name, lambda cur: with_invocation(cur, record, invocation))


def stopped_with_count(e: KeyboardInterrupt, store: Store, name: str) -> Stopped:
    """The stop, with how many of the run's requests have an answer saved in which store."""
    try:
        answered, requests = store.answered_count(name), store.request_count(name)
    except Exception:  # noqa: BLE001 - a store that cannot be read still stops the run; say less
        return Stopped(getattr(e, "signal", "Ctrl-C"), f"answers so far are saved in {store.path}")
    return Stopped(getattr(e, "signal", "Ctrl-C"),
                   f"{answered} of {plural(requests, 'request')} of run {name} have an answer saved in {store.path}")


def record_stop(store: Store, plan: Plan, invocation: dict, e: BaseException) -> None:
    """Note in the run record why this invocation stopped early (when the store can still be written)."""
    invocation.update(ended=now_iso(), outcome=f"stopped: {type(e).__name__}")
    try:
        store.update_run(plan.name, lambda cur: with_invocation(cur, cur or plan.record, invocation))
    except Exception:  # noqa: BLE001 - the original failure is what the user needs to see
        pass


def with_cost(usage: dict, price: dict, batch_price: dict | None = None, batch_usage: dict | None = None) -> dict:
    """Add ``cost_usd`` from a preset's list price (USD per million input/output tokens), when known. Requests
    answered through the Batch API (``batch_usage``) cost the preset's ``batch_price`` (the list price when it
    has none); ``live_cost_usd`` is then what the whole run would have cost live."""
    if not price or usage.get("prompt_tokens") is None:
        return usage
    live = _cost(usage, price)
    if not batch_usage or not batch_usage.get("requests"):
        return {**usage, "cost_usd": round(live, 6), "price_per_mtok": dict(price)}
    bprice = dict(batch_price or price)
    cost = live - _cost(batch_usage, price) + _cost(batch_usage, bprice)
    return {**usage, "cost_usd": round(cost, 6), "live_cost_usd": round(live, 6), "price_per_mtok": dict(price),
            "batch": {**batch_usage, "price_per_mtok": bprice}}


def _cost(usage: dict, price: dict) -> float:
    """What the tokens billed cost (those of replaced outcomes included, when the usage counts them)."""
    prompt = usage.get("prompt_tokens_billed", usage.get("prompt_tokens")) or 0
    completion = usage.get("completion_tokens_billed", usage.get("completion_tokens")) or 0
    return prompt * price.get("input", 0) / 1e6 + completion * price.get("output", 0) / 1e6


def with_overrides(settings: RunSettings, **protocol) -> RunSettings:
    """A copy with protocol fields replaced (for ablations that vary one knob)."""
    return replace(settings, protocol=replace(settings.protocol, **protocol))
