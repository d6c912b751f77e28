"""API throughput against a local fake OpenAI server with fixed latency: our runner vs the leanest client.

    python bench/bench_api.py                                  # lean-client comparison, 64 and 256 in flight
    python bench/bench_api.py --questions 1280 --repeats 4     # five waves at 256 in flight: more start-up weight
    python bench/bench_api.py --mmad-loop                      # also MMAD's reference loop (one in flight)
    python bench/bench_api.py --pool-sizes 1,4,16              # the lean client alone, per connections per pool
    python bench/bench_api.py --canned --in-flight 256         # our sending loop alone, replies canned (no HTTP)

Lean client: one ``httpx.AsyncClient`` of one connection per worker (httpx scans its whole pool on every
request; ``--pool-sizes 1,4,16`` measures what pools cost), the request bodies pre-built as
bytes before timing (byte-for-byte the bodies our runner sent in an untimed warm-up run: same prompts, same
images), N workers posting them and reading the answer out of the JSON. Ours: ``mmad-eval run`` through the
``openai`` backend (``run_evaluation``, a fresh output folder each time: nothing reused), PNG images sent as
they are. Both against the same server process, one after the other (lean first in odd repeats, ours first in
even ones), repeated; throughput is timed from the
server's log (first request's arrival to last reply), so our start-up (loading questions, hashing images,
building requests) is not in it, and the ratio is ours / lean of the same repeat.

Client CPU per request: the client process's CPU time divided by the requests. Lean: while sending (making
its clients, before the first request, is left out). Ours, two figures: the sending phase (the backend's
``generate``: bodies, HTTP, parsing, the store's commits; the window the server's log times) and the whole call
(start-up included: loading questions, hashing images, building and keying requests, the run record); both
without the first-time encoding of each distinct image (measured by the registry, printed apart). The
server's own CPU is on the same cores. Also printed: how many answers the store committed per transaction
and the longest an answer waited in memory for its commit (what a kill at the worst moment could lose
besides the requests in flight: nothing, as a worker sends no more before its answer is committed).

``--mmad-loop`` adds the older table: MMAD's GPT-4o script re-created (one request in flight, every image
re-read and re-encoded as a 512-px JPEG per request, the results file rewritten after each image) against
our runner at 1 and 64 in flight with the same 512-px JPEG settings (whole-run wall time).
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import multiprocessing as mp
import os
import pickle
import statistics
import tempfile
import time
from pathlib import Path

from PIL import Image

from mmad_eval.prompt.images import ImageSettings
from mmad_eval.run.engine import run_evaluation
from mmad_eval.run.settings import RunSettings
from mmad_eval.run.slices import Slice

SHAPE = dict(images=540, per_image=5)    # MMAD's ~4.7 questions per image
SETTLE_S = 0.5      # pause before each timed run (the server's threads of the last one wind down)


def _process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a process (Linux /proc), or None where unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


# -- the server process ------------------------------------------------------------------------------------
def _serve(latency: float, conn) -> None:
    """The fake server; answers commands on ``conn``: "record" (keep the next bodies as JSON bytes),
    "log" (arrival and reply times since the last "log", and the bodies recorded), "stop"."""
    from mmad_eval.testing.openai_server import FakeOpenAIServer, default_responder

    recorded: list[bytes] = []
    recording = [False]

    def responder(body: dict):
        if recording[0]:
            recorded.append(json.dumps(body).encode())
        return default_responder(body)

    with FakeOpenAIServer(responder=responder, latency_s=latency, keep_bodies=False) as srv:
        conn.send(srv.base_url)
        seen = 0
        while (cmd := conn.recv()) != "stop":
            if cmd == "record":
                recording[0] = True
                continue
            arrivals, replies = srv.arrivals[seen:], srv.replies[seen:]
            seen += len(replies)
            recording[0] = False
            conn.send((arrivals, replies, list(recorded)))
            recorded.clear()


class Server:
    def __init__(self, latency: float):
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(latency, child), daemon=True)
        self.proc.start()
        self.url = self.conn.recv()

    def log(self):
        """(requests, seconds from first arrival to last reply, bodies recorded) since the last call."""
        self.conn.send("log")
        arrivals, replies, bodies = self.conn.recv()
        return len(replies), (max(replies) - min(arrivals)) if replies else float("nan"), bodies

    def close(self) -> None:
        self.conn.send("stop")
        self.proc.join(timeout=10)


# -- the clients ---------------------------------------------------------------------------------------------
async def _lean(url: str, bodies: list[bytes], in_flight: int, per_pool: int) -> float:
    """Post every body; returns the CPU seconds spent making the clients (not part of sending)."""
    import httpx

    # httpx scans its whole pool per request: one client of one connection per worker is the cheapest
    # (`--pool-sizes` measures it: 0.60 CPU ms/request at 256 in flight, 16 per pool 0.83, one pool of 256 ~10x)
    c = time.process_time()
    n_pools = -(-in_flight // per_pool)
    limits = httpx.Limits(max_connections=per_pool, max_keepalive_connections=per_pool)
    headers = {"Authorization": "Bearer local", "Content-Type": "application/json"}
    tls = httpx.create_ssl_context()            # one TLS context for all pools (what each would load for itself)
    clients = [httpx.AsyncClient(base_url=url, limits=limits, timeout=120, headers=headers, verify=tls)
               for _ in range(n_pools)]
    setup = time.process_time() - c
    todo = iter(bodies)

    async def worker(client):
        for body in todo:
            r = await client.post("/chat/completions", content=body)
            r.raise_for_status()
            assert r.json()["choices"][0]["message"]["content"]

    try:
        await asyncio.gather(*(worker(clients[i % n_pools]) for i in range(in_flight)))
    finally:
        for client in clients:
            await client.aclose()
    return setup


def lean_client(url: str, bodies: list[bytes], in_flight: int, per_pool: int = 1) -> tuple[int, float]:
    """(requests, client CPU seconds while sending: the whole call less making the clients)."""
    c = time.process_time()
    setup = asyncio.run(_lean(url, bodies, in_flight, per_pool))
    return len(bodies), time.process_time() - c - setup


SENDING_CPU: list[float] = []      # process CPU seconds of each OpenAIBackend.generate call (the sending phase)


def _timed_generate():
    """OpenAIBackend.generate wrapped to record its process CPU time (installed once by the bench)."""
    from mmad_eval.backends.openai_api import OpenAIBackend

    original = OpenAIBackend.generate

    async def generate(self, items, emit):
        c = time.process_time()
        try:
            await original(self, items, emit)
        finally:
            SENDING_CPU.append(time.process_time() - c)

    OpenAIBackend.generate = generate


COMMITS: list[dict] = []          # the store's commits of each run of ours (answers, transactions, longest wait)


def ours(qfile: Path, url: str, n_questions: int, in_flight: int, out: Path,
         images: ImageSettings = ImageSettings()) -> tuple[int, float, float, float]:
    """(requests asked, client CPU s of the whole call and of the sending phase, both without the first-time
    image encoding, that encoding's CPU s)."""
    settings = RunSettings(model="openai:fake", images=images)
    c = time.process_time()
    s = run_evaluation(settings, qfile, out, slice=Slice(limit=n_questions),
                       backend_options={"base_url": url, "concurrency": in_flight, "api_key": "local"})
    last = s.record["last_invocation"]
    encode_s = last.get("image_encode_cpu_s", 0.0)                          # all first-time encoding ...
    while_sending = encode_s - last.get("image_encode_on_read_cpu_s", 0.0)   # ... less what the plan did
    COMMITS.append(last.get("commits", {}))
    return s.asked, time.process_time() - c - encode_s, SENDING_CPU[-1] - while_sending, encode_s


def _encode(path: Path) -> str:
    img = Image.open(path).convert("RGB")
    img.thumbnail((512, 512))
    buf = io.BytesIO()
    img.save(buf, "JPEG")
    return base64.b64encode(buf.getvalue()).decode()


def reference_loop(qfile: Path, root: Path, url: str, n_questions: int, results: Path) -> tuple[int, float]:
    """MMAD's GPT-4o loop shape: sequential, re-encode per request, rewrite all results after each image."""
    import requests

    data = json.loads(qfile.read_text())
    answers, asked = [], 0
    c = time.process_time()
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
    return asked, time.process_time() - c


# -- the tables ----------------------------------------------------------------------------------------------
def _child(conn, what: str, args: tuple) -> None:
    """Run one client in this fresh process and send back its figures (see :func:`in_fresh_process`)."""
    import httpx  # noqa: F401  (imported before any CPU is counted, by both clients)

    if what == "lean":
        url, bodies_file, k, *per_pool = args
        conn.send(lean_client(url, pickle.loads(Path(bodies_file).read_bytes()), k, *per_pool))
    else:
        _timed_generate()
        conn.send((ours(*args), COMMITS[-1]))


def in_fresh_process(what: str, *args):
    """Each timed run in its own new process, so neither client pays for what earlier runs left in memory
    (a garbage collection scans every live object: run after run in one process, the later ones slow down)."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_child, args=(child, what, args), daemon=True)
    proc.start()
    try:
        return parent.recv()
    finally:
        proc.join(timeout=30)


def lean_comparison(server: Server, qfile: Path, n: int, in_flights: list[int], repeats: int, tmp: Path,
                    lean_per_client: int = 1):
    """Rows (in flight, repeat, lean q/s, ours q/s, lean CPU ms/req, ours CPU ms/req, encode ms/image)."""
    server.conn.send("record")
    ours(qfile, server.url, n, 64, tmp / "warm-up")              # untimed: warms the file cache, records bodies
    _, _, bodies = server.log()
    bodies_file = tmp / "bodies.pickle"
    bodies_file.write_bytes(pickle.dumps(bodies))
    rows = []
    for rep in range(repeats):
        for k in in_flights:
            def run_lean():
                time.sleep(SETTLE_S)
                asked, cpu = in_fresh_process("lean", server.url, bodies_file, k, lean_per_client)
                return (asked, cpu), server.log()

            def run_ours():
                time.sleep(SETTLE_S)
                got, commits = in_fresh_process("ours", qfile, server.url, n, k, tmp / f"ours-{k}-{rep}")
                COMMITS.append(commits)
                return got, server.log()

            if rep % 2:           # every other repeat ours goes first: neither client always follows the other
                (asked_o, cpu_o, send_o, enc_o), (n_o, span_o, _) = run_ours()
                (asked_l, cpu_l), (n_l, span_l, _) = run_lean()
            else:
                (asked_l, cpu_l), (n_l, span_l, _) = run_lean()
                (asked_o, cpu_o, send_o, enc_o), (n_o, span_o, _) = run_ours()
            assert n_l == asked_l == len(bodies) and n_o == asked_o == len(bodies), (n_l, asked_l, n_o, asked_o)
            commits = COMMITS[-1]
            rows.append((k, rep, n_l / span_l, n_o / span_o, 1000 * cpu_l / n_l, 1000 * send_o / n_o,
                         1000 * cpu_o / n_o, enc_o, os.getloadavg()[0],
                         commits.get("answers", 0) / max(1, commits.get("transactions", 0)),
                         commits.get("max_wait_ms", float("nan"))))
    return len(bodies), rows


def pool_sizes(server: Server, qfile: Path, n: int, in_flights: list[int], sizes: list[int], repeats: int,
               tmp: Path) -> None:
    """The lean client alone with ``size`` connections per httpx client: CPU per request and throughput."""
    server.conn.send("record")
    ours(qfile, server.url, n, 64, tmp / "warm-up")
    _, _, bodies = server.log()
    bodies_file = tmp / "bodies.pickle"
    bodies_file.write_bytes(pickle.dumps(bodies))
    rows: dict = {}
    for rep in range(repeats):
        for k in in_flights:
            for size in (sizes if rep % 2 == 0 else sizes[::-1]):
                time.sleep(SETTLE_S)
                asked, cpu = in_fresh_process("lean", server.url, bodies_file, k, size)
                got, span, _ = server.log()
                rows.setdefault((k, size), []).append((got / span, 1000 * cpu / got))
    print(f"\n## the lean client by connections per httpx client: {len(bodies)} requests, median of {repeats}")
    print("| in flight | connections per client | q/s | client CPU ms/request |")
    print("|---|---|---|---|")
    for (k, size), got in sorted(rows.items()):
        print(f"| {k} | {size} | {statistics.median(r[0] for r in got):.1f} | "
              f"{statistics.median(r[1] for r in got):.3f} |")


def canned_overhead(qfile: Path, n: int, in_flight: int, repeats: int, tmp: Path) -> None:
    """Our sending loop's own CPU per request: the HTTP call replaced by a canned reply (no I/O at all)."""
    import mmad_eval.backends.openai_api as api

    reply = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "A"}, "finish_reason": "stop"}],
             "usage": {"prompt_tokens": 100, "completion_tokens": 1}}

    class CannedPoster:
        def __init__(self, *args, **kwargs):
            pass

        async def post(self, path, body, worker):
            await asyncio.sleep(0)
            return 0, json.loads(json.dumps(reply))

        async def aclose(self):
            pass

    real, api.JSONPoster = api.JSONPoster, CannedPoster
    try:
        got = []
        for rep in range(repeats):
            asked, _, send, _ = ours(qfile, "http://127.0.0.1:9", n, in_flight, tmp / f"canned-{rep}")
            got.append(1000 * send / asked)
    finally:
        api.JSONPoster = real
    print(f"\n## our sending loop without HTTP: {n} requests, {in_flight} in flight, canned replies")
    print(f"CPU ms per request (first-time image encoding while sending excluded): median "
          f"{statistics.median(got):.4f}, each repeat {', '.join(f'{x:.4f}' for x in got)}")


def print_lean(n: int, rows, latency: float) -> None:
    print(f"\n## ours vs the lean client: {n} requests (2 PNG images each, sent as they are), "
          f"{latency * 1000:.0f} ms server latency, timed from the server's log")
    print("| in flight | repeat | lean q/s | ours q/s | ours / lean | lean CPU ms/req sending | ours CPU ms/req "
          "sending | ours CPU ms/req whole call | ours first-time encode CPU s | answers per commit "
          "| longest wait for a commit, ms | load |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for k, rep, lq, oq, lc, sc, oc, enc, load, per_commit, wait in rows:
        print(f"| {k} | {rep + 1} | {lq:.1f} | {oq:.1f} | {oq / lq:.3f} | {lc:.2f} | {sc:.2f} | {oc:.2f} | "
              f"{enc:.2f} | {per_commit:.1f} | {wait:.1f} | {load:.1f} |")
    print("\n| in flight | ideal q/s | lean q/s (median) | ours q/s (median) | ours / lean (median of repeats) "
          "| ours / lean (best of each) | lean CPU ms/req sending | ours CPU ms/req sending | ours CPU ms/req whole call |")
    print("|---|---|---|---|---|---|---|---|---|")
    for k in sorted({r[0] for r in rows}):
        mine = [r for r in rows if r[0] == k]
        med = lambda i: statistics.median(r[i] for r in mine)   # noqa: E731
        print(f"| {k} | {k / latency:.0f} | {med(2):.1f} | {med(3):.1f} | "
              f"{statistics.median(r[3] / r[2] for r in mine):.3f} | "
              f"{max(r[3] for r in mine) / max(r[2] for r in mine):.3f} | {med(4):.2f} | {med(5):.2f} | "
              f"{med(6):.2f} |")


def mmad_loop_table(server: Server, qfile: Path, cache: Path, n_slow: int, n: int, tmp: Path,
                    latency: float) -> None:
    """MMAD's loop (1 in flight) vs ours at 1 and 64 in flight, all with 512-px JPEG images, whole-run wall
    time (start-up included)."""
    rows = []
    t = time.perf_counter()
    asked, cpu = reference_loop(qfile, cache, server.url, n_slow, tmp / "answers.json")
    rows.append(("MMAD reference loop", 1, asked, time.perf_counter() - t, cpu))
    server.log()
    for k, n_q in ((1, n_slow), (64, n)):
        t = time.perf_counter()
        asked, cpu, _, enc = ours(qfile, server.url, n_q, k, tmp / f"ours-jpeg-{k}",
                                  ImageSettings(max_side=512, format="jpeg", detail="low"))
        rows.append(("mmad-eval", k, asked, time.perf_counter() - t, cpu + enc))
        server.log()
    ref = rows[0][2] / rows[0][3]
    print("\n## MMAD's reference loop vs ours, 512-px JPEG images, whole-run wall time (start-up included)")
    print("| runner | in flight | requests | seconds | questions/s | ratio to ideal | x reference loop "
          "| client CPU ms/request |")
    print("|---|---|---|---|---|---|---|---|")
    for name, k, asked, secs, cpu in rows:
        print(f"| {name} | {k} | {asked} | {secs:.1f} | {asked / secs:.1f} | {asked / secs * latency / k:.2f} | "
              f"{asked / secs / ref:.1f} | {1000 * cpu / asked:.1f} |")


STAGES = [  # (stage, functions whose cumulative time it is); inner ones are subtracted from outer ones
    ("read + hash images (small PNGs' data URLs made from those bytes)", ["mmad_eval/prompt/images.py:add_file"]),
    ("image data URLs while sending (cache reads; other images' first encoding)",
     ["mmad_eval/prompt/images.py:data_url_bytes"]),
    ("message building (render, key)", ["mmad_eval/run/plan.py:build_requests"]),
    ("claiming requests (leases)", ["mmad_eval/run/leases.py:claim"]),
    ("request body (JSON, once per request)", ["mmad_eval/backends/openai_api.py:body"]),
    ("HTTP client (httpx, reply JSON)", ["mmad_eval/backends/http_json.py:post"]),
    ("parsing the reply", ["mmad_eval/backends/openai_api.py:_to_response"]),
    ("store: answers (rows, commits)", ["mmad_eval/run/answer_writer.py:_row", "mmad_eval/run/store.py:put_rows"]),
    ("store: members, images, run record", ["mmad_eval/run/store.py:put_members",
                                            "mmad_eval/run/store.py:put_images", "mmad_eval/run/store.py:put_run"]),
]


def profile_breakdown(server: Server, qfile: Path, n: int, in_flight: int, tmp: Path) -> None:
    """CPU per request by stage, from cProfile's cumulative CPU times of the event-loop thread in one run
    (profiled, so slower: the shares are what matter), scaled to the unprofiled run's CPU per request (the
    whole call; the small PNGs of this set are all made in place, on the event loop, so every stage is on
    the profiled thread)."""
    import cProfile
    import pstats

    asked, cpu, _, enc = ours(qfile, server.url, n, in_flight, tmp / "plain")
    server.log()
    prof = cProfile.Profile(time.thread_time)     # CPU of the event-loop thread (idle waits are not CPU)
    prof.enable()
    ours(qfile, server.url, n, in_flight, tmp / "profiled")
    prof.disable()
    server.log()
    stats = pstats.Stats(prof).stats
    total = sum(v[2] for v in stats.values())            # all own time = the profiled thread's CPU
    cum = {}
    for (file, _, func), v in stats.items():
        for stage, names in STAGES:
            if any(file.endswith(name.split(":")[0]) and func == name.split(":")[1] for name in names):
                cum[stage] = cum.get(stage, 0.0) + v[3]
    cum["message building (render, key)"] = cum.get("message building (render, key)", 0.0) \
        - cum.get(STAGES[0][0], 0.0)                               # images are read inside build_requests
    whole = cpu + enc
    print(f"\n## where the client's CPU goes: {asked} requests, {in_flight} in flight (cProfile; unprofiled "
          f"client CPU {1000 * whole / asked:.2f} ms/request, whole call)")
    print("| stage | share of the event-loop thread's CPU | ms/request (scaled to the unprofiled run) |")
    print("|---|---|---|")
    rest = total
    for stage, _ in STAGES:
        t = cum.get(stage, 0.0)
        rest -= t
        print(f"| {stage} | {100 * t / total:.1f}% | {1000 * whole * t / total / asked:.3f} |")
    print(f"| the rest (event loop, workers, loading questions, run record) | {100 * rest / total:.1f}% | "
          f"{1000 * whole * rest / total / asked:.3f} |")


def main() -> None:
    from bench_engine import make_benchmark_set

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--latency", type=float, default=0.2)
    ap.add_argument("--questions", type=int, default=2560,
                    help="requests per run (2560: ten waves at 256 in flight, as the issue's 640 at 64)")
    ap.add_argument("--in-flight", default="64,256")
    ap.add_argument("--repeats", type=int, default=6, help="an even number: each client goes first as often")
    ap.add_argument("--mmad-loop", action="store_true", help="also MMAD's reference loop at 1 in flight")
    ap.add_argument("--slow-questions", type=int, default=20, help="questions for the 1-in-flight table")
    ap.add_argument("--profile", action="store_true", help="only the CPU breakdown by stage (64 in flight)")
    ap.add_argument("--pool-sizes", help="only the lean client, with these connections per client (e.g. 1,4,16)")
    ap.add_argument("--canned", action="store_true", help="only our sending loop's CPU, replies canned (no HTTP)")
    ap.add_argument("--lean-connections", type=int, default=1,
                    help="connections per httpx client of the lean client (1: the leanest; 16: this bench before)")
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "mmad-eval-bench-images")
    args = ap.parse_args()
    qfile = make_benchmark_set(args.cache, max(SHAPE["images"], args.questions // SHAPE["per_image"] + 1))
    _timed_generate()
    server = Server(args.latency)
    print(f"# {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, load average at start "
          f"{os.getloadavg()[0]:.1f}")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            if args.profile:
                profile_breakdown(server, qfile, args.questions, 64, Path(tmp))
                return
            if args.canned:
                canned_overhead(qfile, args.questions, int(args.in_flight.split(",")[-1]), args.repeats, Path(tmp))
                return
            if args.pool_sizes:
                pool_sizes(server, qfile, args.questions, [int(k) for k in args.in_flight.split(",")],
                           [int(x) for x in args.pool_sizes.split(",")], args.repeats, Path(tmp))
                return
            n, rows = lean_comparison(server, qfile, args.questions, [int(k) for k in args.in_flight.split(",")],
                                      args.repeats, Path(tmp), args.lean_connections)
            print_lean(n, rows, args.latency)
            if args.mmad_loop:
                mmad_loop_table(server, qfile, args.cache, args.slow_questions, args.questions, Path(tmp),
                                args.latency)
    finally:
        server.close()


if __name__ == "__main__":
    main()
