"""Merging stores: an answer always beats an error for the same request, nothing is lost or doubled, and
merging two stores gives what asking the union once would have stored (issue 25)."""
import tempfile
from pathlib import Path

from hypothesis import given, settings, strategies as st

from mmad_eval.backends.base import Response
from mmad_eval.run.store import Member, Store
from mmad_eval.run.store_merge import merge_into

YN = {"A": "Yes", "B": "No"}
NO_DIFFS = lambda have, new: []          # noqa: E731  (settings check: every run is compatible here)


def _put(store: Store, key: str, outcome: str | None, run: str = "r", qid: str | None = None, tokens: int = 1):
    """Store ``outcome`` for ``key``: a reply text, or None for a failed request; and a member pointing to it."""
    resp = (Response(key=key, text=outcome, prompt_tokens=tokens, completion_tokens=1) if outcome is not None
            else Response(key=key, error_type="timeout", error_message="slow", attempts=3))
    store.put_response(resp, "[]")
    qid = qid or f"{key}#0"
    store.put_members(run, [Member(qid, 0, qid.split("#")[0], 0, "Anomaly Detection", YN, "A", key)])


def _state(store: Store) -> tuple[dict, dict]:
    rows = store.requests_for(store.statuses())
    return ({k: (r["status"], r["text"]) for k, r in rows.items()},
            {m.qid: m.request_key for m in store.members("r")})


def test_an_answer_replaces_an_error_for_the_same_request_in_either_direction(tmp_path):
    for error_side in ("target", "source"):
        a, b = Store(tmp_path / f"{error_side}-a"), Store(tmp_path / f"{error_side}-b")
        a.put_run("r", {"started": "2026-01-02", "ended": "2026-01-03"})
        b.put_run("r", {"started": "2026-01-01", "ended": "2026-01-05"})
        _put(a, "k", None if error_side == "target" else "A")
        _put(b, "k", "A" if error_side == "target" else None)
        _put(b, "only-b", "B")
        stats = merge_into(a, b, NO_DIFFS)
        requests, members = _state(a)
        assert requests == {"k": ("ok", "A"), "only-b": ("ok", "B")}
        assert members == {"k#0": "k", "only-b#0": "only-b"}
        assert stats["errors_replaced"] == (error_side == "target") and stats["requests_added"] == 1
        rec = a.run_record("r")
        assert (rec["started"], rec["ended"]) == ("2026-01-01", "2026-01-05")
        assert a.usage("r")["ok"] == 2 and a.usage("r")["error"] == 0
        a.close(), b.close()


def test_a_member_pointing_to_a_failed_request_is_repointed_to_an_answered_one(tmp_path):
    a, b = Store(tmp_path / "a"), Store(tmp_path / "b")
    a.put_run("r", {}), b.put_run("r", {})
    _put(a, "k-old", None, qid="img#0")
    _put(b, "k-new", "B", qid="img#0")
    _put(a, "k2-a", "A", qid="img#1")
    _put(b, "k2-b", "B", qid="img#1")            # both answered: the first (target's) stays, counted
    stats = merge_into(a, b, NO_DIFFS)
    assert _state(a)[1] == {"img#0": "k-new", "img#1": "k2-a"}
    assert stats["member_conflicts"] == 1
    _put(b, "k-x", "C", qid="img#2")
    b2 = Store(tmp_path / "c")
    b2.put_run("r", {})
    _put(b2, "k-x", "D", qid="img#2")            # two different answers to one key: first kept, counted
    assert merge_into(a, b, NO_DIFFS)["requests_added"] == 1
    assert merge_into(a, b2, NO_DIFFS)["answer_conflicts"] == 1
    assert _state(a)[0]["k-x"] == ("ok", "C")
    for s in (a, b, b2):
        s.close()


OUTCOME = st.one_of(st.none(), st.sampled_from(["A", "B"]))


@settings(max_examples=25)
@given(st.dictionaries(st.sampled_from([f"k{i}" for i in range(6)]), st.tuples(OUTCOME, OUTCOME), min_size=1))
def test_merging_two_stores_equals_asking_the_union_once(plan):
    """plan: key -> (outcome in store a, outcome in store b); absent = that store never asked. Reply texts
    agree across stores (deterministic decoding); a failure in one store is an answer in the union if the
    other answered."""
    with tempfile.TemporaryDirectory() as d:
        a, b, union = Store(Path(d, "a")), Store(Path(d, "b")), Store(Path(d, "u"))
        for s in (a, b, union):
            s.put_run("r", {})
        for i, (key, (in_a, in_b)) in enumerate(sorted(plan.items())):
            text = "AB"[i % 2]
            if i % 3 != 1:
                _put(a, key, text if in_a else None)
            if i % 3 != 0:
                _put(b, key, text if in_b else None)
            answered = (i % 3 != 1 and in_a) or (i % 3 != 0 and in_b)
            _put(union, key, text if answered else None)
        merge_into(a, b, NO_DIFFS)
        assert _state(a) == _state(union)
        assert a.usage("r") == union.usage("r")
        for s in (a, b, union):
            s.close()


def test_usage_tokens_and_reasoning_tokens_count_each_request_once(tmp_path):
    with Store(tmp_path) as s:
        s.put_response(Response(key="k1", text="A", prompt_tokens=10, completion_tokens=4,
                                extra={"reasoning_tokens": 3, "finish_reason": "stop"}), "[]")
        s.put_response(Response(key="k2", error_type="timeout", error_message="slow"), "[]")
        s.put_members("r", [Member(f"x#{i}", 0, "x", i, "Anomaly Detection", YN, "A", k)
                            for i, k in enumerate(["k1", "k1", "k2"])])        # two questions share k1
        want = {"answers": 3, "requests": 2, "ok": 1, "error": 1, "prompt_tokens": 10, "completion_tokens": 4,
                "reasoning_tokens": 3}
        assert {k: s.usage("r").get(k) for k in want} == want
        assert "reasoning_tokens" not in s.usage("other") and s.usage("other")["answers"] == 0


def test_stored_rows_redact_errors_and_note_replaced_characters(tmp_path):
    from mmad_eval.redact import register_secret
    register_secret("AIzaSyStoreTestKey0123456789")
    with Store(tmp_path) as s:
        s.put_response(Response(key="e", error_type=None, error_message="bad key AIzaSyStoreTestKey0123456789"), None)
        s.put_response(Response(key="u", text="A\ud800B"), [{"role": "user"}])
        rows = s.requests_for(["e", "u"])
    assert rows["e"]["status"] == "error" and rows["e"]["error_type"] == "error"
    assert "AIzaSy" not in rows["e"]["error_message"] and rows["e"]["content"] is None
    assert rows["u"]["status"] == "ok" and rows["u"]["text"] == "A\ufffdB"
    assert rows["u"]["error_message"].startswith("replaced_characters: 1 characters")
    assert rows["u"]["content"] == '[{"role": "user"}]'


def test_runs_in_start_order_and_read_modify_write(tmp_path):
    with Store(tmp_path) as s:
        s.put_run("b", {"started": "2026-01-01"})
        s.put_run("a", {"started": "2026-02-01"})
        assert s.run_names() == ["b", "a"]
        assert s.update_run("c", lambda rec: {"n": (rec or {}).get("n", 0) + 1}) == {"n": 1}
        assert s.update_run("c", lambda rec: {"n": rec["n"] + 1}) == {"n": 2} and s.run_record("c") == {"n": 2}
        assert s.run_record("zzz") is None


def test_a_store_from_a_newer_release_is_refused_by_name(tmp_path):
    import sqlite3

    import pytest

    Store(tmp_path).close()
    with sqlite3.connect(tmp_path / "mmad-eval.sqlite") as db:
        db.execute("PRAGMA user_version = 99")
    for read_only in (False, True):
        with pytest.raises(Exception, match="newer mmad-eval .*store schema 99"):
            Store(tmp_path, read_only=read_only)


def test_a_sqlite_file_that_is_no_store_is_one_clear_error(tmp_path):
    import sqlite3

    import pytest

    from mmad_eval.errors import ConfigError

    with sqlite3.connect(tmp_path / "mmad-eval.sqlite") as db:
        db.execute("CREATE TABLE photos (name TEXT)")
    with pytest.raises(ConfigError, match="not a readable mmad-eval store"):       # (score, report, merge source)
        Store(tmp_path, read_only=True)
