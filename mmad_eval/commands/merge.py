"""Merge the stores of several output directories (e.g. shards run on different machines) into one."""
from __future__ import annotations

HELP = "Merge run stores (e.g. shards) into one output directory without losing answers"


def add_arguments(p) -> None:
    p.add_argument("sources", nargs="+", help="output directories to merge (each holds mmad-eval.sqlite)")
    p.add_argument("--out", required=True, help="output directory of the merged store (may already exist)")


def merge_stores(sources, out) -> dict:
    """Union of requests by key, runs by name and their memberships (:func:`..run.store_merge.merge_into`);
    raises on runs whose settings differ (the same check as a resume, :func:`..run.compat.incompatibilities`).

    All or nothing, in place: an existing target store is merged into under ONE write transaction of the store
    itself, so a run writing to it meanwhile waits for the merge (or the merge for its current commit) and
    neither side's answers are lost; a failure rolls everything back. A new target is built in a temporary
    file and linked into place only when complete (never over a store a run created meanwhile: that one is
    then merged into in place). Idempotent: merging the same sources again changes nothing.
    """
    from pathlib import Path

    from ..errors import ConfigError
    from ..run.store import DB_NAME

    out = Path(out).resolve()
    paths = [Path(s).resolve() for s in sources]
    for p in paths:
        if p == out:
            raise ConfigError("a source cannot also be the --out directory", culprit=str(p))
        if not (p / DB_NAME).is_file():
            raise ConfigError(f"no {DB_NAME} here", culprit=str(p))
    if out.exists() and not out.is_dir():
        raise ConfigError("is a file; --out must be a folder", culprit=str(out))
    stats = None if (out / DB_NAME).is_file() else _merge_into_new(paths, out)
    return stats if stats is not None else _merge_in_place(paths, out)


def _merge_in_place(paths, out) -> dict:
    from ..run.store import Store

    with Store(out) as target, target._lock, target.db.transaction(immediate=True):
        stats = _merge_all(paths, target)
    return stats


def _merge_all(paths, target) -> dict:
    from ..run.compat import incompatibilities
    from ..run.store import Store
    from ..run.store_merge import merge_into

    stats = {"runs": 0, "requests_added": 0, "errors_replaced": 0, "answer_conflicts": 0, "members": 0,
             "member_conflicts": 0}
    for src_path in paths:
        with Store(src_path, read_only=True) as src:
            _refuse_open_batches(src)
            for k, v in merge_into(target, src, incompatibilities).items():
                stats[k] += v
    stats["runs"] = len(target.run_names())
    return stats


def _merge_into_new(paths, out) -> dict | None:
    """Build a new target in a temporary file and link it into place; None when a store appeared there
    meanwhile (nothing linked: merge into that one in place). Errors name the target, not the temporary file."""
    import contextlib
    import os
    import tempfile

    from ..errors import ConfigError
    from ..run.store import DB_NAME, Store

    out.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{DB_NAME}.", suffix=".tmp", dir=out)
    os.close(fd)
    os.unlink(tmp)
    try:
        with Store(out, file=tmp) as target:
            stats = _merge_all(paths, target)
            target.db.execute("PRAGMA journal_mode=DELETE")    # one self-contained file to link
        try:
            os.link(tmp, out / DB_NAME)                        # never replaces a store created meanwhile
        except FileExistsError:
            return None
    except ConfigError as e:
        if e.culprit and tmp in e.culprit:
            raise type(e)(str(e).split(": ", 1)[-1], culprit=str(out / DB_NAME)) from None
        raise
    finally:
        for leftover in (tmp, tmp + "-wal", tmp + "-shm", tmp + "-journal"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(leftover)
    return stats


def _refuse_open_batches(src) -> None:
    """A store whose requests wait in open Batch API jobs is not merged: their results come back only to it,
    so the merged store would send those requests again (billed twice)."""
    from ..errors import ConfigError
    from ..run.batch_ledger import BatchLedger
    from ..run.store_db import StoreError

    try:
        waiting = BatchLedger(src).waiting_keys()
    except StoreError:                     # a store from before the Batch API tables: no batches
        return
    if waiting:
        raise ConfigError(f"{len(waiting)} requests here wait in open Batch API jobs; merged elsewhere they would "
                          "be sent again and billed twice. Collect them first (`mmad-eval run ... --batch-api "
                          "--wait` on this folder) or cancel them (`mmad-eval batch cancel`), then merge",
                          culprit=str(src.dir))


def main(args) -> int:
    stats = merge_stores(args.sources, args.out)
    print(f"merged {len(args.sources)} stores into {args.out}: {stats['runs']} runs, "
          f"{stats['requests_added']} requests added, {stats['errors_replaced']} errors replaced by answers, "
          f"{stats['members']} answers linked")
    if stats["answer_conflicts"] or stats["member_conflicts"]:
        print(f"warning: {stats['answer_conflicts']} requests had different answers in different stores and "
              f"{stats['member_conflicts']} questions pointed to different requests; the first seen was kept")
    return 0
