"""Judge throughput: `mmad-eval judge` against a local OpenAI-compatible server (its own process) with a
fixed latency, and the client's CPU per judge request, on the synthetic set's open answers.

    python bench/bench_judge.py                 # 10 categories, every subtask asked open, 20 ms server latency
    python bench/bench_judge.py --latency 0.2
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import tempfile
import time
from pathlib import Path


def _responder(body):
    return json.dumps({"technical_accuracy": 4, "comprehensiveness": 3, "relevance": 5, "style": 4})


def _serve(queue, stop, latency) -> None:
    from mmad_eval.testing.openai_server import FakeOpenAIServer

    with FakeOpenAIServer(responder=_responder, latency_s=latency, keep_bodies=False) as srv:
        queue.put(srv.base_url)
        stop.wait()


def main() -> None:
    from mmad_eval.cli import main as cli
    from mmad_eval.commands.demo import prepare_data

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--latency", type=float, default=0.02, help="server seconds per request")
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "mmad-eval-bench-agent")
    args = ap.parse_args()
    _, qfile = prepare_data(args.cache, 0, None, quiet=True)
    ctx = mp.get_context("spawn")
    queue, stop = ctx.Queue(), ctx.Event()
    server = ctx.Process(target=_serve, args=(queue, stop, args.latency), daemon=True)
    server.start()
    url = queue.get(timeout=60)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "open"
            cli(["run", "--questions", str(qfile), "--model", "blind", "--out", str(out), "--answer-format", "open",
                 "--quiet"])
            c0, t0 = time.process_time(), time.perf_counter()
            cli(["judge", str(out), "--judge", "openai:bench-judge", "--base-url", url, "--bootstrap", "0", "--quiet"])
            cpu, wall = time.process_time() - c0, time.perf_counter() - t0
            asked = json.loads((out / "judged_blind.json").read_text())["asked"]
    finally:
        stop.set()
        server.join(10)
    print(f"\n{asked} judge requests in {wall:.1f} s: {asked / wall:.0f} requests/s at {1000 * args.latency:.0f} ms "
          f"server latency (16 in flight); client CPU {1000 * cpu / asked:.2f} ms per request")


if __name__ == "__main__":
    main()
