"""Claims on requests shared by processes: no request asked twice at once, none left unasked (issue 25)."""
import subprocess
import sys
import time

from mmad_eval.backends.base import Response
from mmad_eval.run.leases import Claims, ClaimingItems
from mmad_eval.run.store import Store


def _store(tmp_path):
    s = Store(tmp_path)
    s.put_response(Response(key="ok", text="A"), "[]")
    s.put_response(Response(key="failed", error_type="timeout", error_message="slow"), "[]")
    return s


def test_two_writers_split_the_keys_and_answered_ones_are_never_claimed(tmp_path):
    s = _store(tmp_path)
    a, b = Claims(s, since=time.time(), retry_failed=False), Claims(s, since=time.time(), retry_failed=False)
    assert a.claim(["k1", "k2", "ok", "failed"]) == (["k1", "k2"], 0)
    assert b.claim(["k1", "k2", "k3"]) == (["k3"], 2)
    assert a.claim(["k1"]) == (["k1"], 0)            # its own claim is renewed, not busy
    assert a.claim([]) == ([], 0)
    with a:
        pass                                          # ending releases a's claims
    assert b.claim(["k1", "k2"]) == (["k1", "k2"], 0)
    assert a.unfinished(["k1", "ok", "failed"]) == ["k1"]


def test_retry_failed_asks_old_failures_again_but_not_ones_another_writer_just_stored(tmp_path):
    s = _store(tmp_path)
    later = Claims(s, since=time.time() + 100, retry_failed=True)       # started after the failure was stored
    assert later.claim(["ok", "failed"]) == (["failed"], 0)
    assert later.unfinished(["ok", "failed", "new"]) == ["failed", "new"]
    earlier = Claims(s, since=0.0, retry_failed=True)                     # the failure was stored during its run
    assert earlier.claim(["failed"]) == ([], 0) and earlier.unfinished(["failed"]) == []


def test_expired_claims_and_claims_of_dead_processes_are_taken_over(tmp_path):
    s = _store(tmp_path)
    stale = Claims(s, since=time.time(), retry_failed=False, ttl_s=-1.0)
    assert stale.claim(["k1"]) == (["k1"], 0)
    fresh = Claims(s, since=time.time(), retry_failed=False)
    assert fresh.claim(["k1"]) == (["k1"], 0)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    ghost = Claims(s, since=time.time(), retry_failed=False)
    ghost.pid = int(dead.stdout)                   # its process has ended (on this machine)
    assert ghost.claim(["k2"]) == (["k2"], 0)
    assert fresh.claim(["k2"]) == (["k2"], 0)
    live = Claims(s, since=time.time(), retry_failed=False)
    assert live.claim(["k2"]) == ([], 1)


def test_claiming_items_claim_in_batches_and_count_busy_ones(tmp_path):
    s = _store(tmp_path)
    other = Claims(s, since=time.time(), retry_failed=False)
    other.claim(["k3"])
    mine = Claims(s, since=time.time(), retry_failed=False)
    keys = ["k1", "k2", "k3", "ok", "k5"]
    items = ClaimingItems(mine, keys, {k: f"req-{k}" for k in keys}, batch=2)
    assert len(items) == 5 and bool(items) and not ClaimingItems(mine, [], {})
    assert list(items) == [("k1", "req-k1"), ("k2", "req-k2"), ("k5", "req-k5")]
    assert items.taken == ["k1", "k2", "k5"] and items.busy == 1
    assert mine.held == {"k1", "k2", "k5"}
    mine.done("k1")
    assert mine.held == {"k2", "k5"}
    again = ClaimingItems(Claims(s, since=time.time(), retry_failed=False), keys, {k: k for k in keys}, batch=0)
    assert again.claim_all() == [] and again.busy == 4


def test_a_live_process_of_another_user_keeps_its_claim(tmp_path, monkeypatch):
    """kill(pid, 0) on another user's process fails with EPERM: it is alive. (This test runs as root, which
    may signal any process, so that answer of the operating system is played here.)"""
    import os

    s = _store(tmp_path)
    other_user = Claims(s, since=time.time(), retry_failed=False)
    other_user.pid = 2 ** 22 + 7
    assert other_user.claim(["k1"]) == (["k1"], 0)
    real_kill = os.kill

    def kill(pid, sig):
        if pid == other_user.pid:
            raise PermissionError(1, "Operation not permitted")
        return real_kill(pid, sig)
    monkeypatch.setattr(os, "kill", kill)
    assert Claims(s, since=time.time(), retry_failed=False).claim(["k1"]) == ([], 1)


def test_a_living_writer_renews_its_claims(tmp_path, monkeypatch):
    import mmad_eval.run.leases as leases

    monkeypatch.setattr(leases, "HEARTBEAT_S", 0.02)
    s = _store(tmp_path)
    with Claims(s, since=time.time(), retry_failed=False, ttl_s=30.0) as mine:
        mine.claim(["k1"])
        first = s.db.execute("SELECT expires FROM leases WHERE key = 'k1'").fetchone()[0]
        deadline = time.time() + 20
        while s.db.execute("SELECT expires FROM leases WHERE key = 'k1'").fetchone()[0] == first and time.time() < deadline:
            time.sleep(0.02)
        renewed = s.db.execute("SELECT expires FROM leases WHERE key = 'k1'").fetchone()[0]
        assert renewed > first and renewed > time.time() + 20          # pushed forward by the ttl
        assert Claims(s, since=time.time(), retry_failed=False).claim(["k1"]) == ([], 1)
    assert s.db.execute("SELECT COUNT(*) FROM leases").fetchone()[0] == 0      # released at the end
