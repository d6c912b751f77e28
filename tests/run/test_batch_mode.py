"""``run --batch-api`` and ``batch status|cancel`` from the CLI against the fake server's Batch API."""
import json
import shutil
import sqlite3

import pytest

from mmad_eval.cli import main
from mmad_eval.run.load import load_run
from mmad_eval.testing.openai_server import FakeOpenAIServer

N = 16   # requests of the `dataset` fixture


def _run(ds, out, srv, *extra, model="gpt-4o"):
    return main(["run", "--questions", str(ds), "--model", model, "--base-url", srv.base_url, "--out", str(out),
                 "--quiet", *extra])


def _answers(out, name="gpt-4o"):
    return {a.qid: (a.reply, a.parsed, a.request_key, a.error) for a in load_run(out, name).answers}


def _bodies(bodies) -> list[str]:
    return sorted(json.dumps(b, sort_keys=True) for b in bodies)


def _submitted_ids(srv):
    return [cid for _, cid, _ in srv.batches.submitted]


@pytest.fixture()
def live(dataset, tmp_path):
    with FakeOpenAIServer() as srv:
        assert _run(dataset, tmp_path / "live", srv) == 0
        return _answers(tmp_path / "live"), _bodies(srv.requests)


def test_submit_poll_collect_equals_live_run_and_costs_half(dataset, tmp_path, live, capsys):
    out = tmp_path / "b"
    with FakeOpenAIServer() as srv:
        assert _run(dataset, out, srv, "--batch-api", "--batch-max-requests", "5") == 75
        assert len(srv.batches.ids()) == 4 and not srv.requests          # 5+5+5+1, nothing asked live
        assert _run(dataset, out, srv, "--batch-api") == 75                # polled, nothing sent again
        assert len(srv.batches.ids()) == 4
        assert _bodies(b for _, _, b in srv.batches.submitted) == live[1]  # the bodies a live run sends
        for b in srv.batches.ids():
            srv.batches.start(b)
            srv.batches.complete(b)
        assert _run(dataset, out, srv, "--batch-api") == 0
        assert "16 results stored (0 errors)" in capsys.readouterr().out
        assert _run(dataset, out, srv) == 0 and not srv.requests           # nothing left to ask live
    assert _answers(out) == live[0]
    assert sorted(_submitted_ids(srv)) == sorted(set(_submitted_ids(srv))) and len(_submitted_ids(srv)) == N
    usage = load_run(out, "gpt-4o").record["usage"]
    assert usage["batch"]["requests"] == N and usage["live_cost_usd"] == pytest.approx(2 * usage["cost_usd"], rel=1e-3)
    main(["report", str(out), "--out", str(tmp_path / "r.html")])
    html = (tmp_path / "r.html").read_text()
    assert f"live ${usage['live_cost_usd']:,.2f}" in html


def test_split_by_bytes(dataset, tmp_path):
    with FakeOpenAIServer() as srv:
        _run(dataset, tmp_path, srv, "--batch-api")
        one = srv.batches.files[srv.batches.batches[srv.batches.ids()[0]]["input_file_id"]]["bytes"]
    with FakeOpenAIServer() as srv:
        _run(dataset, tmp_path / "small", srv, "--batch-api", "--batch-max-bytes", str(one // 3))
        sizes = [srv.batches.files[b["input_file_id"]]["bytes"] for b in srv.batches.batches.values()]
        assert len(sizes) >= 3 and max(sizes) <= one // 3 and sum(sizes) == one
        assert len(_submitted_ids(srv)) == N


def test_expired_and_cancelled_requests_are_sent_again_only_those(dataset, tmp_path, live):
    out = tmp_path / "b"
    with FakeOpenAIServer() as srv:
        _run(dataset, out, srv, "--batch-api", "--batch-max-requests", "8")
        first, second = srv.batches.ids()
        srv.batches.expire(first, answered=3)
        assert main(["batch", "cancel", str(out)]) == 0
        assert srv.batches.batches[second]["status"] == "cancelling"
        srv.batches.finish_cancel(second, answered=2)
        assert main(["batch", "status", str(out)]) == 0                    # 5 stored, 11 pending again
        assert len(load_run(out, "gpt-4o").answers) == N
        _run(dataset, out, srv, "--batch-api")
        third = srv.batches.ids()[-1]
        resent = [cid for b, cid, _ in srv.batches.submitted if b == third]
        assert len(resent) == 11 and len(srv.batches.ids()) == 3
        srv.batches.complete(third)
        assert _run(dataset, out, srv, "--batch-api") == 0
    assert _answers(out) == live[0]


def test_failed_lines_are_typed_errors_and_retry_failed_resends_only_them(dataset, tmp_path):
    bad = set()
    with FakeOpenAIServer(batch_line_errors=lambda cid, body: 500 if cid in bad else None) as srv:
        _run(dataset, tmp_path, srv, "--batch-api")
        (b,) = srv.batches.ids()
        bad.update(_submitted_ids(srv)[:3])
        srv.batches.complete(b)
        assert _run(dataset, tmp_path, srv, "--batch-api") == 1
        errors = [a for a in load_run(tmp_path, "gpt-4o").answers if a.error]
        assert {a.request_key for a in errors} == bad and all("server_error" in str(a.error) for a in errors)
        bad.clear()
        assert _run(dataset, tmp_path, srv, "--batch-api") == 0            # stored errors are kept ...
        assert len(srv.batches.ids()) == 1
        assert _run(dataset, tmp_path, srv, "--batch-api", "--retry-failed") == 75   # ... until asked again
        assert sorted(cid for bid, cid, _ in srv.batches.submitted if bid == srv.batches.ids()[-1]) == \
            sorted(a.request_key for a in errors)
        srv.batches.complete(srv.batches.ids()[-1])
        assert _run(dataset, tmp_path, srv, "--batch-api") == 0
    assert not [a for a in load_run(tmp_path, "gpt-4o").answers if a.error]


def test_copied_store_polls_the_same_batches_elsewhere(dataset, tmp_path, live, capsys):
    """Another machine with a copy of the output folder: status and rerun use the stored batch ids."""
    with FakeOpenAIServer() as srv:
        _run(dataset, tmp_path / "here", srv, "--batch-api")
        shutil.copytree(tmp_path / "here", tmp_path / "there")
        assert main(["batch", "status", str(tmp_path / "there")]) == 75
        assert "validating" in capsys.readouterr().out
        srv.batches.complete(srv.batches.ids()[0])
        assert main(["batch", "status", str(tmp_path / "there")]) == 0
        assert "16 results stored now" in capsys.readouterr().out
        usage = load_run(tmp_path / "there", "gpt-4o").record["usage"]           # status records the cost too
        assert usage["batch"]["requests"] == N and usage["cost_usd"] < usage["live_cost_usd"]
        assert _run(dataset, tmp_path / "there", srv, "--batch-api") == 0
        assert len(srv.batches.ids()) == 1 and not srv.requests
    assert _answers(tmp_path / "there") == live[0]
    usage = load_run(tmp_path / "there", "gpt-4o").record["usage"]
    assert usage["batch"]["requests"] == N and usage["cost_usd"] < usage["live_cost_usd"]


def test_wait_polls_until_done(dataset, tmp_path, live):
    with FakeOpenAIServer(batch_auto=True) as srv:
        assert _run(dataset, tmp_path, srv, "--batch-api", "--wait", "--poll-s", "0.01") == 0
    assert _answers(tmp_path) == live[0]


def test_live_run_does_not_ask_what_waits_in_a_batch(dataset, tmp_path, capsys):
    with FakeOpenAIServer() as srv:
        _run(dataset, tmp_path, srv, "--batch-api", "--limit", "6")
        capsys.readouterr()
        assert _run(dataset, tmp_path, srv) == 0
        assert "waiting in Batch API jobs" in capsys.readouterr().out
        asked, in_batch = set(_bodies(srv.requests)), set(_bodies(b for _, _, b in srv.batches.submitted))
        assert len(srv.requests) == N - len(in_batch) and in_batch and not asked & in_batch


def test_failed_batch_sends_its_requests_again_with_a_note(dataset, tmp_path, capsys):
    with FakeOpenAIServer() as srv:
        _run(dataset, tmp_path, srv, "--batch-api")
        srv.batches.fail(srv.batches.ids()[0])
        assert _run(dataset, tmp_path, srv, "--batch-api") == 75
        text = capsys.readouterr().out
        assert "token_limit_exceeded" in text and "16 requests sent in 1 new batches" in text


def test_batch_api_needs_the_openai_backend_and_keys_stay_out(dataset, tmp_path, capsys, monkeypatch):
    assert main(["run", "--questions", str(dataset), "--model", "random", "--out", str(tmp_path / "r"),
                 "--quiet", "--batch-api"]) == 2
    assert "needs the openai backend" in capsys.readouterr().err
    with FakeOpenAIServer() as srv:
        assert _run(dataset, tmp_path / "ray", srv, "--batch-api", "--ray") == 2
        assert "drop --ray" in capsys.readouterr().err and not srv.batches.ids()
    assert main(["batch", "status", str(tmp_path / "nothing")]) == 2
    monkeypatch.setenv("MY_KEY", "sk-live-secret-0123456789")
    with FakeOpenAIServer() as srv:
        _run(dataset, tmp_path / "k", srv, "--batch-api", "--api-key-env", "MY_KEY")
        srv.batches.complete(srv.batches.ids()[0])
        assert main(["batch", "status", str(tmp_path / "k"), "--api-key-env", "MY_KEY"]) == 0
    for f in (tmp_path / "k").iterdir():
        assert b"sk-live-secret" not in f.read_bytes()
    with sqlite3.connect(tmp_path / "k" / "mmad-eval.sqlite") as db:
        jobs = db.execute("SELECT state, batch_id FROM batch_jobs").fetchall()
    assert jobs == [("ended", srv.batches.ids()[0])]


def test_an_older_store_is_migrated_to_hold_batch_jobs(tmp_path):
    from pathlib import Path

    from mmad_eval.run.batch_ledger import BatchLedger
    from mmad_eval.run.store import Store

    shutil.copytree(Path(__file__).parent / "fixtures" / "store_v0_1_0" / "out", tmp_path / "out")
    with Store(tmp_path / "out") as store:
        ledger = BatchLedger(store)
        assert ledger.jobs() == [] and ledger.waiting_keys() == set()
        job = ledger.add_job("random", "http://x/v1", [("k", [{"role": "user"}], ("A", "B"))], 10)
        assert ledger.requests(job.job) == {"k": ([{"role": "user"}], ("A", "B"), None)}
        assert ledger.waiting_keys("random") == {"k"}


def test_one_process_at_a_time_sends_or_polls_a_folders_batches(dataset, tmp_path, capsys):
    from mmad_eval.run.batch_ledger import BatchLedger
    from mmad_eval.run.store import Store

    with FakeOpenAIServer() as srv:
        assert _run(dataset, tmp_path, srv, "--batch-api") == 75
        assert "validating" in capsys.readouterr().out            # the run prints each batch's state
        with Store(tmp_path) as store, BatchLedger(store).exclusive():   # another process holds the lock
            assert _run(dataset, tmp_path, srv, "--batch-api", "--limit", "3") == 2
            assert "another mmad-eval process" in capsys.readouterr().err
            assert main(["batch", "status", str(tmp_path)]) == 2
        assert len(srv.batches.ids()) == 1
        assert main(["batch", "status", str(tmp_path)]) == 75     # released


def test_wait_does_not_resend_forever_batches_that_keep_failing(dataset, tmp_path, capsys):
    """`--wait` with a batch that fails every time (say an unknown model): sent again at most 3 times in
    one invocation, then the run ends with a note; the next run tries again."""
    with FakeOpenAIServer(batch_auto="fail") as srv:
        code = _run(dataset, tmp_path, srv, "--batch-api", "--wait", "--poll-s", "0.01")
        out = capsys.readouterr().out
        assert len(srv.batches.ids()) == 3 and code != 0
        assert "model_not_found" in out
        assert "16 requests came back unrun from 3 failed, expired or cancelled batches" in out
        _run(dataset, tmp_path, srv, "--batch-api", "--wait", "--poll-s", "0.01")
        assert len(srv.batches.ids()) == 6


def test_a_store_with_open_batches_is_not_merged(dataset, tmp_path, capsys):
    """Merged elsewhere, requests waiting in a batch would be sent again (billed twice): refused, naming the
    folder; once the batch is collected the merge goes through with its results."""
    out = tmp_path / "shard"
    with FakeOpenAIServer() as srv:
        _run(dataset, out, srv, "--batch-api")
        capsys.readouterr()
        assert main(["merge", str(out), "--out", str(tmp_path / "all")]) != 0
        line = capsys.readouterr().err
        assert "16 requests here wait in open Batch API jobs" in line and str(out) in line
        assert not (tmp_path / "all" / "mmad-eval.sqlite").exists()
        srv.batches.complete(srv.batches.ids()[0])
        assert _run(dataset, out, srv, "--batch-api") == 0
    assert main(["merge", str(out), "--out", str(tmp_path / "all")]) == 0
    assert _answers(tmp_path / "all") == _answers(out)


def test_a_wrong_key_on_the_batch_path_is_one_line_naming_the_variable(dataset, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong-key-123456789")
    with FakeOpenAIServer() as srv:
        srv.batches.require_key = "sk-right-key"
        assert _run(dataset, tmp_path, srv, "--batch-api") != 0
        assert srv.batches.ids() == []
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "HTTP 401" in err[0] and "environment variable OPENAI_API_KEY" in err[0], err
    assert "sk-wrong" not in err[0] and "6789" not in err[0]
    assert b"sk-wrong-key" not in (tmp_path / "mmad-eval.sqlite").read_bytes()
