"""Merge the stores of several output directories (e.g. shards run on different machines) into one."""
from __future__ import annotations

HELP = "Merge run stores (e.g. shards) into one output directory without losing answers"


def add_arguments(p) -> None:
    p.add_argument("sources", nargs="+", help="output directories to merge (each holds mmad-eval.sqlite)")
    p.add_argument("--out", required=True, help="output directory of the merged store (may already exist)")


def merge_stores(sources, out) -> dict:
    """Union of requests by key, runs by name and their memberships; raises on inconsistent runs.

    A request stored as an error in one source and answered in another keeps the answer; two different
    answers to the same key (possible only with sampling) keep the first and are counted as conflicts.
    """
    from pathlib import Path

    from ..errors import ConfigError
    from ..run.record import same_settings
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
    with Store(out) as target:
        for src_path in paths:
            with Store(src_path) as src:
                _merge_runs(src, target, src_path, same_settings, ConfigError, stats)
                _merge_requests(src, target, stats)
                _merge_members(src, target, stats)
                target.put_images(list(src.image_rows()))
        for name in target.run_names():
            record = target.run_record(name)
            record["usage"] = target.usage(name)
            target.put_run(name, record)
        stats["runs"] = len(target.run_names())
    return stats


def _merge_runs(src, target, src_path, same_settings, ConfigError, stats) -> None:
    for name in src.run_names():
        rec = src.run_record(name)
        have = target.run_record(name)
        if have is None:
            rec["merged_from"] = [{"dir": str(src_path), "slice": rec.get("slice")}]
            target.put_run(name, rec)
            continue
        diffs = same_settings(have, rec)
        if (have.get("prompt") or {}).get("sha256") != (rec.get("prompt") or {}).get("sha256"):
            diffs.append("prompt.sha256")
        if diffs:
            raise ConfigError(f"run {name!r} has different settings here than in the stores merged so far "
                              f"({', '.join(diffs)}); merge only shards of the same run", culprit=str(src_path))
        have.setdefault("merged_from", []).append({"dir": str(src_path), "slice": rec.get("slice")})
        starts = [x for x in (have.get("started"), rec.get("started")) if x]
        have["started"] = min(starts) if starts else None
        ends = [x for x in (have.get("ended"), rec.get("ended")) if x]
        have["ended"] = max(ends) if ends else None
        target.put_run(name, have)


def _merge_requests(src, target, stats) -> None:
    existing = target.statuses()
    rows, texts = [], {}
    for row in src.request_rows():
        key, status = row[0], row[2]
        if key not in existing:
            rows.append(row)
            stats["requests_added"] += 1
        elif existing[key] != "ok" and status == "ok":
            rows.append(row)
            stats["errors_replaced"] += 1
        elif existing[key] == "ok" and status == "ok":
            texts[key] = row[3]
    if texts:
        have = target.requests_for(texts)
        stats["answer_conflicts"] += sum(1 for k, t in texts.items() if have[k]["text"] != t)
    target.put_request_rows(rows)


def _merge_members(src, target, stats) -> None:
    have = {(r[0], r[1], r[2]): r[8] for r in target.member_rows()}
    status = target.statuses()
    rows = []
    for row in src.member_rows():
        ident = (row[0], row[1], row[2])
        old = have.get(ident)
        if old is None or (old != row[8] and status.get(old) != "ok" and status.get(row[8]) == "ok"):
            rows.append(row)
        elif old != row[8]:
            stats["member_conflicts"] += 1
    stats["members"] += len(rows)
    target.put_member_rows(rows)


def main(args) -> int:
    stats = merge_stores(args.sources, args.out)
    print(f"merged {len(args.sources)} stores into {args.out}: {stats['runs']} runs, "
          f"{stats['requests_added']} requests added, {stats['errors_replaced']} errors replaced by answers, "
          f"{stats['members']} answers linked")
    if stats["answer_conflicts"] or stats["member_conflicts"]:
        print(f"warning: {stats['answer_conflicts']} requests had different answers in different stores and "
              f"{stats['member_conflicts']} questions pointed to different requests; the first seen was kept")
    return 0
