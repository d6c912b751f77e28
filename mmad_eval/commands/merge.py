"""Merge the stores of several output directories (e.g. shards run on different machines) into one."""
from __future__ import annotations

HELP = "Merge run stores (e.g. shards) into one output directory without losing answers"


def add_arguments(p) -> None:
    p.add_argument("sources", nargs="+", help="output directories to merge (each holds mmad-eval.sqlite)")
    p.add_argument("--out", required=True, help="output directory of the merged store (may already exist)")


def merge_stores(sources, out) -> dict:
    """Union of requests by key, runs by name and their memberships (:meth:`Store.merge_from`); raises on
    runs whose settings differ (the same check as a resume, :func:`mmad_eval.run.compat.incompatibilities`).

    All or nothing: the merge is built in a temporary copy of the target store, renamed into place only when
    complete (a failure leaves the target as it was). Idempotent: merging the same sources again changes
    nothing.
    """
    from pathlib import Path

    from ..atomic_write import atomic_path
    from ..errors import ConfigError
    from ..run.compat import incompatibilities
    from ..run.store import DB_NAME, Store

    out = Path(out).resolve()
    paths = [Path(s).resolve() for s in sources]
    for p in paths:
        if p == out:
            raise ConfigError("a source cannot also be the --out directory", culprit=str(p))
        if not (p / DB_NAME).is_file():
            raise ConfigError(f"no {DB_NAME} here", culprit=str(p))
    stats = {"runs": 0, "requests_added": 0, "errors_replaced": 0, "answer_conflicts": 0, "members": 0,
             "member_conflicts": 0}
    if out.exists() and not out.is_dir():
        raise ConfigError("is a file; --out must be a folder", culprit=str(out))
    with atomic_path(out / DB_NAME) as tmp:
        if (out / DB_NAME).is_file():
            _copy_store(out, tmp)
        with Store(out, file=tmp) as target:
            for src_path in paths:
                with Store(src_path, read_only=True) as src:
                    _refuse_open_batches(src)
                    for k, v in target.merge_from(src, incompatibilities).items():
                        stats[k] += v
            stats["runs"] = len(target.run_names())
            target.db.execute("PRAGMA journal_mode=DELETE")    # one self-contained file to rename
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


def _copy_store(out, tmp) -> None:
    """A consistent copy of the existing target store (its WAL included) into ``tmp``, at this release's
    schema (an older target is migrated in the copy, never in place)."""
    from ..run.store import Store

    with Store(out, read_only=True) as have, Store(out, file=tmp) as copy:
        have.db.db.backup(copy.db.db)      # (the GuardedDB's sqlite3 connections)
    Store(out, file=tmp).close()


def main(args) -> int:
    stats = merge_stores(args.sources, args.out)
    print(f"merged {len(args.sources)} stores into {args.out}: {stats['runs']} runs, "
          f"{stats['requests_added']} requests added, {stats['errors_replaced']} errors replaced by answers, "
          f"{stats['members']} answers linked")
    if stats["answer_conflicts"] or stats["member_conflicts"]:
        print(f"warning: {stats['answer_conflicts']} requests had different answers in different stores and "
              f"{stats['member_conflicts']} questions pointed to different requests; the first seen was kept")
    return 0
