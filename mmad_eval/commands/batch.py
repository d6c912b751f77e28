"""Batch API jobs of a run folder: poll them (storing finished results) or cancel them."""
from __future__ import annotations

HELP = "Batch API jobs of an output folder: status (polls, stores finished results) or cancel"


def add_arguments(p) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    for action, help_ in (("status", "show each batch's state and counts; store the results of ended batches "
                                     "(exit code 75 while some are still running)"),
                          ("cancel", "cancel the open batches (their unanswered requests become pending again)")):
        a = sub.add_parser(action, help=help_, description=help_)
        a.add_argument("out", help="output directory of `mmad-eval run --batch-api`")
        a.add_argument("--name", help="only this run (default: every run in the folder)")
        a.add_argument("--base-url", help="talk to this server instead of the one each batch was sent to")
        a.add_argument("--api-key-env", help="environment variable holding the API key (default OPENAI_API_KEY)")
        if action == "status":
            a.add_argument("--wait", action="store_true", help="poll until every batch has ended")
            a.add_argument("--poll-s", type=float, default=60.0, help="seconds between polls (default 60)")
            a.add_argument("--wait-max-s", type=float, default=25 * 3600.0,
                           help="with --wait: stop waiting after this many seconds (default 90000 = 25 h)")


def _api_key(args, jobs) -> str:
    import os

    from ..backends.openai_replies import is_openai_host
    from ..errors import ConfigError

    var = args.api_key_env or "OPENAI_API_KEY"
    key = os.environ.get(var)
    if key:
        return key
    if args.api_key_env:
        raise ConfigError("environment variable is not set or empty", culprit=args.api_key_env)
    if any(is_openai_host(args.base_url or j.base_url) for j in jobs):
        raise ConfigError("no API key: set the OPENAI_API_KEY environment variable", culprit="batch")
    return "EMPTY"


def _refresh_usage(store, ledger, runs) -> None:
    """Record the runs' token usage and cost again (results were stored by this command)."""
    from ..backends.registry import load_presets
    from ..run.engine import with_cost

    presets = load_presets()
    for run in runs:
        record = store.run_record(run)
        if not record:
            continue
        spec = record.get("model_spec") or {}
        preset = presets.get(spec.get("name", ""))
        batch_price = preset.batch_price if preset and preset.model == spec.get("model") else {}
        record["usage"] = with_cost(store.usage(run), spec.get("price") or {}, batch_price, ledger.usage(run))
        store.put_run(run, record)


def main(args) -> int:
    import time
    from pathlib import Path

    from ..backends.openai_batch import BatchAPI
    from ..errors import ConfigError
    from ..run.batch_ledger import BatchLedger
    from ..run.batch_mode import ApiPool, BatchReport, job_table, sync
    from ..run.store import DB_NAME, Store

    if not (Path(args.out) / DB_NAME).is_file():
        raise ConfigError(f"no {DB_NAME} here: not an output folder of `mmad-eval run`", culprit=args.out)
    with Store(Path(args.out)) as store:
        ledger = BatchLedger(store)
        jobs = ledger.jobs(args.name)
        if not jobs:
            print(f"no Batch API jobs in {args.out}" + (f" for run {args.name!r}" if args.name else ""))
            return 0
        key = _api_key(args, jobs)
        apis = ApiPool(lambda url: BatchAPI(args.base_url or url, key))
        report = BatchReport()
        with ledger.exclusive():
            if args.action == "cancel":
                _cancel(ledger, store, apis, args.name)
            else:
                sync(ledger, store, apis, report, args.name)
                until = time.monotonic() + args.wait_max_s
                while args.wait and ledger.waiting_keys(args.name) and time.monotonic() + args.poll_s <= until:
                    time.sleep(args.poll_s)
                    sync(ledger, store, apis, report, args.name)
                _refresh_usage(store, ledger, {j.run for j in jobs})
        jobs = ledger.jobs(args.name)
        print("\n".join(job_table(jobs)))
        waiting = ledger.waiting_keys(args.name)
        print(f"{report.stored} results stored now ({report.failed} errors); {len(waiting)} requests waiting; "
              f"{report.returned} never run (pending again: rerun `mmad-eval run ... --batch-api` to send them)")
        for note in report.notes:
            print(f"note: {note}")
        return 75 if args.action == "status" and waiting else 0


def _cancel(ledger, store, apis, run) -> None:
    """Cancel every open job; one never submitted is abandoned (after checking the provider's lists); one whose
    batch cannot be looked for (a server that cannot list batches) is given up (:func:`give_up_unknown`)."""
    from ..backends.openai_batch import ENDED, BatchAPIError
    from ..run.batch_mode import give_up_unknown, recover_upload

    for job in ledger.jobs(run, open_only=True):
        api = apis(job.base_url)
        job = recover_upload(ledger, api, job, "cancelled before upload")
        if job is None:
            continue
        if job.state == "uploaded":
            try:
                batch = api.find_batch(job.job, job.created)
            except BatchAPIError as e:
                give_up_unknown(ledger, store, job, f"the server cannot list batches: {e}")
                continue
            if batch is None:
                ledger.end(job.job, "abandoned", note="cancelled before submission")
                continue
            ledger.set_batch(job.job, batch)
            job = ledger.job(job.job)
        if job.status not in ENDED:
            ledger.set_status(job.job, api.cancel(job.batch_id))
