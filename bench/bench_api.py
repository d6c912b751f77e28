"""API throughput against a local fake OpenAI server with fixed latency: MMAD's reference loop vs our runner.

    python bench/bench_api.py                       # 200 ms latency, 2,560 questions for the runner
    python bench/bench_api.py --questions 1280 --slow-questions 40

The reference loop re-creates MMAD's GPT-4o script: one request in flight, every image re-read and
re-encoded for each request, and the whole results file rewritten after each image. Our runner is the
``openai`` backend through ``run_evaluation`` at 1, 8, 32 and 64 requests in flight. The server runs in its
own process. Ideal throughput = in-flight / latency. Client CPU includes the image-preparing threads;
server CPU is the fake server process (same machine), both per request.
"""
from __future__ import annotations

import argparse
import base64
import io
import json
import multiprocessing as mp
import os
import tempfile
import time
from pathlib import Path

import requests
from PIL import Image

from mmad_eval.prompt.images import ImageSettings
from mmad_eval.run.engine import run_evaluation
from mmad_eval.run.settings import RunSettings
from mmad_eval.run.slices import Slice

SHAPE = dict(images=540, per_image=5)    # MMAD's ~4.7 questions per image


def _process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a process (Linux /proc), or None where unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _serve(latency: float, port_q, stop_ev) -> None:
    from mmad_eval.testing.openai_server import FakeOpenAIServer

    with FakeOpenAIServer(latency_s=latency) as srv:
        port_q.put(srv.base_url)
        stop_ev.wait()


def _encode(path: Path) -> str:
    img = Image.open(path).convert("RGB")
    img.thumbnail((512, 512))
    buf = io.BytesIO()
    img.save(buf, "JPEG")
    return base64.b64encode(buf.getvalue()).decode()


def reference_loop(qfile: Path, root: Path, url: str, n_questions: int, results: Path) -> tuple[int, float]:
    """MMAD's GPT-4o loop shape: sequential, re-encode per request, rewrite all results after each image."""
    data = json.loads(qfile.read_text())
    answers, asked = [], 0
    t, c = time.perf_counter(), time.process_time()
    for key, entry in data.items():
        if asked >= n_questions:
            break
        for q in entry["conversation"]:
            if asked >= n_questions:
                break
            images = [_encode(root / p) for p in entry["random_templates"][:1]] + [_encode(root / key)]
            content = [{"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{b}", "detail": "low"}}
                       for b in images]
            options = "".join(f"{k}. {v}\n" for k, v in q["Options"].items())
            content.append({"type": "text", "text": f"Question: {q['Question']} \n{options}"})
            r = requests.post(f"{url}/chat/completions", json={"model": "fake", "max_tokens": 200,
                                                                "messages": [{"role": "user", "content": content}]})
            answers.append({"image": key, "question": q["Question"], "correct_answer": q["Answer"],
                            "gpt_answer": r.json()["choices"][0]["message"]["content"]})
            asked += 1
        results.write_text(json.dumps(answers, indent=4))
    return asked, time.perf_counter() - t, time.process_time() - c


def ours(qfile: Path, url: str, n_questions: int, in_flight: int, out: Path) -> tuple[int, float]:
    settings = RunSettings(model="openai:fake", images=ImageSettings(max_side=512, format="jpeg", detail="low"))
    t, c = time.perf_counter(), time.process_time()
    s = run_evaluation(settings, qfile, out, slice=Slice(limit=n_questions),
                       backend_options={"base_url": url, "concurrency": in_flight, "api_key": "local"})
    return s.asked, time.perf_counter() - t, time.process_time() - c


def main() -> None:
    from bench_engine import make_benchmark_set

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--latency", type=float, default=0.2)
    ap.add_argument("--questions", type=int, default=2560, help="questions for the runner at 8/32/64 in flight")
    ap.add_argument("--slow-questions", type=int, default=40, help="questions for the 1-in-flight cases")
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "mmad-eval-bench-images")
    args = ap.parse_args()
    qfile = make_benchmark_set(args.cache, max(SHAPE["images"], args.questions // SHAPE["per_image"] + 1))

    ctx = mp.get_context("spawn")
    port_q, stop_ev = ctx.Queue(), ctx.Event()
    server = ctx.Process(target=_serve, args=(args.latency, port_q, stop_ev), daemon=True)
    server.start()
    url = port_q.get(timeout=60)
    rows = []

    def measured(name, k, fn, *a):
        s0, l0 = _process_cpu_s(server.pid), os.getloadavg()[0]
        n, t, c = fn(*a)
        s1 = _process_cpu_s(server.pid)
        rows.append((name, k, n, t, c, None if s0 is None or s1 is None else s1 - s0,
                     max(l0, os.getloadavg()[0])))

    try:
        with tempfile.TemporaryDirectory() as tmp:
            measured("MMAD reference loop", 1, reference_loop, qfile, args.cache, url, args.slow_questions,
                     Path(tmp) / "answers.json")
            for k in (1, 8, 32, 64):
                n_q = args.slow_questions if k == 1 else args.questions
                measured("mmad-eval runner", k, ours, qfile, url, n_q, k, Path(tmp) / f"ours{k}")
    finally:
        stop_ev.set()
        server.join(timeout=10)
    ref_rate = rows[0][2] / rows[0][3]
    print(f"latency {args.latency * 1000:.0f} ms per request; whole run wall time, startup included; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print("| runner | in flight | requests | seconds | questions/s | ratio to ideal | x reference loop "
          "| client CPU ms/request | server CPU ms/request | load average |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, k, n, t, c, sc, load in rows:
        rate = n / t
        server_ms = "n/a" if sc is None else f"{1000 * sc / max(n, 1):.1f}"
        print(f"| {name} | {k} | {n} | {t:.1f} | {rate:.1f} | {rate / (k / args.latency):.2f} | "
              f"{rate / ref_rate:.1f} | {1000 * c / max(n, 1):.1f} | {server_ms} | {load:.1f} |")


if __name__ == "__main__":
    main()
