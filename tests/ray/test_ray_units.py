"""The Ray pool's pure parts: sharding by image, GPU placement, settings, and the CLI's one-line errors."""
import sys

import pytest

from mmad_eval.backends.base import GenerationSettings
from mmad_eval.backends.ray_pool import RayOptions, RayPoolBackend, gpus_for, split_by_image
from mmad_eval.cli import main
from mmad_eval.errors import ConfigError, MissingExtraError
from mmad_eval.prompt.images import ImageRegistry
from mmad_eval.prompt.message import Message, Request, TextPart


def _req(image: str, n: int) -> Request:
    return Request(messages=(Message("user", (TextPart(f"q{n}"),)),), qids=(f"{image}#{n}",),
                   meta={"image": image})


def test_shards_keep_each_image_whole_and_are_about_equal():
    items = [(f"{img}-{n}", _req(f"im{img}", n)) for img in range(10) for n in range(3)]
    shards = split_by_image(items, 4)
    assert [len(s.items) for s in shards] == [9, 9, 9, 3]
    assert [k for s in shards for k, _ in s.items] == [k for k, _ in items]        # order kept, nothing lost
    for s in shards:   # no image spans two shards
        others = {r.meta["image"] for t in shards if t is not s for _, r in t.items}
        assert not others & {r.meta["image"] for _, r in s.items}
    assert len(split_by_image(items, 100)) == 10 and len(split_by_image(items, 1)) == 1


def test_cumulative_requests_are_sharded_by_their_first_question_image():
    req = Request(messages=(Message("user", (TextPart("q"),)),), qids=("a", "b"),
                  meta={"questions": [{"image": "x.png"}, {"image": "x.png"}]})
    assert len(split_by_image([("k1", req), ("k2", req)], 2)) == 1


def test_gpus_per_worker_from_the_flag_else_what_one_copy_of_the_backend_uses(monkeypatch):
    """A Ray worker given no GPU sees none (Ray empties CUDA_VISIBLE_DEVICES): a local engine on a worker
    must ask for its GPUs by default, or vLLM fails and transformers silently runs on the CPU."""
    import types

    vllm = types.ModuleType("vllm")       # the driver builds the backend without loading it: no engine needed
    vllm.__spec__ = types.SimpleNamespace(name="vllm")
    monkeypatch.setitem(sys.modules, "vllm", vllm)
    from mmad_eval.backends.baselines import RandomBackend
    from mmad_eval.backends.hf_local import HFBackend
    from mmad_eval.backends.openai_api import OpenAIBackend
    from mmad_eval.backends.vllm_engine import VLLMBackend

    def gpus(cls, flag=None, **options):
        return gpus_for(RayOptions(gpus_per_worker=flag), cls("m", GenerationSettings(), ImageRegistry(), **options))

    assert gpus(VLLMBackend) == 1
    assert gpus(VLLMBackend, tensor_parallel_size=4) == 4
    assert gpus(VLLMBackend, tensor_parallel_size=2, engine_kwargs={"pipeline_parallel_size": 2}) == 4
    assert gpus(VLLMBackend, engine_kwargs={"tensor_parallel_size": 2}) == 2
    assert gpus(VLLMBackend, flag=1, tensor_parallel_size=4) == 1
    assert gpus(HFBackend) == 1 and gpus(HFBackend, device="cpu") == 0 and gpus(HFBackend, device_map="cpu") == 0
    assert gpus(OpenAIBackend, base_url="http://localhost:1/v1") == 0 and gpus(RandomBackend) == 0
    assert gpus(HFBackend, flag=0.5) == 0.5


def test_settings_are_validated():
    with pytest.raises(ConfigError):
        RayOptions(workers=0)
    with pytest.raises(ConfigError):
        RayOptions(gpus_per_worker=-1)


def test_identity_is_the_wrapped_backends_so_ray_and_local_runs_share_answers():
    from mmad_eval.backends.baselines import RandomBackend

    inner = RandomBackend("random", GenerationSettings(), ImageRegistry())
    pool = RayPoolBackend(inner, RayOptions(address="ray://user:pw@head:10001", workers=3))
    assert pool.cls_path == "mmad_eval.backends.baselines:RandomBackend"    # what each worker imports
    assert pool.identity() == inner.identity()
    assert pool.describe()["ray"]["address"] == "ray://head:10001"           # credentials never recorded
    assert pool.describe()["ray"]["workers"] == 3


def test_cli_workers_without_ray_is_one_line(capsys):
    assert main(["run", "--questions", "q.json", "--model", "random", "--out", "o", "--workers", "2"]) == 2
    err = capsys.readouterr().err
    assert "--workers and --gpus-per-worker need --ray" in err and "Traceback" not in err


def test_missing_ray_names_the_extra(monkeypatch, tmp_path):
    from mmad_eval.backends.baselines import RandomBackend

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(MissingExtraError, match=r"mmad-eval\[ray\]"):
        RayPoolBackend(RandomBackend("random", GenerationSettings(), ImageRegistry()), RayOptions())


def test_an_unreachable_address_is_refused_without_its_credentials():
    import socket

    from mmad_eval.backends.ray_pool import check_reachable

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ConfigError, match="nothing answers") as e:
        check_reachable(f"ray://user:secret-pw@127.0.0.1:{port}")
    assert "secret-pw" not in str(e.value) and f"ray://127.0.0.1:{port}" in str(e.value)
    with pytest.raises(ConfigError, match="HOST:PORT"):
        check_reachable("head-node")


def test_a_worker_keeps_no_image_bytes_after_its_shard():
    """Workers get each shard's images as bytes; holding them after the shard would keep a growing part of
    the data set in every worker's memory (a local run holds paths only)."""
    import io

    from PIL import Image

    from mmad_eval.backends.ray_pool import AnswerWorker
    from mmad_eval.prompt.images import ImageSettings
    from mmad_eval.prompt.message import ImagePart
    from mmad_eval.testing.openai_server import FakeOpenAIServer

    def png(i: int) -> bytes:
        buf = io.BytesIO()
        Image.new("RGB", (64, 64), (i, 0, 0)).save(buf, format="PNG")
        return buf.getvalue()

    with FakeOpenAIServer() as srv:
        worker = AnswerWorker("mmad_eval.backends.openai_api:OpenAIBackend", "fake-vlm", GenerationSettings(),
                              ImageSettings(), {"base_url": srv.base_url, "api_key": "x"})
        for shard in range(2):
            images = {}
            items = []
            for i in range(3):
                data = png(shard * 10 + i)
                sha = ImageRegistry().add_bytes(data)
                images[sha] = data
                items.append((f"k{shard}{i}", Request(messages=(Message("user", (ImagePart(sha), TextPart(
                    "Is there a defect?\nA. Yes\nB. No"))),), qids=(f"q{shard}{i}",), options=(("A", "B"),))))
            got = list(worker.answer(items, images, None))
            assert sorted(r.key for r in got) == sorted(k for k, _ in items) and all(r.ok for r in got)
            assert worker.backend.images.held_bytes == 0
        worker.close()


def test_a_request_whose_image_changed_or_vanished_is_answered_by_the_driver_and_the_shard_goes_on(tmp_path):
    from PIL import Image

    from mmad_eval.backends.baselines import RandomBackend
    from mmad_eval.backends.ray_pool import Shard
    from mmad_eval.prompt.message import ImagePart

    reg = ImageRegistry()
    paths = [tmp_path / f"{name}.png" for name in ("kept", "edited", "removed")]
    for i, path in enumerate(paths):
        Image.new("RGB", (8, 8), (i, i, i)).save(path)
    shas = [reg.add_file(p) for p in paths]
    items = [(f"k{i}", Request(messages=(Message("user", (ImagePart(sha), TextPart("q"))),), qids=(f"q{i}",)))
             for i, sha in enumerate(shas)]
    Image.new("RGB", (8, 8), (200, 0, 0)).save(paths[1])     # edited after its hash was taken
    paths[2].unlink()
    pool = RayPoolBackend(RandomBackend("random", GenerationSettings(), reg), RayOptions())
    shard = Shard(0, items)
    images, failed = pool._shard_images(shard)
    assert set(images) == {shas[0]} and [k for k, _ in shard.remaining()] == ["k0"]
    by_key = {r.key: r for r in failed}
    assert set(by_key) == {"k1", "k2"} and all(r.error_type == "bad_input" for r in failed)
    assert "edited.png" in by_key["k1"].error_message and "changed on disk" in by_key["k1"].error_message
    assert "removed.png" in by_key["k2"].error_message


def test_a_worker_stops_sending_when_its_driver_process_is_gone(tmp_path):
    """Real processes, no Ray: a stand-in driver (``sleep``) and a stand-in worker that takes items through
    its Watcher; once the driver is killed the worker exits (code 1) without taking another item."""
    import dataclasses
    import os
    import signal
    import subprocess
    import sys
    import time

    from mmad_eval.backends.ray_watch import DriverWatch, process_start

    driver = subprocess.Popen(["sleep", "600"])
    watch = dataclasses.replace(DriverWatch.of_this_process(), pid=driver.pid, start=process_start(driver.pid))
    taken = tmp_path / "taken"
    worker = subprocess.Popen([sys.executable, "-c", f"""
import time
from mmad_eval.backends.ray_watch import DriverWatch, Watcher
w = Watcher(DriverWatch(**{dataclasses.asdict(watch)!r}))
with open({str(taken)!r}, "a") as f:
    for i in w.guard(list(range(100000))):
        f.write(f"{{i}}\\n"); f.flush(); time.sleep(0.01)
"""])
    try:
        while not taken.exists() or len(taken.read_text().split()) < 3:
            assert worker.poll() is None
            time.sleep(0.02)
        driver.send_signal(signal.SIGKILL)
        driver.wait()
        assert worker.wait(timeout=60) == 1
    finally:
        driver.kill()
        worker.kill()
    assert 3 <= len(taken.read_text().split()) < 100000
    assert not DriverWatch("another-host", 1, "0").visible() and DriverWatch("another-host", 1, "0").alive()
    assert not dataclasses.replace(watch, pid=os.getpid(), start="0").alive()     # a reused pid is not the driver


def test_a_workers_watch_also_stops_what_the_raylet_started_after_it(tmp_path):
    """Real processes, no Ray: a stand-in raylet starts the worker, then (later, as a loaded machine's raylet
    starts its agents) another child whose command line does not name the session. Once the driver is killed,
    the worker stops that child too: the raylet's children are looked up again when the driver is gone, not
    only when the worker started (a late agent outlived its driver on a loaded machine)."""
    import dataclasses
    import os
    import signal
    import subprocess
    import sys
    import time

    from pathlib import Path

    from mmad_eval.backends.ray_watch import DriverWatch, process_start

    driver = subprocess.Popen(["sleep", "600"])
    watch = dataclasses.replace(DriverWatch.of_this_process(), pid=driver.pid, start=process_start(driver.pid),
                                session_dir=str(tmp_path / "session_stand_in"))
    ready, late = tmp_path / "ready", tmp_path / "late"
    worker = f"""
import time
from mmad_eval.backends.ray_watch import DriverWatch, Watcher
Watcher(DriverWatch(**{dataclasses.asdict(watch)!r})).start()
open({str(ready)!r}, "w").close()
time.sleep(600)
"""
    raylet = subprocess.Popen([sys.executable, "-c", f"""
import os, subprocess, sys, time
w = subprocess.Popen([sys.executable, "-c", {worker!r}])
while not os.path.exists({str(ready)!r}):
    time.sleep(0.02)
agent = subprocess.Popen(["sleep", "600"])
open({str(late)!r}, "w").write(str(agent.pid))
w.wait()
agent.wait()
"""], start_new_session=True)
    agent = None
    try:
        deadline = time.monotonic() + 120
        while not (late.exists() and late.read_text()) and time.monotonic() < deadline:
            assert raylet.poll() is None
            time.sleep(0.05)
        agent = int(late.read_text())
        driver.send_signal(signal.SIGKILL)
        driver.wait()

        def running(pid: int) -> bool:
            try:
                return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
            except OSError:
                return False
        deadline = time.monotonic() + 30
        while running(agent) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not running(agent), "the raylet's late child outlived the driver"
    finally:
        driver.kill()
        for pid in (agent,) if agent else ():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        try:
            os.killpg(raylet.pid, signal.SIGKILL)
        except OSError:
            pass
        raylet.wait()
