"""The batch ledger: which requests are waiting in which job, so a rerun never sends one twice nor loses one
(issue 25)."""
import pytest

from mmad_eval.backends.base import Response
from mmad_eval.errors import ConfigError
from mmad_eval.run.batch_ledger import BatchLedger
from mmad_eval.run.store import Member, Store


def test_a_jobs_states_waiting_keys_and_returned_requests(tmp_path):
    ledger = BatchLedger(Store(tmp_path))
    j1 = ledger.add_job("r1", "http://x/v1", [("k1", [{"role": "user"}], ("A", "B")), ("k2", [], ("A", "B", "C"))], 123)
    j2 = ledger.add_job("r2", "http://x/v1", [("k3", [], ("A",))], 7)
    assert (j1.state, j1.n_requests, j1.n_bytes, j1.filename) == ("preparing", 2, 123, f"mmad-eval-{j1.job}.jsonl")
    assert ledger.waiting_keys() == {"k1", "k2", "k3"} and ledger.waiting_keys("r1") == {"k1", "k2"}
    ledger.set_file(j1.job, "file-1")
    ledger.set_batch(j1.job, {"id": "batch-1", "status": "validating", "request_counts": {"total": 2}})
    job = ledger.job(j1.job)
    assert (job.state, job.file_id, job.batch_id, job.counts) == ("submitted", "file-1", "batch-1", {"total": 2})
    ledger.set_status(j1.job, {"status": "in_progress"}, note="half")
    ledger.set_status(j1.job, {"status": "completed", "request_counts": {"completed": 1}})
    job = ledger.job(j1.job)
    assert (job.status, job.note, job.counts) == ("completed", "half", {"completed": 1})
    ledger.mark(j1.job, "k1", "answered")
    assert ledger.waiting_keys("r1") == {"k2"}
    ledger.end(j1.job)
    assert ledger.requests(j1.job) == {"k1": ([{"role": "user"}], ("A", "B"), "answered"),
                                       "k2": ([], ("A", "B", "C"), "returned")}
    assert ledger.waiting_keys() == {"k3"}
    assert [j.job for j in ledger.jobs(open_only=True)] == [j2.job]
    assert [j.job for j in ledger.jobs("r1")] == [j1.job] and len(ledger.jobs()) == 2
    ledger.end(j2.job, state="abandoned", note="never submitted")
    assert ledger.job(j2.job).state == "abandoned" and ledger.waiting_keys() == set()


def test_batch_usage_counts_only_answered_requests_of_the_run(tmp_path):
    store = Store(tmp_path)
    ledger = BatchLedger(store)
    for k, tokens in (("k1", 10), ("k2", 20), ("k3", 40)):
        store.put_response(Response(key=k, text="A", prompt_tokens=tokens, completion_tokens=1), "[]")
    store.put_members("r", [Member(f"{k}#0", 0, k, 0, "Anomaly Detection", {"A": "Yes"}, "A", k) for k in ("k1", "k2")])
    job = ledger.add_job("r", "u", [("k1", [], ()), ("k2", [], ()), ("k3", [], ())], 1)
    ledger.mark(job.job, "k1", "answered")
    ledger.mark(job.job, "k3", "answered")
    assert ledger.usage("r") == {"requests": 1, "prompt_tokens": 10, "completion_tokens": 1}
    assert BatchLedger(Store(tmp_path / "empty")).usage("r") == {"requests": 0, "prompt_tokens": 0, "completion_tokens": 0}


def test_one_process_at_a_time_sends_a_folders_batches(tmp_path):
    a, b = BatchLedger(Store(tmp_path)), BatchLedger(Store(tmp_path))
    with a.exclusive():
        with pytest.raises(ConfigError, match="another mmad-eval process"):
            with b.exclusive():
                pass
    with b.exclusive():
        pass
