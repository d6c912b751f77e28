"""A hostile or broken server: replies without bounds (huge, endless, trickled) are cut off as typed errors,
odd reply fields (usage, choices) never end a run nor store the wrong answer, and likelihood mode stops at the
first reply without log-probabilities. Real server, real CLI processes."""
from __future__ import annotations

import json
import sqlite3

import pytest

from fault_helpers import cli, one_error_line, run_args, dataset  # noqa: F401 (fixtures)

from mmad_eval.testing.openai_server import Fault, FakeOpenAIServer, prompt_text


def _rows(out) -> list[tuple]:
    with sqlite3.connect(out / "mmad-eval.sqlite") as db:
        return db.execute("SELECT status, error_type, text, prompt_tokens, completion_tokens FROM requests"
                          ).fetchall()


def _on_location_questions(fault: Fault):
    """``fault`` for the 4 "Where is the defect?" requests of the 16 (whichever attempt)."""
    return lambda i, body: fault if "Where is the defect" in prompt_text(body) else None


@pytest.mark.parametrize("fault, options", [
    (Fault("huge_reply", size=2_000_000), ["max_reply_bytes=500000"]),        # declared, over a cap given
    (Fault("huge_reply", size=20_000_000, declare_length=False), []),          # undeclared, over the default
])
def test_a_huge_reply_is_stored_as_reply_too_large_and_kept_out_of_the_report(dataset, tmp_path, fault, options):
    out = tmp_path / "out"
    opts = [x for o in options for x in ("--backend-option", o)]
    with FakeOpenAIServer(faults=_on_location_questions(fault)) as srv:
        proc = cli(*run_args(dataset, out, srv.base_url, *opts), timeout=90)
    assert proc.returncode == 1, proc.stderr           # 1: some requests failed
    rows = _rows(out)
    cut = [r for r in rows if r[1] == "reply_too_large"]
    assert len(rows) == 16 and len(cut) == 4 and all(r[2] is None for r in cut)
    assert "failed 4" in proc.stdout
    assert (out / "mmad-eval.sqlite").stat().st_size < 400_000
    assert cli("report", out, "--out", tmp_path / "r.html", "--no-images").returncode == 0
    assert (tmp_path / "r.html").stat().st_size < 1_000_000


@pytest.mark.parametrize("options, cap", [([], 16 << 20), (["--backend-option", "max_reply_bytes=100000"], 100_000)])
def test_an_endless_stream_is_cut_at_the_size_cap(dataset, tmp_path, options, cap):
    out = tmp_path / "out"
    with FakeOpenAIServer(faults=_on_location_questions(Fault("endless_stream"))) as srv:
        proc = cli(*run_args(dataset, out, srv.base_url, *options), timeout=60)
        streamed = srv.streamed_bytes
    assert proc.returncode == 1 and "failed 4" in proc.stdout, proc.stderr
    kinds = [r[1] for r in _rows(out)]
    assert kinds.count("reply_too_large") == 4 and kinds.count(None) == 12
    assert streamed < 4 * (cap + (8 << 20))            # four replies, each cut at the cap (+ socket buffers)


@pytest.mark.parametrize("attempts", ["1", "2"])
def test_a_trickled_reply_ends_at_the_request_deadline(dataset, tmp_path, attempts):
    out = tmp_path / "out"
    fault = Fault("trickle", interval_s=0.2)           # a byte every 0.2 s: each read gets data within 1 s
    with FakeOpenAIServer(faults=_on_location_questions(fault)) as srv:
        proc = cli(*run_args(dataset, out, srv.base_url, "--backend-option", "timeout=1", "--backend-option",
                             f"max_attempts={attempts}", "--backend-option", "backoff_s=0.01"), timeout=60)
    assert proc.returncode == 1 and "failed 4" in proc.stdout, proc.stderr
    kinds = [r[1] for r in _rows(out)]
    assert kinds.count("timeout") == 4 and kinds.count(None) == 12


@pytest.mark.parametrize("usage, stored, flagged", [
    ({"prompt_tokens": "many", "completion_tokens": 3}, (None, 3), ["prompt_tokens"]),
    ({"prompt_tokens": 2 ** 70, "completion_tokens": 12.5}, ((1 << 32) - 1, None),
     ["prompt_tokens", "completion_tokens"]),
    (["not", "a", "dict"], (None, None), ["usage"]),
])
def test_odd_usage_never_ends_the_run_nor_turns_a_good_answer_into_an_error(dataset, tmp_path, usage, stored,
                                                                             flagged):
    out = tmp_path / "out"
    with FakeOpenAIServer(faults=_on_location_questions(Fault("odd_usage", usage=usage))) as srv:
        proc = cli(*run_args(dataset, out, srv.base_url))
        again = cli(*run_args(dataset, out, srv.base_url))
        asked = srv.count
    assert proc.returncode == 0, proc.stderr
    assert "failed 0" in proc.stdout and "asked 0, reused 16" in again.stdout and asked == 16
    rows = _rows(out)
    assert all(r[0] == "ok" and r[2] for r in rows)
    assert sum(1 for r in rows if (r[3], r[4]) == stored) == 4
    with sqlite3.connect(out / "mmad-eval.sqlite") as db:
        extras = [json.loads(e) for (e,) in db.execute("SELECT extra FROM requests WHERE extra LIKE '%odd_usage%'")]
    assert [e["odd_usage"] for e in extras] == [flagged] * 4
    assert cli("score", out, "--bootstrap", "0").returncode == 0


@pytest.mark.parametrize("letter", ["A", "B"])
def test_choices_out_of_index_order_store_the_choice_of_index_0(dataset, tmp_path, letter):
    out = tmp_path / "out"
    with FakeOpenAIServer(responder=lambda body: letter, faults=lambda i, b: Fault("shuffled_choices")) as srv:
        proc = cli(*run_args(dataset, out, srv.base_url))
    assert proc.returncode == 0, proc.stderr
    assert sorted({r[2] for r in _rows(out)}) == [letter]


@pytest.mark.parametrize("first_without", [0, 5])
def test_likelihood_mode_stops_at_the_first_reply_without_logprobs(dataset, tmp_path, first_without):
    out = tmp_path / "out"
    faults = lambda i, body: Fault("no_logprobs") if i >= first_without else None  # noqa: E731
    with FakeOpenAIServer(faults=faults) as srv:
        proc = cli(*run_args(dataset, out, srv.base_url, "--answer-mode", "likelihood"))
        sent = srv.count
    line = one_error_line(proc)
    assert "log-probabilities" in line and srv.base_url in line
    assert sent <= first_without + 2                   # those in flight at the first such reply, no more
    rows = _rows(out)
    assert len(rows) == first_without and all(r[0] == "ok" for r in rows)


def test_likelihood_mode_with_logprobs_still_runs(dataset, tmp_path):
    with FakeOpenAIServer() as srv:
        proc = cli(*run_args(dataset, tmp_path / "out", srv.base_url, "--answer-mode", "likelihood"))
    assert proc.returncode == 0 and "failed 0" in proc.stdout, proc.stderr


@pytest.mark.parametrize("repeat", [3_000, 40_000])
def test_a_long_stored_reply_is_shown_cut_and_escaped_in_the_report(dataset, tmp_path, repeat):
    out, page = tmp_path / "out", tmp_path / "r.html"
    reply = "A " + "<b>long</b> " * repeat                # under the size cap: stored whole
    with FakeOpenAIServer(responder=lambda body: reply) as srv:
        proc = cli(*run_args(dataset, out, srv.base_url))
    assert proc.returncode == 0, proc.stderr
    assert all(r[2] == reply for r in _rows(out))
    assert cli("report", out, "--out", page, "--no-images").returncode == 0
    html = page.read_text(encoding="utf-8")
    assert "<b>long</b>" not in html
    shown = 4000 - len("A ")
    assert f"… ({len(reply) - 4000:,} more characters)" in html
    assert html.count("long\\u003c/b\\u003e") == shown // len("<b>long</b> ")     # whole ones within the limit
