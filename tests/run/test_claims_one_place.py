"""Property: whatever order a live process and a Batch API sender claim, send and answer in, a request key is
in at most one place at a time (claimed by one live process, or waiting in one open batch), on a real store."""
from __future__ import annotations

import time

from hypothesis import HealthCheck, given, settings, strategies as st

from mmad_eval.backends.base import Response
from mmad_eval.run.batch_ledger import BatchLedger
from mmad_eval.run.leases import Claims
from mmad_eval.run.store import Store

KEYS = [f"k{i}" for i in range(6)]
OPS = st.lists(st.tuples(st.sampled_from(["live_claim", "batch_send", "live_answer", "batch_end"]),
                         st.lists(st.sampled_from(KEYS), min_size=1, max_size=4, unique=True)),
               min_size=1, max_size=12)


def _places(store: Store, ledger: BatchLedger) -> dict[str, int]:
    answered = {k for k, s in store.statuses().items() if s == "ok"}
    waiting = ledger.waiting_keys()
    leases = [k for (k,) in store.db.execute("SELECT key FROM leases")]
    count = {k: 0 for k in KEYS}
    for k in leases + list(waiting):
        if k not in answered:
            count[k] += 1
    return count


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(OPS)
def test_a_key_is_in_one_place(tmp_path_factory, ops):
    with Store(tmp_path_factory.mktemp("store")) as store:
        ledger = BatchLedger(store)
        live = Claims(store, since=time.time(), retry_failed=False, run="r")
        batch = Claims(store, since=time.time(), retry_failed=False, run="r")
        batch.owner += "-batch"                      # two owners in one test process (both alive)
        for op, keys in ops:
            if op == "live_claim":
                live.claim(keys)
            elif op == "batch_send":
                got, _ = batch.claim(keys)
                if got:
                    ledger.add_job("r", "http://x", [(k, [], ("A",)) for k in got], 1, claims=batch)
            elif op == "live_answer":
                for k in set(keys) & live.held:
                    store.put_response(Response(key=k, text="A", attempts=1), [])
            else:
                for job in ledger.jobs(open_only=True)[:1]:
                    ledger.end(job.job)
            assert max(_places(store, ledger).values()) <= 1
