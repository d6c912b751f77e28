"""Data parallel over a Ray cluster: any backend, replicated on N Ray workers, answers one run's requests.

The driver keeps the store: it splits the pending requests into shards by query image, hands each shard to
an idle worker (a Ray actor that builds its own copy of the backend once and keeps it for every shard it
gets), and receives the answers as a stream, emitting each one, so the run engine commits it at once. A
worker that dies (node lost, OOM, kill -9) is replaced and its shard is given again, less the answers that
already arrived. Cache keys are the wrapped backend's, so a Ray run and a local run share answers.
"""
from __future__ import annotations

import asyncio
import os
import queue
import socket
import threading
from dataclasses import asdict, dataclass, field, replace
from typing import Sequence

from ..errors import ConfigError, MissingExtraError, MmadError
from ..prompt.images import ImageRegistry
from ..prompt.message import Request
from .base import Backend, Emit, Response
from .ray_watch import DriverWatch, Watcher

POLL_S = 0.2


@dataclass(frozen=True)
class RayOptions:
    """Where and how wide to run. Transport only: none of it changes an answer."""

    address: str | None = None        # a cluster (``ray://host:10001`` or ``host:6379``); None = local instance
    workers: int = 2
    gpus_per_worker: float | None = None   # None: what one copy of the backend uses (Backend.gpus_per_copy)
    cpus_per_worker: float = 1.0
    shards_per_worker: int = 4        # pending work is cut into workers * this many shards (load balance)
    max_retries: int = 3              # times one shard is given again after its worker died

    def __post_init__(self):
        if self.workers < 1:
            raise ConfigError("--workers must be at least 1", culprit=str(self.workers))
        if self.gpus_per_worker is not None and self.gpus_per_worker < 0:
            raise ConfigError("--gpus-per-worker must be >= 0", culprit=str(self.gpus_per_worker))
        if self.shards_per_worker < 1 or self.max_retries < 0:
            raise ConfigError("shards_per_worker must be >= 1 and max_retries >= 0")


@dataclass
class Shard:
    index: int
    items: list[tuple[str, Request]]
    attempts: int = 0
    done: set[str] = field(default_factory=set)

    def remaining(self) -> list[tuple[str, Request]]:
        return [(k, r) for k, r in self.items if k not in self.done]


def _query_image(request: Request) -> str:
    meta = request.meta or {}
    if meta.get("image"):
        return str(meta["image"])
    qs = meta.get("questions") or [{}]
    return str(qs[0].get("image", ""))


def split_by_image(items: Sequence[tuple[str, Request]], n_shards: int) -> list[Shard]:
    """Consecutive groups of whole images, about equal in request count (an image is never split)."""
    groups: list[list[tuple[str, Request]]] = []
    last = object()
    for key, req in items:
        image = _query_image(req)
        if image != last or not groups:
            groups.append([])
            last = image
        groups[-1].append((key, req))
    target = max(1, -(-len(items) // max(1, n_shards)))
    shards: list[Shard] = []
    for group in groups:
        if not shards or len(shards[-1].items) >= target:
            shards.append(Shard(len(shards), []))
        shards[-1].items.extend(group)
    return shards


def gpus_for(options: RayOptions, backend: Backend) -> float:
    """``--gpus-per-worker``, else what one copy of the backend uses (a worker given none sees no GPU)."""
    if options.gpus_per_worker is not None:
        return float(options.gpus_per_worker)
    return float(backend.gpus_per_copy())


class AnswerWorker:
    """The Ray actor: one backend copy, built on first use, answering shard after shard."""

    def __init__(self, cls_path: str, model: str, generation, image_settings, options: dict,
                 driver: DriverWatch | None = None):
        self.cls_path, self.model, self.generation = cls_path, model, generation
        self.image_settings, self.options = image_settings, options
        self.backend: Backend | None = None
        self.watcher = Watcher(driver).start() if driver is not None else None   # stops with its driver

    def hello(self) -> dict:
        import socket
        return {"pid": os.getpid(), "host": socket.gethostname()}

    def _backend(self, context) -> Backend:
        if self.backend is None:
            import importlib
            module, _, name = self.cls_path.partition(":")
            cls = getattr(importlib.import_module(module), name)
            if self.watcher is not None:        # checked again just before each request leaves this process
                context = replace(context or RunContext(), before_send=self.watcher.check)
            self.backend = cls(self.model, self.generation, ImageRegistry(self.image_settings), context=context,
                               **self.options)
        return self.backend

    def answer(self, items: list, images: dict, context):
        """Yield one Response per item as the backend emits it (a Ray streaming generator)."""
        backend = self._backend(context)
        for data in images.values():
            backend.images.add_bytes(data)
        try:
            yield from self._stream(backend, self.watcher.guard(items) if self.watcher else items)
        finally:        # the next shard brings its own: holding these would keep a growing part of the data
            backend.images.forget_bytes(images)

    @staticmethod
    def _stream(backend: Backend, items: list):
        out: queue.Queue = queue.Queue()
        done = object()

        def drive():
            try:
                asyncio.run(backend.generate(items, out.put))
            except BaseException as e:      # reported to the driver as this shard's failure
                out.put(e)
            finally:
                out.put(done)

        threading.Thread(target=drive, daemon=True).start()
        while (item := out.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        if self.backend is not None:
            self.backend.close()


class RayPoolBackend(Backend):
    """Runs ``inner`` (a built but not yet loaded backend) on Ray workers; its identity is the inner one's."""

    def __init__(self, inner: Backend, options: RayOptions):
        super().__init__(inner.model, inner.generation, inner.images, context=inner.context, **inner.options)
        try:
            import ray  # noqa: F401
        except ImportError:
            raise MissingExtraError("ray", "ray") from None
        self.inner, self.ray_options = inner, options
        self.cls_path = f"{type(inner).__module__}:{type(inner).__qualname__}"   # workers import it themselves
        self.kind = inner.kind
        self.sees_images = inner.sees_images
        self.gpus = gpus_for(options, inner)
        self._started_ray = False
        self._driver: DriverWatch | None = None
        self._actors: dict[int, object] = {}
        self._next_worker = 0
        self._hello: dict[int, object] = {}  # worker id -> its hello() answer (host, pid)
        self.retries: list[dict] = []       # every shard given again: shard, worker, reason

    # -- what is recorded --------------------------------------------------------------------------
    def identity(self) -> dict:
        return self.inner.identity()

    def answer_options(self) -> dict:
        return self.inner.answer_options()

    def describe(self) -> dict:
        d = dict(self.inner.describe())
        o = self.ray_options
        d["ray"] = {"address": _public_address(o.address), "workers": o.workers, "gpus_per_worker": self.gpus,
                    "cpus_per_worker": o.cpus_per_worker, "shards_per_worker": o.shards_per_worker,
                    "max_retries": o.max_retries}
        return d

    def execution_report(self) -> dict:
        """Every worker started (id, host, pid) and every shard given again, for the run record."""
        workers = []
        for wid, ref in self._hello.items():
            info = {"id": wid, "host": None, "pid": None}
            try:
                import ray
                info.update(ray.get(ref, timeout=10))
            except Exception as e:   # noqa: BLE001 - a worker that died before it said hello
                info["error"] = _first_line(e)
            workers.append(info)
        return {"ray": {"workers": workers, "retries": list(self.retries)}}

    # -- cluster -----------------------------------------------------------------------------------
    def _ray(self):
        import ray
        if not ray.is_initialized():
            # no address: a new local instance ("local"), never a cluster found through RAY_ADDRESS or a
            # `ray start` recorded in /tmp/ray (maybe long dead: ray.init would retry it for minutes)
            kw = {"address": self.ray_options.address} if self.ray_options.address else {
                "address": "local", "num_cpus": max(self.ray_options.workers * self.ray_options.cpus_per_worker, 1)}
            if self.ray_options.address:
                check_reachable(self.ray_options.address)
            try:
                ctx = ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False, **kw)
            except (ConnectionError, RuntimeError, ValueError) as e:
                raise ConfigError(f"cannot connect to the Ray cluster ({str(e).splitlines()[0][:200]})",
                                  culprit=_public_address(self.ray_options.address) or "local Ray") from None
            self._started_ray = True
            session = None if self.ray_options.address else (getattr(ctx, "address_info", None) or {}).get(
                "session_dir")
            self._driver = DriverWatch.of_this_process(session)   # workers watch it (see ray_watch.py)
            if not self.ray_options.address:
                self._check_local_gpus(ray)
        return ray

    def _check_local_gpus(self, ray) -> None:
        """On a local instance a worker needing more GPUs than the machine has would wait forever: refuse.
        (A cluster may be autoscaled: there the workers wait for their GPUs.)"""
        have = ray.cluster_resources().get("GPU", 0)
        if self.gpus > have:
            raise ConfigError(f"each Ray worker needs {self.gpus:g} GPU(s) and this machine has {have:g}; pass "
                              "--gpus-per-worker (or --backend-option device=cpu for transformers)",
                              culprit="--gpus-per-worker")

    def _new_actor(self, ray):
        worker_id = self._next_worker
        self._next_worker += 1
        actor_cls = ray.remote(AnswerWorker).options(num_cpus=self.ray_options.cpus_per_worker, num_gpus=self.gpus,
                                                max_restarts=0)
        opts = self.inner.worker_options()
        actor = actor_cls.remote(self.cls_path, self.model, self.generation, self.images.settings, opts,
                                 self._driver or DriverWatch.of_this_process())
        self._actors[worker_id] = actor
        self._hello[worker_id] = actor.hello.remote()     # read when the run is reported, never waited on here
        return worker_id

    def _shard_images(self, shard: Shard) -> tuple[dict[str, bytes], list[Response]]:
        """(the bytes of the shard's images, sent with it; a ``bad_input`` answer for each request whose image
        can no longer be read or changed on disk: those are taken out of the shard, the rest goes on)."""
        out: dict[str, bytes] = {}
        bad: dict[str, str] = {}
        for _, req in shard.remaining():
            for part in req.images():
                if part.sha256 not in out and part.sha256 not in bad:
                    try:
                        out[part.sha256] = self.images.source_bytes(part.sha256)
                    except MmadError as e:
                        bad[part.sha256] = str(e)
        failed = []
        for key, req in shard.remaining():
            reason = next((bad[p.sha256] for p in req.images() if p.sha256 in bad), None)
            if reason is not None:
                shard.done.add(key)
                failed.append(Response(key=key, error_type="bad_input", error_message=reason, attempts=0))
        return out, failed

    # -- the run -----------------------------------------------------------------------------------
    async def generate(self, items: Sequence[tuple[str, Request]], emit: Emit) -> None:
        """Dispatch runs in a thread (Ray calls block); answers come back to this loop in batches and are
        emitted here, on the thread that owns the store."""
        items = list(items)
        if not items:
            return
        ray = self._ray()
        loop = asyncio.get_running_loop()
        answers: asyncio.Queue = asyncio.Queue()
        stop = threading.Event()

        def deliver(batch) -> None:
            loop.call_soon_threadsafe(answers.put_nowait, batch)

        dispatch = loop.run_in_executor(None, self._dispatch, ray, items, deliver, stop)
        try:
            while (batch := await answers.get()) is not None:
                for resp in batch:
                    emit(resp)
            await dispatch
        finally:
            stop.set()               # interrupted: the dispatch thread stops the workers at once
            while not answers.empty():      # answers that already arrived are kept
                for resp in answers.get_nowait() or ():
                    emit(resp)

    def _dispatch(self, ray, items, deliver, stop: threading.Event) -> None:
        """Give shards to idle workers, stream their answers back, replace lost workers; until all is done."""
        try:
            o = self.ray_options
            context = ray.put(self.context) if self.context is not None else None
            todo = split_by_image(items, o.workers * o.shards_per_worker)
            idle = [self._new_actor(ray) for _ in range(min(o.workers, len(todo)))]
            running: dict[object, tuple[int, Shard]] = {}     # stream -> (worker id, shard)
            try:
                while (todo or running) and not stop.is_set():
                    while todo and idle:
                        wid, shard = idle.pop(), todo.pop(0)
                        shard.attempts += 1
                        images, unreadable = self._shard_images(shard)
                        if unreadable:
                            deliver(unreadable)
                        if not shard.remaining():
                            idle.append(wid)
                            continue
                        stream = self._actors[wid].answer.options(num_returns="streaming").remote(
                            shard.remaining(), images, context)
                        running[stream] = (wid, shard)
                    ready, _ = ray.wait(list(running), num_returns=1, timeout=POLL_S)
                    if ready:    # everything else that is ready too, without waiting
                        ready, _ = ray.wait(list(running), num_returns=len(running), timeout=0)
                    batch: list[Response] = []
                    raised = None
                    for stream in ready:
                        wid, shard = running[stream]
                        outcome = self._take(ray, stream, shard, batch)
                        if isinstance(outcome, BaseException):
                            raised = outcome
                            break
                        if outcome == "more":
                            continue
                        del running[stream]
                        if outcome == "done":
                            idle.append(wid)
                        else:
                            idle.append(self._replace(ray, wid))
                            self._retry_or_fail(shard, wid, outcome, todo, batch)
                    if batch:
                        deliver(batch)
                    if raised is not None:      # the backend itself failed: the run ends as a local one would
                        raise raised
            finally:
                if stop.is_set():    # interrupted: nothing more may be sent
                    self._kill_all(ray)
        finally:
            deliver(None)

    def _take(self, ray, stream, shard: Shard, batch: list) -> str | BaseException:
        """Read one streamed answer into ``batch``: "more", "done", a lost worker's one-line reason, or the
        exception the backend raised on its worker (not a lost worker: asking again elsewhere would fail alike)."""
        try:
            resp: Response = ray.get(next(stream))
        except StopIteration:
            return "done"
        except ray.exceptions.RayTaskError as e:
            return e.cause if isinstance(getattr(e, "cause", None), BaseException) else e
        except Exception as e:   # noqa: BLE001 - a lost worker (actor died, node or object lost)
            return _first_line(e)
        shard.done.add(resp.key)
        batch.append(resp)
        return "more"

    def _replace(self, ray, wid: int) -> int:
        actor = self._actors.pop(wid, None)
        if actor is not None:
            try:
                ray.kill(actor)
            except Exception:   # noqa: BLE001 - already dead
                pass
        return self._new_actor(ray)

    def _retry_or_fail(self, shard: Shard, wid: int, reason: str, todo: list, batch: list) -> None:
        left = shard.remaining()
        self.retries.append({"shard": shard.index, "worker": wid, "attempt": shard.attempts,
                             "answered_before": len(shard.done), "left": len(left), "reason": reason[:300]})
        if not left:
            return
        if shard.attempts <= self.ray_options.max_retries:
            todo.insert(0, shard)
            return
        for key, _ in left:     # given up: one typed error per request, the run goes on
            batch.append(Response(key=key, error_type="worker_lost", attempts=shard.attempts,
                          error_message=f"Ray worker failed {shard.attempts} times on this shard: {reason[:300]}"))

    def _kill_all(self, ray) -> None:
        for actor in self._actors.values():
            try:
                ray.kill(actor)
            except Exception:   # noqa: BLE001 - already dead
                pass
        self._actors.clear()

    def close(self) -> None:
        if not self._actors and not self._started_ray:
            return
        import ray
        self._kill_all(ray)
        if self._started_ray and ray.is_initialized():
            ray.shutdown()
        self._started_ray = False


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}"[:500]


def check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Refuse at once a cluster address where nothing listens (``ray.init`` would retry for minutes, logging
    to stderr). ``auto`` (the cluster this machine belongs to) is left to Ray."""
    if address == "auto":
        return
    public = _public_address(address)
    hostport = address.partition("://")[2] if "://" in address else address
    hostport = hostport.rpartition("@")[2].split("/")[0]
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ConfigError("a Ray cluster address looks like HOST:PORT or ray://HOST:PORT", culprit=public)
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as e:
        raise ConfigError(f"cannot connect to the Ray cluster (nothing answers at {host}:{port}: "
                          f"{e.strerror or type(e).__name__})", culprit=public) from None


def _public_address(address: str | None) -> str | None:
    """The cluster address without credentials (``ray://user:pw@host`` -> ``ray://host``)."""
    if not address or "@" not in address:
        return address
    scheme, sep, rest = address.rpartition("://")
    return (scheme + sep if sep else "") + rest.rpartition("@")[2]


def as_dict(options: RayOptions) -> dict:
    return asdict(options)
