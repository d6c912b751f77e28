"""``--batch-api``: pending requests go out as OpenAI Batch API jobs; later invocations poll them and store every
result exactly as a live answer (same key, same parsing, typed errors).

One invocation: (1) reconcile and poll the run's open jobs (see :mod:`.batch_ledger`), storing the results of
ended batches; (2) send what is still pending and not waiting in a batch, in files split by the provider's
limits, each job recorded before its upload and its file id before its batch is created; (3) with ``wait``,
sleep ``poll_s`` and repeat until no batch of the run is open. Nothing is ever sent while it waits in a batch.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

from ..backends.base import Response
from ..backends.openai_api import OpenAIBackend
from ..backends.convert import request_letters
from ..backends.batch_download import LINE_ENVELOPE_BYTES, DownloadLimits, LineReader
from ..backends.openai_batch import ENDED, BatchAPI, BatchAPIError, BatchLimits, ChunkFile, batch_line, retrying
from ..errors import ConfigError
from .answer_writer import store_answer
from .batch_ledger import BatchLedger, Job
from .executor import Outcome, StoreCachedBackend
from .leases import Claims
from .store import Store

MAX_WAIT_S = 25 * 3600.0     # default bound of --wait: the 24 h completion window and an hour to spare
PREPARE_WINDOW = 64          # requests whose bodies (image encodes) are built together in threads


@dataclass(frozen=True)
class BatchOptions:
    """How ``run --batch-api`` uses the Batch API (transport only: answers and their keys are the same)."""

    wait: bool = False                 # poll until every batch of the run has ended
    poll_s: float = 60.0
    max_wait_s: float = MAX_WAIT_S     # ``wait`` ends after this long (batches left open: rerun to collect)
    limits: BatchLimits = BatchLimits()


@dataclass
class BatchReport:
    """What one invocation did with the Batch API."""

    submitted: int = 0                 # requests sent in new batches now
    new_batches: int = 0
    stored: int = 0                    # results stored from ended batches now
    failed: int = 0                    # of which typed errors
    returned: int = 0                  # never run (expired, cancelled, failed batch): pending again
    not_sent: int = 0                  # could not be built or too large: stored as errors
    waiting: int = 0                   # requests still in open batches
    jobs: list[Job] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    stored_keys: set[str] = field(default_factory=set)
    sent_keys: set[str] = field(default_factory=set)
    in_failed_batches: dict[str, int] = field(default_factory=dict)   # key -> batches that returned it unrun
    #                                    (failed, expired or cancelled) in this invocation
    held: int = 0                      # returned unrun MAX_FAILED_BATCHES times: not sent again now
    asked_live: int = 0                # not sent: another process was asking them live (claimed)

    def as_dict(self) -> dict:
        return {"submitted": self.submitted, "new_batches": self.new_batches, "stored": self.stored,
                "failed": self.failed, "returned": self.returned, "waiting": self.waiting}

    def line(self) -> str:
        s = (f"batch API: {self.submitted} requests sent in {self.new_batches} new batches; "
             f"{self.stored} results stored ({self.failed} errors); {self.waiting} requests waiting in "
             f"{sum(j.state in ('preparing', 'uploaded', 'submitted') for j in self.jobs)} open batches")
        if self.returned:
            s += f"; {self.returned} never run (expired/cancelled), pending again"
        if self.asked_live:
            s += f"; {self.asked_live} not sent: another process was asking them live"
        return s


def job_table(jobs: list[Job]) -> list[str]:
    """One line per job: batch id, state, provider status and request counts."""
    out = []
    for j in jobs:
        c = j.counts or {}
        counts = f"{c.get('completed', 0)}/{c.get('total', j.n_requests)} done, {c.get('failed', 0)} failed"
        out.append(f"  {j.batch_id or '(no batch yet)':<24} {j.run:<20} {j.state:<10} {j.status or '-':<12} "
                   f"{j.n_requests:>6} requests  {counts}" + (f"  [{j.note}]" if j.note else ""))
    return out


class ApiPool:
    """One :class:`BatchAPI` per base URL (a job is polled where it was sent); ``make(base_url)`` makes one."""

    def __init__(self, make: Callable[[str], BatchAPI]):
        self._make, self._apis = make, {}

    def __call__(self, base_url: str) -> BatchAPI:
        if base_url not in self._apis:
            self._apis[base_url] = self._make(base_url)
        return self._apis[base_url]


def sync(ledger: BatchLedger, store: Store, apis: ApiPool, report: BatchReport, run: str | None = None) -> None:
    """Reconcile and poll every open job (of ``run``); store the results of ended batches."""
    for job in ledger.jobs(run, open_only=True):
        api = apis(job.base_url)
        job = recover_upload(ledger, api, job, "never uploaded")
        if job is None:
            continue
        if job.state == "uploaded":            # killed around the create: was the batch made?
            batch = _find_batch_or_stop(api, job) or _create(api, job)
            ledger.set_batch(job.job, batch)
            job = ledger.job(job.job)
        batch = api.retrieve(job.batch_id)
        ledger.set_status(job.job, batch)
        if batch.get("status") in ENDED:
            collect(ledger, store, api, ledger.job(job.job), batch, report)


def _find_batch_or_stop(api: BatchAPI, job: Job) -> dict | None:
    """The batch made for a job killed around its create, None when there is none; a server that cannot list
    batches cannot say, so nothing is created again (it might be billed twice): the way forward is named."""
    try:
        return api.find_batch(job.job, job.created)
    except BatchAPIError as e:
        raise BatchAPIError(f"{e}; cannot tell whether the batch of job {job.job} ({job.n_requests} requests) was "
                            "made before the process sending it stopped. Nothing is sent again: run `mmad-eval "
                            "batch cancel OUT` to give it up (its requests are stored as errors, asked again only "
                            "with --retry-failed)", kind="batch_api") from None


def give_up_unknown(ledger: BatchLedger, store: Store, job: Job, why: str) -> None:
    """A job whose batch may or may not exist: its unanswered requests are stored as ``batch_unknown``
    errors (never sent again without --retry-failed, so never billed twice unasked) and the job abandoned."""
    for key, (content, _, outcome) in ledger.requests(job.job).items():
        if outcome is None:
            store.put_response(Response(key=key, error_type="batch_unknown", attempts=0, error_message=(
                f"sent in job {job.job}, whose batch may exist ({why}); check the provider's dashboard; "
                "--retry-failed asks it again")), content)
            ledger.mark(job.job, key, "error")
    ledger.end(job.job, "abandoned", note=f"given up: {why}")


def recover_upload(ledger: BatchLedger, api: BatchAPI, job: Job, note: str) -> Job | None:
    """A job killed around its upload: the file the provider received is recorded, or, when there is none
    or the server cannot list files, the job is abandoned with ``note`` (None). Abandoning a ``preparing``
    job never bills twice: its batch was never created (that happens only after the file id is stored), and
    an uploaded file alone is not billed. Jobs past that step are returned as they are."""
    if job.state != "preparing":
        return job
    try:
        file_id = api.find_file(job.filename, job.created)
    except BatchAPIError as e:
        ledger.end(job.job, "abandoned", note=f"{note}; the server cannot list files ({e}): any file it "
                                              "received is left unused, no batch was made from it")
        return None
    if file_id is None:
        ledger.end(job.job, "abandoned", note=note)
        return None
    ledger.set_file(job.job, file_id)
    return ledger.job(job.job)


def _create(api: BatchAPI, job: Job) -> dict:
    """Create the job's batch once; when the answer is lost, look for it by its metadata before failing."""
    try:
        return api.create(job.file_id, job.job, job.run)
    except BatchAPIError:
        time.sleep(1.0)
        found = api.find_batch(job.job, job.created)
        if found is None:
            raise
        return found


def collect(ledger: BatchLedger, store: Store, api: BatchAPI, job: Job, batch: dict, report: BatchReport) -> None:
    """Store every result of an ended batch as a live answer; what it never ran is pending again. Result files
    are read as they stream in, within bounds (:meth:`BatchAPI.limits`): a line over the cap is its request's
    ``reply_too_large`` error; when a file is cut off (too large, too slow) the requests left without a result
    are ``batch_result_cut_off`` errors (they were run and billed: never sent again unasked)."""
    reqs = ledger.requests(job.job)
    record = store.run_record(job.run) or {}
    limits = api.limits(job.n_requests, ((record.get("backend") or {}).get("transport")))
    unrun: set[str] = set()
    cut = []
    for file_id in (batch.get("output_file_id"), batch.get("error_file_id")):
        if file_id:
            why = _collect_file(ledger, store, api, job, file_id, limits, reqs, unrun, report)
            if why:
                cut.append(f"{file_id} ({why})")
    if cut:
        _cut_off(ledger, store, api, job, cut, reqs, unrun, report)
    report.returned += sum(1 for _, _, o in reqs.values() if o is None)
    note = None
    errors = ((batch.get("errors") or {}).get("data") or [])
    if batch.get("status") == "failed":
        note = "failed: " + "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors[:3])
        report.notes.append(f"batch {job.batch_id} {note} (its requests are pending again)")
    for key, (_, _, outcome) in reqs.items():      # failed, expired or cancelled: counted toward the cap
        if outcome is None:
            report.in_failed_batches[key] = report.in_failed_batches.get(key, 0) + 1
    ledger.end(job.job, note=note)


def _collect_file(ledger: BatchLedger, store: Store, api: BatchAPI, job: Job, file_id: str, limits: DownloadLimits,
                  reqs: dict, unrun: set, report: BatchReport) -> str | None:
    """Store the results of one file as they stream in; returns why it was cut off (None: read whole)."""
    reader, too_large = LineReader(limits), 0
    for kind, item in api.results(file_id, reader):
        key = item if kind == "too_large" else item["custom_id"]
        if key not in reqs or reqs[key][2] is not None:
            continue
        content, letters, _ = reqs[key]
        if kind == "too_large":
            too_large += 1
            resp = Response(key=key, error_type="reply_too_large", attempts=1, error_message=(
                f"its result line in file {file_id} at {api.base_url} is larger than max_reply_bytes="
                f"{limits.max_line_bytes - LINE_ENVELOPE_BYTES:,} (and {LINE_ENVELOPE_BYTES:,} bytes of envelope); "
                "not stored"))
        else:
            resp = api.result(item, letters)
        if resp is None:
            unrun.add(key)
            continue
        _store_result(ledger, store, job, key, resp, reqs, report)
    if too_large:
        lines = "1 result line" if too_large == 1 else f"{too_large} result lines"
        report.notes.append(f"batch {job.batch_id}: {lines} of file {file_id} at {api.base_url} "
                            f"{'was' if too_large == 1 else 'were'} larger than max_reply_bytes="
                            f"{limits.max_line_bytes - LINE_ENVELOPE_BYTES:,}: "
                            "stored as reply_too_large errors (--backend-option max_reply_bytes=N to allow more)")
    return reader.cut


def _cut_off(ledger: BatchLedger, store: Store, api: BatchAPI, job: Job, cut: list[str], reqs: dict, unrun: set,
             report: BatchReport) -> None:
    """The requests a cut-off result file left without a result: ``batch_result_cut_off`` errors."""
    files = "; ".join(cut)
    left = [k for k, (_, _, o) in reqs.items() if o is None and k not in unrun]
    for key in left:
        _store_result(ledger, store, job, key, Response(
            key=key, error_type="batch_result_cut_off", attempts=1, error_message=(
                f"batch {job.batch_id}: its result file {files} at {api.base_url} was cut off before this "
                "request's result; --retry-failed asks it again")), reqs, report)
    report.notes.append(f"batch {job.batch_id}: result file {files} at {api.base_url} was cut off; {len(left)} "
                        "requests without a result there are stored as batch_result_cut_off errors (they were run: "
                        "asked again only with --retry-failed)")


def _store_result(ledger: BatchLedger, store: Store, job: Job, key: str, resp: Response, reqs: dict,
                  report: BatchReport) -> None:
    content, letters, _ = reqs[key]
    stored_ok = store_answer(store, resp, content)
    ledger.mark(job.job, key, "answered" if stored_ok else "error")
    reqs[key] = (content, letters, "answered")
    report.stored += 1
    report.failed += 0 if stored_ok else 1
    report.stored_keys.add(key)


def submit(ledger: BatchLedger, store: Store, api: BatchAPI, run: str, backend, todo: list, limits: BatchLimits,
           report: BatchReport, claims: Claims | None = None) -> None:
    """Send ``(key, request)`` pairs as new batches, split by ``limits``."""
    chunk, metas = ChunkFile(limits), []
    with ThreadPoolExecutor(getattr(backend, "prepare_threads", 2), thread_name_prefix="mmad-batch") as pool:
        for i in range(0, len(todo), PREPARE_WINDOW):
            window = todo[i:i + PREPARE_WINDOW]
            for (key, req), body in zip(window, pool.map(lambda kr: backend.request_body(*kr), window)):
                line = batch_line(key, body) if not isinstance(body, Response) else b""
                if isinstance(body, Response) or len(line) > limits.max_bytes:
                    resp = body if isinstance(body, Response) else Response(
                        key=key, error_type="too_large", attempts=0,
                        error_message=f"request is {len(line)} bytes; a batch file holds at most {limits.max_bytes}")
                    store.put_response(resp, req.content())
                    report.not_sent += 1
                    report.stored_keys.add(key)
                    continue
                if not chunk.fits(line):
                    _send(ledger, api, run, chunk, metas, report, claims)
                    chunk, metas = ChunkFile(limits), []
                chunk.add(key, line)
                metas.append((key, req.content(), request_letters(req)))
    if metas:
        _send(ledger, api, run, chunk, metas, report, claims)
    else:
        chunk.close()


def _send(ledger: BatchLedger, api: BatchAPI, run: str, chunk: ChunkFile, metas: list, report: BatchReport,
          claims: Claims | None = None) -> None:
    try:
        job = ledger.add_job(run, api.base_url, metas, chunk.n_bytes, claims)  # 1. the intent, before any call
        file_id = retrying(lambda: api.upload(job.filename, chunk.file))  # 2. a lost upload only orphans a file
        ledger.set_file(job.job, file_id)                                  # 3. before the batch exists
        ledger.set_batch(job.job, _create(api, ledger.job(job.job)))       # 4. at once
    finally:
        chunk.close()
    report.submitted += len(metas)
    report.sent_keys.update(k for k, _, _ in metas)
    report.new_batches += 1


MAX_FAILED_BATCHES = 3      # a request returned unrun by this many batches (failed, expired, cancelled) is not
#                             sent again in one invocation (so --wait never resends without end)


def run_batches(store: Store, run: str, backend, pending: list, options: BatchOptions = BatchOptions(),
                sleep=time.sleep, retry_failed: bool = False) -> BatchReport:
    """Poll the run's batches, send what is pending, and (``wait``) repeat until none is open. Requests are
    claimed (run/leases.py) before they are written into a job: one that a live run on the same folder is
    asking is not sent."""
    if not isinstance(backend, OpenAIBackend):
        raise ConfigError("--batch-api needs the openai backend in this process (an OpenAI-compatible Batch API)",
                          culprit=type(backend).__name__)
    ledger, report = BatchLedger(store), BatchReport()
    apis = ApiPool(lambda url: BatchAPI.for_backend(backend, url))
    with ledger.exclusive(), Claims(store, since=time.time(), retry_failed=retry_failed, run=run) as claims:
        _rounds(ledger, store, apis, run, backend, pending, options, report, sleep, claims)
    report.waiting = len(ledger.waiting_keys(run))
    report.jobs = ledger.jobs(run)
    return report


def _rounds(ledger, store, apis, run, backend, pending, options, report, sleep, claims,
            clock=time.monotonic) -> None:
    api = apis(backend.base_urls[0])
    start = clock()
    while True:
        sync(ledger, store, apis, report, run)
        status, waiting = store.statuses(), ledger.waiting_keys()
        todo = [(k, r) for k, r in pending if k not in waiting and k not in report.stored_keys
                and (status.get(k) != "ok") and report.in_failed_batches.get(k, 0) < MAX_FAILED_BATCHES]
        todo = _claimed(claims, todo, report)
        if todo:
            submit(ledger, store, api, run, backend, todo, options.limits, report, claims)
        if not options.wait or not ledger.waiting_keys(run):
            break
        if clock() - start + options.poll_s > options.max_wait_s:
            report.notes.append(f"stopped waiting after {clock() - start:.0f} s (--wait-max-s {options.max_wait_s:g}); "
                                "the open batches keep running: rerun, or `mmad-eval batch status OUT --wait`, "
                                "to collect them")
            break
        sleep(options.poll_s)
    report.held = sum(1 for n in report.in_failed_batches.values() if n >= MAX_FAILED_BATCHES)
    if report.held:
        report.notes.append(f"{report.held} requests came back unrun from {MAX_FAILED_BATCHES} failed, expired or "
                            "cancelled batches in this invocation: not sent again until the next run")


def _claimed(claims: Claims, todo: list, report: BatchReport) -> list:
    """The pairs of ``todo`` this process could claim; those another live process is asking are left to it."""
    got: set[str] = set()
    for i in range(0, len(todo), 500):
        keys, busy = claims.claim([k for k, _ in todo[i:i + 500]])
        got.update(keys)
        report.asked_live += busy
    return [(k, r) for k, r in todo if k in got]


class StoreBatchedBackend:
    """The Batch API counterpart of :class:`~.executor.StoreCachedBackend`: stored answers are served, the rest
    is sent in batches (unless it already waits in one); results are stored as their batches end."""

    def __init__(self, backend, store: Store, run: str, options: BatchOptions):
        self.backend, self.store, self.run, self.options = backend, store, run, options

    def answer(self, requests: dict, *, retry_failed: bool = False, progress: bool = False) -> Outcome:
        status = self.store.statuses()
        pending = StoreCachedBackend(self.backend, self.store).pending(requests, status, retry_failed)
        report = run_batches(self.store, self.run, self.backend, pending, self.options, retry_failed=retry_failed)
        return Outcome(asked=report.submitted, failed=report.failed + report.not_sent, answered=report.sent_keys,
                       status=status, pending=len(pending), batch=report, stored_errors=0 if retry_failed else sum(
                           1 for k in requests if status.get(k) == "error"))
