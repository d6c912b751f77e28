"""Merging stores (run/store_merge.py): the merged run records where its shards came from, once each, and the
merge's counts say what it added (issue 25: the merge survivors of the mutation tool)."""
from mmad_eval.backends.base import Response
from mmad_eval.run.store import Member, Store
from mmad_eval.run.store_merge import merge_into

YN = {"A": "Yes", "B": "No"}
NO_DIFFS = lambda have, new: []          # noqa: E731  (settings check: every run is compatible here)


def _shard(path, run: str, keys: list[str], started: str) -> Store:
    s = Store(path)
    s.put_run(run, {"started": started, "slice": f"{keys[0]}..", "model": "m"})
    for k in keys:
        s.put_response(Response(key=k, text="A", prompt_tokens=2, completion_tokens=1), "[]")
    s.put_members(run, [Member(f"{k}#0", 0, k, 0, "Anomaly Detection", YN, "A", k) for k in keys])
    return s


def _origins(store: Store, run: str) -> list[str]:
    return [o["dir"] for o in store.run_record(run)["merged_from"]]


def test_a_run_new_to_the_target_arrives_whole_with_its_origin(tmp_path):
    for run, keys in (("r", ["k1", "k2"]), ("other-run", ["x"])):
        target, src = Store(tmp_path / f"{run}-t"), _shard(tmp_path / f"{run}-s", run, keys, "2026-01-01")
        stats = merge_into(target, src, NO_DIFFS)
        rec = target.run_record(run)
        assert target.run_names() == [run] and rec["model"] == "m" and rec["slice"] == f"{keys[0]}.."
        assert _origins(target, run) == [str(src.dir.resolve())]
        assert stats["members"] == len(keys) and stats["requests_added"] == len(keys)
        assert stats["errors_replaced"] == stats["answer_conflicts"] == stats["member_conflicts"] == 0
        assert rec["usage"]["ok"] == len(keys)
        target.close(), src.close()


def test_each_shard_is_recorded_once_in_merged_from(tmp_path):
    target = Store(tmp_path / "t")
    shards = [_shard(tmp_path / f"s{i}", "r", [f"k{i}{j}" for j in range(i + 1)], f"2026-01-0{3 - i}") for i in range(3)]
    counts = [merge_into(target, s, NO_DIFFS)["members"] for s in shards]
    assert counts == [1, 2, 3]
    assert merge_into(target, shards[1], NO_DIFFS)["members"] == 0          # merged again: nothing new
    assert _origins(target, "r") == [str(s.dir.resolve()) for s in shards]
    assert target.run_record("r")["started"] == "2026-01-01"
    assert len(target.members("r")) == 6
    for s in (target, *shards):
        s.close()
