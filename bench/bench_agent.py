"""Agent mode's harness overhead per turn, measured side by side with direct answering in one run.

A local OpenAI-compatible server (its own process, so its CPU is not ours) answers the first turn of every
question with a tool call and the next with a letter. The same questions are run directly (one turn) and in
agent mode (two turns, the tool being ``zoom``: a crop, resize and PNG encode per call), each into a fresh
store; the client process's CPU time and wall time are divided by the turns asked. The cost of the tools
themselves is printed apart (zoom per call; the detector per image, fit included, from the first call).

    python bench/bench_agent.py                  # the synthetic set (10 categories, ~600 questions)
    python bench/bench_agent.py --categories bottle,pill
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import tempfile
import time
from pathlib import Path


def _responder(body):
    from mmad_eval.testing.openai_server import option_letters

    if not any(m["role"] == "tool" for m in body["messages"]):
        return {"content": None, "tool_calls": [{"id": "c0", "type": "function", "function": {
            "name": "zoom", "arguments": json.dumps({"x1": 0, "y1": 0, "x2": 64, "y2": 64})}}]}
    first = next(m for m in body["messages"] if m["role"] == "user")
    return option_letters({"messages": [first]})[0]


def _serve(port_queue, stop) -> None:
    from mmad_eval.testing.openai_server import FakeOpenAIServer

    with FakeOpenAIServer(responder=_responder, keep_bodies=False) as srv:
        port_queue.put(srv.base_url)
        stop.wait()


def _timed(settings, qfile, out, url) -> tuple[float, float, int]:
    from mmad_eval.run.engine import run_evaluation

    c0, t0 = time.process_time(), time.perf_counter()
    s = run_evaluation(settings, qfile, out, backend_options={"base_url": url, "concurrency": 8})
    return time.process_time() - c0, time.perf_counter() - t0, s.asked


def main() -> None:
    from mmad_eval.commands.demo import prepare_data
    from mmad_eval.settings import AgentSettings, RunSettings

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--categories", default=None, help="synthetic categories (default: all ten)")
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "mmad-eval-bench-agent")
    args = ap.parse_args()
    _, qfile = prepare_data(args.cache, 0, args.categories, quiet=True)
    ctx = mp.get_context("spawn")
    ports, stop = ctx.Queue(), ctx.Event()
    server = ctx.Process(target=_serve, args=(ports, stop), daemon=True)
    server.start()
    url = ports.get(timeout=60)
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            direct = RunSettings(model="openai:bench")
            agent = RunSettings(model="openai:bench", agent=AgentSettings(tools=("zoom",), max_turns=3))
            for label, settings in (("direct (1 turn)", direct), ("agent, zoom (2 turns)", agent)):
                cpu, wall, asked = _timed(settings, qfile, Path(tmp) / label.split()[0], url)
                rows.append((label, asked, cpu, wall))
    finally:
        stop.set()
        server.join(10)
    print("| mode | turns asked | client CPU ms / turn | wall ms / turn |")
    print("|---|---|---|---|")
    for label, asked, cpu, wall in rows:
        print(f"| {label} | {asked} | {1000 * cpu / asked:.2f} | {1000 * wall / asked:.2f} |")
    (_, da, dc, _), (_, aa, ac, _) = rows
    print(f"\nagent / direct, client CPU per turn: {(ac / aa) / (dc / da):.2f}x")
    tool_costs(qfile)


def tool_costs(qfile: Path) -> None:
    """The tools alone: zoom per call, the detector per image (its first call fits the category)."""
    from mmad_eval.enhance.expert.service import ExpertService
    from mmad_eval.enhance.tools import InspectionTools
    from mmad_eval.run.plan import load_questions

    questions = load_questions(qfile)
    entries = list(questions.entries.values())[:20]
    root = qfile.parent
    service = ExpertService(root, questions)
    tools = InspectionTools(root, ("zoom", "detector"), lambda: service, None)
    t = time.perf_counter()
    for e in entries:
        tools.call(e, "zoom", json.dumps({"x1": 0, "y1": 0, "x2": 64, "y2": 64}))
    zoom_ms = 1000 * (time.perf_counter() - t) / len(entries)
    t = time.perf_counter()
    for e in entries:
        tools.call(e, "detector", "{}")
    det_ms = 1000 * (time.perf_counter() - t) / len(entries)
    print(f"zoom: {zoom_ms:.1f} ms per call; detector: {det_ms:.0f} ms per image over {len(entries)} images "
          f"({service.fits} category fits included)")


if __name__ == "__main__":
    main()
