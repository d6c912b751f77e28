"""Answers committed as they are emitted: one transaction per event-loop iteration, never an answer held back
from a worker's next request, bounded waits, one bad reply alone, and a failing store stops the run."""
from __future__ import annotations

import asyncio
import sqlite3
import threading

import pytest

from mmad_eval.backends.base import Response
from mmad_eval.prompt.message import Message, Request, TextPart
from mmad_eval.run import answer_writer
from mmad_eval.run.answer_writer import AnswerWriter
from mmad_eval.run.store import Store
from mmad_eval.run.store_db import StoreError


def _request(i: int) -> Request:
    return Request(messages=(Message("user", (TextPart(f"question {i}"),)),), qids=(f"q{i}",))


def _stored(path) -> dict[str, tuple]:
    """What another connection sees committed: key -> (status, text, error_type)."""
    with sqlite3.connect(path) as db:
        return {k: (s, t, e) for k, s, t, e in db.execute("SELECT key, status, text, error_type FROM requests")}


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path)
    yield s
    s.close()


def test_answers_of_one_loop_iteration_are_one_transaction_committed_right_after_it(store):
    writer = AnswerWriter(store)
    seen_during: list[int] = []

    async def main():
        for i in range(50):                          # one iteration: nothing awaited in between
            writer.add(Response(key=f"k{i}", text="A"), _request(i))
        seen_during.append(len(_stored(store.path)))
        await asyncio.sleep(0)                       # the next iteration: committed before this resumes
        seen_during.append(len(_stored(store.path)))
        for i in range(50, 60):
            writer.add(Response(key=f"k{i}", text="B"), _request(i))
            await asyncio.sleep(0)                   # one per iteration: one transaction each

    asyncio.run(main())
    writer.flush()
    assert seen_during == [0, 50]
    assert writer.stats()["answers"] == 60 and writer.stats()["transactions"] == 11
    rows = _stored(store.path)
    assert len(rows) == 60 and rows["k3"] == ("ok", "A", None) and rows["k55"] == ("ok", "B", None)
    assert store.requests_for(["k3"])["k3"]["content"] == _request(3).content_json


def test_an_answer_emitted_from_another_thread_is_committed_at_once(store):
    writer = AnswerWriter(store)
    t = threading.Thread(target=writer.add, args=(Response(key="t", text="C"), _request(1)))
    t.start()
    t.join()
    assert _stored(store.path) == {"t": ("ok", "C", None)}


def test_a_backend_that_never_yields_still_gets_its_answers_committed(store, monkeypatch):
    monkeypatch.setattr(answer_writer, "MAX_PENDING", 8)
    writer = AnswerWriter(store)
    during: list[int] = []

    async def main():
        for i in range(20):
            writer.add(Response(key=f"k{i}", text="A"), _request(i))
        during.append(len(_stored(store.path)))

    asyncio.run(main())
    assert during == [16]                            # two full groups, without the loop ever running
    writer.flush()
    assert len(_stored(store.path)) == 20


def test_one_unstorable_reply_fails_alone_and_the_others_of_its_transaction_are_kept(store):
    writer = AnswerWriter(store)

    async def main():
        writer.add(Response(key="good", text="A", prompt_tokens=5), _request(1))
        writer.add(Response(key="odd", text="B", prompt_tokens={"cached": 3}), _request(2))  # a server's object
        writer.add(Response(key="also-good", text="C"), _request(3))

    asyncio.run(main())
    writer.flush()
    rows = _stored(store.path)
    assert rows["good"] == ("ok", "A", None) and rows["also-good"] == ("ok", "C", None)
    assert rows["odd"][0] == "error" and rows["odd"][2] == "unstorable_reply"


@pytest.mark.parametrize("deferred", [True, False])
def test_a_reply_with_an_integer_sqlite_cannot_hold_fails_alone(store, deferred):
    """sqlite3 raises OverflowError (not a StoreError) for an int beyond 64 bits: it must become that
    request's unstorable_reply, not lose its transaction's answers in a loop callback nor end the run."""
    writer = AnswerWriter(store)

    async def main():
        writer.add(Response(key="good", text="A"), _request(1))
        writer.add(Response(key="huge", text="B", completion_tokens=2 ** 70), _request(2))   # a server's count
        writer.add(Response(key="also-good", text="C"), _request(3))
        if deferred:
            await asyncio.sleep(0)                   # committed by the loop callback
        else:
            writer.flush()

    asyncio.run(main())
    writer.flush()
    rows = _stored(store.path)
    assert rows["good"] == ("ok", "A", None) and rows["also-good"] == ("ok", "C", None)
    assert rows["huge"][0] == "error" and rows["huge"][2] == "unstorable_reply"


def test_a_store_that_fails_to_commit_stops_at_the_next_answer_and_keeps_what_was_committed(store, monkeypatch):
    writer = AnswerWriter(store)
    real = store.put_rows
    calls = []

    def failing(rows):
        calls.append(len(rows))
        if len(calls) > 1:
            raise StoreError("database or disk is full", culprit=str(store.path))
        real(rows)

    monkeypatch.setattr(store, "put_rows", failing)

    async def main():
        writer.add(Response(key="first", text="A"), _request(1))
        await asyncio.sleep(0)                       # committed
        writer.add(Response(key="second", text="B"), _request(2))
        await asyncio.sleep(0)                       # this commit fails: remembered, not lost in a callback
        with pytest.raises(StoreError, match="disk is full"):
            writer.add(Response(key="third", text="C"), _request(3))

    asyncio.run(main())
    with pytest.raises(StoreError):
        writer.flush()
    assert _stored(store.path) == {"first": ("ok", "A", None)}


def test_an_api_worker_sends_its_next_request_only_after_its_answer_is_committed(dataset, tmp_path):
    """A real server that, at each arrival, counts the answers committed: with one request in flight, every
    earlier answer is already in the store (a kill could only lose the request in flight)."""
    from mmad_eval.run.engine import run_evaluation
    from mmad_eval.run.settings import RunSettings
    from mmad_eval.testing.openai_server import FakeOpenAIServer, default_responder

    out = tmp_path / "out"
    committed_at_arrival: list[int] = []

    def responder(body):
        db_path = out / "mmad-eval.sqlite"
        with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as db:
            committed_at_arrival.append(db.execute("SELECT COUNT(*) FROM requests").fetchone()[0])
        return default_responder(body)

    with FakeOpenAIServer(responder=responder) as srv:
        summary = run_evaluation(RunSettings(model="openai:fake"), dataset, out,
                                 backend_options={"base_url": srv.base_url, "concurrency": 1, "api_key": "local"})
    assert summary.asked == len(committed_at_arrival) >= 10
    assert committed_at_arrival == list(range(len(committed_at_arrival)))
    commits = summary.record["last_invocation"]["commits"]
    assert commits["answers"] == summary.asked and commits["transactions"] <= summary.asked



def test_answers_from_threads_and_from_the_loop_at_once_are_all_committed(store):
    writer = AnswerWriter(store)

    def from_thread(t):
        for i in range(150):
            writer.add(Response(key=f"t{t}-{i}", text="A"), _request(i))

    async def main():
        threads = [threading.Thread(target=from_thread, args=(t,)) for t in range(3)]
        for th in threads:
            th.start()
        for i in range(450):
            writer.add(Response(key=f"loop-{i}", text="B"), _request(i))
            if i % 7 == 0:
                await asyncio.sleep(0)
        await asyncio.to_thread(lambda: [th.join() for th in threads])

    asyncio.run(main())
    writer.flush()
    assert len(_stored(store.path)) == 900 and writer.stats()["answers"] == 900


def test_ctrl_c_during_a_commit_keeps_its_answers_for_the_final_flush(store, monkeypatch):
    writer = AnswerWriter(store)
    real = store.put_rows
    interrupted = []

    def once_interrupted(rows):
        if not interrupted:
            interrupted.append(len(rows))
            raise KeyboardInterrupt
        real(rows)

    monkeypatch.setattr(store, "put_rows", once_interrupted)
    for i in range(5):
        writer.pending.append(answer_writer._row(Response(key=f"k{i}", text="A"), _request(i)))
    with pytest.raises(KeyboardInterrupt):
        writer.flush()
    writer.flush()                                   # what the run's `finally` does
    assert interrupted == [5] and len(_stored(store.path)) == 5


@pytest.mark.parametrize("odd,ok", [({"cached": 3}, False), (2 ** 70, False), (7, True)])
def test_add_and_store_answer_say_whether_the_answer_was_stored_as_good(store, odd, ok):
    """What the run counts as failed is what the store holds: a reply it refused is an error (the run line's
    "failed N", the Batch API's error count), not a good answer."""
    writer = AnswerWriter(store)
    assert writer.add(Response(key="live", text="A", completion_tokens=odd), _request(1)) is ok
    assert answer_writer.store_answer(store, Response(key="batch", text="B", prompt_tokens=odd),
                                      _request(2).content()) is ok
    writer.flush()
    rows = _stored(store.path)
    assert {rows["live"][0], rows["batch"][0]} == {"ok" if ok else "error"}
    assert {rows["live"][2], rows["batch"][2]} == {None if ok else "unstorable_reply"}
