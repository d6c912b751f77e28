"""Merging one store into another (``mmad-eval merge``): runs by name, requests by key, memberships, images.
``target`` is written inside the caller's one transaction (commands/merge.py), so a merge is all or nothing."""
from __future__ import annotations

from typing import Callable

from ..errors import ConfigError
from .run_record import with_difficulty
from .store import MEMBER_COLUMNS, REQUEST_COLUMNS, Store, _insert


def merge_into(target: Store, src: Store, check: Callable[[dict, dict], list[str]]) -> dict:
    """Add ``src``'s runs, requests, members and images; ``check(have, new)`` names incompatible settings.

    A request stored as an error here and answered in ``src`` takes the answer; two different answers to
    one key (possible only with sampling) keep the first and count as ``answer_conflicts``. A member
    pointing to a failed request is repointed to an answered one; other disagreements keep the first.
    """
    stats = {"requests_added": 0, "errors_replaced": 0, "answer_conflicts": 0, "members": 0,
             "member_conflicts": 0}
    for name in src.run_names():
        _merge_run(target, name, src, check)
    _merge_requests(target, src, stats)
    _merge_members(target, src, stats)
    target.put_images(src.db.execute("SELECT sha, path, data FROM images").fetchall())
    for name in target.run_names():
        target.put_run(name, {**target.run_record(name), "usage": target.usage(name)})
    return stats


def _merge_run(target: Store, name: str, src: Store, check) -> None:
    rec, have = src.run_record(name), target.run_record(name)
    origin = {"dir": str(src.dir.resolve()), "slice": rec.get("slice")}
    if have is None:
        target.put_run(name, {**rec, "merged_from": [origin]})
        return
    diffs = check(have, rec)
    if diffs:
        raise ConfigError(f"run {name!r} has different settings here than in the stores merged so far "
                          f"({', '.join(diffs)}); merge only shards of the same run", culprit=str(src.dir))
    if origin not in have.setdefault("merged_from", []):      # merging the same store again adds nothing
        have["merged_from"].append(origin)
    starts = [x for x in (have.get("started"), rec.get("started")) if x]
    have["started"] = min(starts) if starts else None
    ends = [x for x in (have.get("ended"), rec.get("ended")) if x]
    have["ended"] = max(ends) if ends else None
    have.update(with_difficulty(have, rec))
    target.put_run(name, have)


def _merge_requests(target: Store, src: Store, stats: dict) -> None:
    existing = target.statuses()
    rows, texts = [], {}
    for values in src.db.execute(f"SELECT {','.join(REQUEST_COLUMNS)} FROM requests"):
        row = dict(zip(REQUEST_COLUMNS, values))
        old = existing.get(row["key"])
        if old is None or (old != "ok" and row["status"] == "ok"):
            rows.append(values)
            stats["requests_added" if old is None else "errors_replaced"] += 1
        elif old == "ok" and row["status"] == "ok":
            texts[row["key"]] = row["text"]
    have = target.requests_for(texts)
    stats["answer_conflicts"] += sum(1 for k, t in texts.items() if have[k]["text"] != t)
    with target._lock, target.db.transaction():
        target.db.executemany(_insert("requests", REQUEST_COLUMNS), rows)


def _merge_members(target: Store, src: Store, stats: dict) -> None:
    have = {(run, qid, rotation): key
            for run, qid, rotation, key in target.db.execute("SELECT run, qid, rotation, request_key FROM members")}
    status = target.statuses()
    rows = []
    for values in src.db.execute(f"SELECT {','.join(MEMBER_COLUMNS)} FROM members"):
        row = dict(zip(MEMBER_COLUMNS, values))
        old, new = have.get((row["run"], row["qid"], row["rotation"])), row["request_key"]
        if old is None or (old != new and status.get(old) != "ok" and status.get(new) == "ok"):
            rows.append(values)
        elif old != new:
            stats["member_conflicts"] += 1
    stats["members"] += len(rows)
    with target._lock, target.db.transaction():
        target.db.executemany(_insert("members", MEMBER_COLUMNS), rows)
