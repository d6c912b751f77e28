"""`mmad-eval run --ray` under faults that are not a lost worker: a backend that raises on its worker, and a
cluster address where nothing answers. Each ends as a local run would: one clear line, no traceback."""
from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import ray  # noqa: F401  (a test requirement: a missing ray fails these tests)
from test_ray_run import answers, kill_orphans, make_set   # same folder (pytest's rootdir-relative import)

from mmad_eval.testing.openai_server import FakeOpenAIServer

ROOT = Path(__file__).resolve().parents[2]
QUESTIONS = ROOT / "tests" / "run" / "fixtures" / "store_v0_1_0" / "data" / "mmad.json"

PLUGIN = '''
from mmad_eval.backends.base import Backend
from mmad_eval.errors import ConfigError


class BrokenBackend(Backend):
    """Fails as a local engine does when its weights cannot be loaded: from generate, on whichever process."""

    kind = "broken"

    async def generate(self, items, emit):
        raise ConfigError("model weights not found", culprit=self.model)
'''


def _plugin_site(tmp: Path) -> Path:
    """A one-module backend plugin, registered by its dist-info entry point (what pip would write)."""
    site = tmp / "site"
    info = site / "mmad_broken_plugin-0.1.0.dist-info"
    info.mkdir(parents=True)
    (site / "mmad_broken_plugin.py").write_text(PLUGIN)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: mmad-broken-plugin\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text("[mmad_eval.backends]\nbroken = mmad_broken_plugin:BrokenBackend\n")
    return site


def _run(site: Path, out: Path, *extra, timeout: float = 180):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}
    return subprocess.run([sys.executable, "-m", "mmad_eval", "run", "--questions", str(QUESTIONS), "--model",
                           "broken:weights-v1", "--out", str(out), "--quiet", *extra], capture_output=True,
                          text=True, env=env, timeout=timeout)


def test_a_backend_that_raises_on_a_worker_ends_the_run_as_locally(tmp_path):
    """Not a lost worker: no retries on fresh workers, no answers stored as 'worker_lost', the same error."""
    site = _plugin_site(tmp_path)
    local = _run(site, tmp_path / "local")
    assert local.returncode == 2 and "weights-v1: model weights not found" in local.stderr, local.stderr
    dist = _run(site, tmp_path / "ray", "--ray", "--workers", "2")
    assert dist.returncode == 2, dist.stdout + dist.stderr
    assert dist.stderr.strip().splitlines()[-1] == local.stderr.strip().splitlines()[-1]
    assert "Traceback" not in dist.stderr
    with sqlite3.connect(tmp_path / "ray" / "mmad-eval.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM requests WHERE error_type = 'worker_lost'").fetchone()[0] == 0


def test_a_cluster_address_where_nothing_listens_is_one_line_at_once(tmp_path):
    with socket.socket() as s:      # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = _run(_plugin_site(tmp_path), tmp_path / "out", "--ray", f"127.0.0.1:{port}", timeout=60)
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.strip().splitlines() == [r.stderr.strip()] and "Traceback" not in r.stderr
    assert f"127.0.0.1:{port}" in r.stderr and "cannot connect to the Ray cluster" in r.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_cluster_whose_workers_lack_the_drivers_api_key_env_still_authenticates(tmp_path):
    """On a cluster the workers do not share the driver's environment: the key the driver read from
    OPENAI_API_KEY reaches them with the backend (and is written nowhere)."""
    port = _free_port()
    # a test cluster without Ray's token authentication (its token setup is the cluster admin's business)
    head_env = {**{k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}, "RAY_AUTH_MODE": "disabled"}
    # its own temp dir: `ray start` records "the latest cluster" there, and a record left in /tmp/ray would
    # send every later ray.init() on this machine to this (by then dead) cluster
    temp = tempfile.mkdtemp(prefix="rayt", dir="/tmp")     # short: Ray's socket paths must stay under 108 bytes
    head = subprocess.Popen([sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block",
                             f"--port={port}", "--num-cpus=2", "--include-dashboard=false", "--disable-usage-stats",
                             f"--temp-dir={temp}"],
                            env=head_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        q = make_set(tmp_path / "data", 4)
        with FakeOpenAIServer() as srv:
            env = {**os.environ, "OPENAI_API_KEY": "sk-driver-only-key-123456", "PYTHONPATH": str(ROOT),
                   "RAY_AUTH_MODE": "disabled"}
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:      # the head needs a few seconds to listen
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.5)
            r = subprocess.run([sys.executable, "-m", "mmad_eval", "run", "--questions", str(q), "--model",
                                "openai:fake-vlm", "--out", str(tmp_path / "out"), "--base-url", srv.base_url,
                                "--quiet", "--ray", f"127.0.0.1:{port}", "--workers", "2"], env=env,
                               capture_output=True, text=True, timeout=240)
            assert r.returncode == 0, r.stdout + r.stderr
            keys = {h.get("authorization") for h in srv.headers}
        assert keys == {"Bearer sk-driver-only-key-123456"}
        assert all(reply for reply, _, _ in answers(tmp_path / "out").values())
        assert b"sk-driver-only-key" not in (tmp_path / "out" / "mmad-eval.sqlite").read_bytes()
    finally:
        head.kill()
        kill_orphans(head.pid)
        shutil.rmtree(temp, ignore_errors=True)


def test_without_an_address_a_local_instance_is_started_whatever_the_environment_says(tmp_path):
    """README: "Without ADDRESS a local Ray instance is started", even where RAY_ADDRESS (or a `ray start`
    recorded in /tmp/ray) names a cluster, here one that is gone."""
    q = make_set(tmp_path / "data", 3)
    with FakeOpenAIServer() as srv:
        env = {**os.environ, "OPENAI_API_KEY": "test-key-not-secret", "PYTHONPATH": str(ROOT),
               "RAY_ADDRESS": f"127.0.0.1:{_free_port()}"}
        r = subprocess.run([sys.executable, "-m", "mmad_eval", "run", "--questions", str(q), "--model",
                            "openai:fake-vlm", "--out", str(tmp_path / "out"), "--base-url", srv.base_url, "--quiet",
                            "--ray", "--workers", "1"], env=env, capture_output=True, text=True, timeout=90)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "asked 6, reused 0, failed 0" in r.stdout


def test_workers_needing_more_gpus_than_the_local_machine_has_are_one_line_not_a_wait(tmp_path):
    r = _run(_plugin_site(tmp_path), tmp_path / "out", "--ray", "--workers", "1", "--gpus-per-worker", "4096",
             timeout=90)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "each Ray worker needs 4096 GPU(s)" in r.stderr and "Traceback" not in r.stderr


def test_a_local_ray_node_that_dies_under_a_run_ends_it_with_one_line(tmp_path):
    """Its dashboard agent killed: Ray ends the driver from native code; the command still says what happened
    in one last line (exit code 2), and the answers stored before are kept."""
    from test_ray_run import ENV, cmd, session_pids, stored_ok, wait_for

    q = make_set(tmp_path / "data", 30)
    out = tmp_path / "out"
    with FakeOpenAIServer(latency_s=0.08) as srv:
        proc = subprocess.Popen(cmd(q, out, srv.base_url, "--ray", "--workers", "2"), env=ENV,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            wait_for(lambda: stored_ok(out / "mmad-eval.sqlite") >= 6 and session_pids(proc.pid, "DashboardAgent"),
                     proc)
            kept = stored_ok(out / "mmad-eval.sqlite")
            for pid in session_pids(proc.pid, "DashboardAgent"):
                os.kill(pid, 9)
            _, stderr = proc.communicate(timeout=120)
        finally:
            kill_orphans(proc.pid)
    last = stderr.strip().splitlines()[-1]
    assert proc.returncode == 2 and last.startswith("mmad-eval run: error: local Ray: "), stderr
    assert "rerun the same command" in last and "Traceback" not in stderr
    assert kept <= stored_ok(out / "mmad-eval.sqlite") < 60
