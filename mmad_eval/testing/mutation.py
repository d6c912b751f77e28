"""Mutation testing for the code behind the numbers and the data: plant one small bug at a time in a
module and check that the module's own tests fail.

    python -m mmad_eval.testing.mutation [MODULE ...] [--budget SECONDS] [--sample N] [--seed S]

MODULE is a file (``mmad_eval/score/mmad.py``), a folder (``mmad_eval/score``) or an area name from
``AREAS`` (``score``, ``store``, ...); none means every area. Each mutant is written into a private copy of
the package (so tests that start ``mmad-eval`` in a subprocess see it too) and the area's test files run in
a forked child (``pytest -x -q``) with a timeout; a failing or timed-out run kills the mutant. Survivors are
printed with their stable key; keys listed in ``tests/mutation_equivalent.txt`` (``key  # reason``) are
equivalent mutants, left out of the score. See docs/testing.md.
"""
from __future__ import annotations

import argparse
import compileall
import importlib.util
import os
import py_compile
import random
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from .mutation_ops import Mutant, mutants_of, mutated_source

ROOT = Path(__file__).resolve().parents[2]
EQUIVALENT_FILE = ROOT / "tests" / "mutation_equivalent.txt"

# area -> (source files or folders, test files, folders or node ids); tests/mutation_kills/test_<area>*.py join each.
AREAS: dict[str, tuple[list[str], list[str]]] = {
    "score": (["mmad_eval/score"], ["tests/score", "tests/labels/test_score_with_errata.py"]),
    "parse": (["mmad_eval/parse"], ["tests/parse", "tests/faults/test_replies.py"]),
    "redact": (["mmad_eval/redact.py"], ["tests/faults/test_secrets_and_stops.py"]),
    "store": (["mmad_eval/run/store.py", "mmad_eval/run/store_db.py", "mmad_eval/run/store_merge.py"],
              ["tests/run/test_store_engine.py", "tests/run/test_store_migration.py", "tests/faults/test_merge.py",
               "tests/faults/test_store_faults.py"]),
    "leases": (["mmad_eval/run/leases.py"], ["tests/faults/test_concurrent_writers.py"]),
    "batch_ledger": (["mmad_eval/run/batch_ledger.py"], ["tests/run/test_batch_mode.py"]),
    "protocols": (["mmad_eval/run/protocols.py"], ["tests/run/test_protocols.py"]),
    "errata": (["mmad_eval/errata"], ["tests/labels/test_errata.py", "tests/labels/test_errata_patterns.py",
                                      "tests/labels/test_score_with_errata.py"]),
    "human_scores": (["mmad_eval/questions/human_scores.py"], ["tests/labels/test_errata.py",
                                                              "tests/questions/test_rating_sheet.py"]),
    "margins": (["mmad_eval/questions/generate/margins.py"], ["tests/questions/test_margins.py"]),
    "label_audit": (["mmad_eval/label_audit"], ["tests/labels/test_label_checks.py", "tests/labels/test_audit_cli.py",
                                                "tests/labels/test_injected_synth.py"]),
    "atomic_write": (["mmad_eval/atomic_write.py"], ["tests/faults/test_atomic_write.py"]),
    "none_option": (["mmad_eval/score/none_option.py", "mmad_eval/questions/none_option.py"],
                    ["tests/robustness/test_none_option.py"]),
    "judged": (["mmad_eval/score/judged.py", "mmad_eval/run/judging.py"], ["tests/judge"]),
    "perturb": (["mmad_eval/prompt/perturb.py"], ["tests/robustness/test_perturb.py"]),
    "grounding": (["mmad_eval/parse/boxes.py", "mmad_eval/score/grounding.py", "mmad_eval/questions/grounding.py"],
                  ["tests/grounding"]),
    "difficulty": (["mmad_eval/score/difficulty.py"], ["tests/grounding/test_robustmad_difficulty.py"]),
    "agent": (["mmad_eval/score/agent.py", "mmad_eval/run/agent.py", "mmad_eval/backends/scripted_agent.py"],
              ["tests/agent/test_agent_server.py::test_tool_calls_and_results_travel_in_openai_format",
               "tests/agent/test_agent_server.py::test_usage_and_cost_count_every_turn"]),   # (all of tests/agent: ~90 s)
    "agent_tools": (["mmad_eval/enhance/tools.py", "mmad_eval/prompt/tools.py"], ["tests/agent/test_tools.py"]),
    "store_merge": (["mmad_eval/run/store_merge.py"], ["tests/mutation_kills/test_store_kills.py"]),  # real SQLite, no CLI
}


def source_files(spec: str) -> list[str]:
    """Python files (relative to ROOT) of one file, folder or area."""
    specs = AREAS[spec][0] if spec in AREAS else [spec]
    out = []
    for item in specs:
        path = ROOT / item
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        out += [str(f.relative_to(ROOT)) for f in files if f.name != "__init__.py" or f.stat().st_size > 200]
    return [f for f in out if spec not in AREAS or owner(f) == spec]   # a file a narrower area claims is its


def owner(source: str) -> str | None:
    """The most specific area whose sources hold ``source`` (a file's own area before its folder's)."""
    matches = [(len(s), area) for area, (sources, _) in AREAS.items() for s in sources
               if source == s or source.startswith(s.rstrip("/") + "/")]
    return max(matches)[1] if matches else None


def mapped_tests(source: str) -> list[str]:
    """The test files that guard one source file: its area's, plus tests/mutation_kills/test_<area>*.py."""
    area = owner(source)
    if area is not None:
        found = (ROOT / "tests" / "mutation_kills").glob(f"test_{area}*.py")
        kills = sorted(str(p.relative_to(ROOT)) for p in found)
        return kills + AREAS[area][1]   # the targeted tests first: most mutants die in them, fast
    raise SystemExit(f"mutation: no tests are mapped to {source} (add it to AREAS in {__file__})")


def load_equivalent() -> dict[str, str]:
    """{mutant key: reason} from the checked-in list."""
    if not EQUIVALENT_FILE.is_file():
        return {}
    out = {}
    for line in EQUIVALENT_FILE.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, reason = line.partition("  # ")
            out[key.strip()] = reason.strip()
    return out


class Sandbox:
    """A private copy of the package where one mutant at a time is written."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="mmad-mutation-"))
        shutil.copytree(ROOT / "mmad_eval", self.dir / "mmad_eval", ignore=shutil.ignore_patterns("__pycache__"))
        compileall.compile_dir(self.dir / "mmad_eval", quiet=2)     # children import from .pyc, not source
        for entry in ROOT.iterdir():
            if entry.name not in ("mmad_eval", ".git", ".venv"):
                (self.dir / entry.name).symlink_to(entry)

    def write(self, rel: str, text: str, compile_it: bool = False) -> None:
        """Put ``text`` in place of ``rel``; its stale .pyc goes (a mutant is compiled by the child that runs it)."""
        target = self.dir / rel
        target.write_text(text)
        cached = Path(importlib.util.cache_from_source(str(target)))
        cached.unlink(missing_ok=True)
        if compile_it:
            py_compile.compile(str(target), quiet=2)

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def _child(sandbox: Path, tests: list[str]) -> None:
    """In the forked child: import the sandbox's package, run the tests, exit with pytest's code."""
    os.setpgid(0, 0)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    for name in [n for n in sys.modules if n == "mmad_eval" or n.startswith("mmad_eval.")]:
        del sys.modules[name]
    sys.path.insert(0, str(sandbox))
    sys.dont_write_bytecode = True
    os.environ["PYTHONPATH"] = os.pathsep.join([str(sandbox), os.environ.get("PYTHONPATH", "")])
    os.environ["PYTHONDONTWRITEBYTECODE"] = "1"
    importlib.invalidate_caches()
    import pytest

    import mmad_eval  # noqa: F401  (from the sandbox, before any test can put the checkout first)
    code = pytest.main(["-x", "-q", "-p", "no:cacheprovider", *tests])
    os._exit(int(code))


def run_tests(sandbox: Path, tests: list[str], timeout: float) -> str:
    """'passed', 'failed' or 'timeout' for one run of ``tests`` against the sandbox."""
    pid = os.fork()
    if pid == 0:
        try:
            _child(sandbox, tests)
        finally:
            os._exit(99)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return "passed" if os.waitstatus_to_exitcode(status) == 0 else "failed"
        time.sleep(0.05)
    os.killpg(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return "timeout"


def _pick(mutants: list[Mutant], sample: int, seed: int, only: list[str] = ()) -> list[Mutant]:
    """The file's mutants to run: a seeded sample of ``sample`` (all when 0), then those matching ``only``."""
    if 0 < sample < len(mutants):
        mutants = sorted(random.Random(f"{seed}:{mutants[0].path}").sample(mutants, sample),
                         key=lambda m: (m.lineno, m.node_index, m.variant))
    return [m for m in mutants if not only or any(text in m.key for text in only)]


def mutate_file(sandbox: Sandbox, rel: str, args, budget: float, equivalent: dict[str, str],
                clean_runs: dict) -> dict:
    """Run one file's (sampled) mutants within ``budget`` seconds; returns its tally and survivors.
    ``clean_runs`` caches, per test list, the seconds a run without a mutant took (None: it failed)."""
    tests, source = mapped_tests(rel), (ROOT / rel).read_text()
    picked = _pick(mutants_of(rel, source), args.sample, args.seed, args.only)
    start = time.monotonic()
    if budget <= 0 or not picked:
        return {"file": rel, "killed": 0, "total": 0, "survivors": [], "not_run": len(picked)}
    if tuple(tests) not in clean_runs:      # once per test list; not counted in this file's share
        ok = run_tests(sandbox.dir, tests, args.timeout or 600) == "passed"
        clean_runs[tuple(tests)] = time.monotonic() - start if ok else None
        start = time.monotonic()
    if clean_runs[tuple(tests)] is None:
        print(f"{rel}: its tests fail without any mutant ({' '.join(tests)}); skipped", flush=True)
        return {"file": rel, "killed": 0, "total": 0, "survivors": [], "not_run": len(picked), "broken": True}
    timeout = args.timeout or max(30.0, 4 * clean_runs[tuple(tests)])
    tally = {"file": rel, "killed": 0, "timeouts": 0, "equivalent": 0, "not_run": 0, "survivors": []}
    try:
        for mutant in picked:
            if mutant.key in equivalent:
                tally["equivalent"] += 1
                continue
            if time.monotonic() - start > budget:
                tally["not_run"] += 1
                continue
            sandbox.write(rel, mutated_source(source, mutant))
            outcome = run_tests(sandbox.dir, tests, timeout)
            if outcome == "passed":
                tally["survivors"].append(mutant)
                print(f"SURVIVED {rel}:{mutant.lineno}  {mutant.key.split(' | ')[-1]}  |  {mutant.line}", flush=True)
            else:
                tally["killed"] += 1
                tally["timeouts"] += outcome == "timeout"
    finally:
        sandbox.write(rel, source, compile_it=True)
    tally["total"] = tally["killed"] + len(tally["survivors"])
    return tally


def _report(tallies: list[dict]) -> None:
    print("\nfile | killed / run | equivalent | not run (budget)")
    for t in tallies:
        print(f"{t['file']} | {t['killed']} / {t['total']} | {t.get('equivalent', 0)} | {t['not_run']}")
    killed, total = sum(t["killed"] for t in tallies), sum(t["total"] for t in tallies)
    if total:
        print(f"mutation score: {killed} / {total} = {100 * killed / total:.1f} %")
    for t in tallies:
        for m in t["survivors"]:
            print(f"  survivor key: {m.key}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mmad_eval.testing.mutation", description=__doc__.split("\n")[0])
    parser.add_argument("modules", nargs="*", help="files, folders or areas: " + ", ".join(AREAS))
    parser.add_argument("--budget", type=float, default=600, help="seconds for the whole run (default 600)")
    parser.add_argument("--sample", type=int, default=0, help="at most N mutants per file, chosen by --seed")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=0, help="seconds per test run (default 4x the clean run)")
    parser.add_argument("--only", action="append", default=[], metavar="TEXT",
                        help="run only mutants whose key contains TEXT (repeatable): recheck survivors after a fix")
    parser.add_argument("--list", action="store_true", help="list the mutants and their tests; run nothing")
    args = parser.parse_args(argv)
    files = [f for spec in (args.modules or list(AREAS)) for f in source_files(spec)]
    if args.list:
        for rel in files:
            picked = _pick(mutants_of(rel, (ROOT / rel).read_text()), args.sample, args.seed, args.only)
            print(f"{rel}: {len(picked)} mutants; tests: {' '.join(mapped_tests(rel))}")
        return 0
    equivalent, sandbox, tallies, clean_runs = load_equivalent(), Sandbox(), [], {}
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))      # a stopped run still removes its sandbox
    counts = [len(_pick(mutants_of(rel, (ROOT / rel).read_text()), args.sample, args.seed, args.only)) for rel in files]
    deadline = time.monotonic() + args.budget
    try:
        for i, rel in enumerate(files):        # each file's share of what is left, by its number of mutants
            share = (deadline - time.monotonic()) * counts[i] / max(1, sum(counts[i:]))
            tallies.append(mutate_file(sandbox, rel, args, share, equivalent, clean_runs))
            t = tallies[-1]
            print(f"{rel}: killed {t['killed']} / {t['total']}, not run {t['not_run']}", flush=True)
    finally:
        sandbox.close()
    _report(tallies)
    return 0


if __name__ == "__main__":
    sys.exit(main())
