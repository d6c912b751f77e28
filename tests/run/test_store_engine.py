"""Store round trip, exact resume, dedupe, stored errors, data errors, run-record contents."""
from __future__ import annotations

import json
import shutil
import sqlite3

import pytest
from run_engine_helpers import CountingBackend, settings

from mmad_eval.backends.base import Response
from mmad_eval.errors import ConfigError
from mmad_eval.run.engine import run_evaluation
from mmad_eval.run.load import MISSING
from mmad_eval.parse.stage import load_parsed_run, load_parsed_runs
from mmad_eval.run.slices import Slice
from mmad_eval.run.store import Member, Store


def test_store_round_trip(tmp_path):
    with Store(tmp_path) as s:
        s.put_run("r", {"a": 1})
        s.put_response(Response(key="k1", text="A", prompt_tokens=3, completion_tokens=1, latency_s=0.5,
                                letter_logprobs={"A": -0.1}), [{"role": "user", "parts": []}])
        s.put_response(Response(key="k2", error_type="timeout", error_message="slow", attempts=4), None)
        s.put_members("r", [Member("x#0", 0, "x", 0, "Anomaly Detection", {"A": "Yes.", "B": "No."}, "A", "k1"),
                            Member("x#1", 0, "x", 1, "Anomaly Detection", {"A": "Yes.", "B": "No."}, "B", "k2")])
        s.put_images([("sha", "a/b.png", None), ("sha2", None, b"png")])
    with Store(tmp_path) as s:
        assert s.run_record("r") == {"a": 1}
        assert s.statuses() == {"k1": "ok", "k2": "error"}
        rows = s.requests_for(["k1", "k2"])
        assert rows["k1"]["text"] == "A" and json.loads(rows["k1"]["letter_logprobs"]) == {"A": -0.1}
        assert rows["k2"]["error_type"] == "timeout" and rows["k2"]["attempts"] == 4
        assert [m.qid for m in s.members("r")] == ["x#0", "x#1"]
        assert s.usage("r")["ok"] == 1 and s.usage("r")["error"] == 1
        assert s.image("sha2") == (None, b"png")
        assert s.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_resume_asks_only_missing(dataset, tmp_path, counting):
    out = tmp_path / "out"
    first = run_evaluation(settings(), dataset, out, slice=Slice(limit=7), backend_factory=counting)
    assert first.asked == 7 and len(counting.calls) == 7
    again = run_evaluation(settings(), dataset, out, slice=Slice(limit=7), backend_factory=counting)
    assert again.asked == 0 and again.reused == 7 and len(counting.calls) == 7
    full = run_evaluation(settings(), dataset, out, backend_factory=counting)
    assert full.asked == 16 - 7 and full.reused == 7
    assert len(counting.calls) == len(set(counting.calls)) == 16     # each key asked exactly once overall
    assert counting.generate_calls == 2                                # one generate call per run with pending
    run = load_parsed_run(out)
    assert len(run.answers) == 16 and all(a.reply for a in run.answers)
    assert run.record["usage"]["ok"] == 16 and run.record["invocations"] == 3


def test_identical_prompts_are_asked_once(dataset, tmp_path, counting):
    data = json.loads(dataset.read_text())
    key = next(iter(data))
    data[key]["conversation"].append(dict(data[key]["conversation"][0]))   # a duplicate question
    qfile = dataset.parent / "dup.json"
    qfile.write_text(json.dumps(data))
    s = run_evaluation(settings(), qfile, tmp_path / "o", backend_factory=counting)
    assert s.questions == 17 and s.requests == 16 and len(counting.calls) == 16
    answers = load_parsed_run(tmp_path / "o").answers
    dup = [a for a in answers if a.image == key and a.type == "Anomaly Detection"]
    assert len(dup) == 2 and dup[0].request_key == dup[1].request_key and dup[0].reply == dup[1].reply


def test_errors_stored_and_retried_only_when_asked(dataset, tmp_path, counting):
    out = tmp_path / "out"
    bad = "DS-MVTec/bottle/test/broken/000.png#1"

    def failing(*a, **k):
        return CountingBackend(*a, fail_qids=[bad], **k)

    s = run_evaluation(settings(), dataset, out, backend_factory=failing)
    assert s.failed == 1
    rec = next(a for a in load_parsed_run(out).answers if a.qid == bad)
    assert rec.reply is None and rec.parsed is None and rec.error == "server_error: boom"
    counting.calls.clear()
    s = run_evaluation(settings(), dataset, out, backend_factory=counting)
    assert s.asked == 0 and s.stored_errors == 1 and counting.calls == []
    s = run_evaluation(settings(), dataset, out, retry_failed=True, backend_factory=counting)
    assert s.asked == 1 and len(counting.calls) == 1 and s.failed == 0
    assert next(a for a in load_parsed_run(out).answers if a.qid == bad).reply


def test_missing_image_is_a_per_question_error(dataset, tmp_path, counting):
    root = tmp_path / "data"
    shutil.copytree(dataset.parent, root)
    (root / "VisA/candle/train/good/000.png").unlink()      # first random template of every VisA query
    s = run_evaluation(settings(), root / "mmad.json", tmp_path / "out", backend_factory=counting)
    assert s.data_errors == 8 and s.asked == 8
    assert "VisA/candle/train/good/000.png" in s.line()
    answers = load_parsed_run(tmp_path / "out").answers
    errs = [a for a in answers if a.error]
    assert len(errs) == 8 and all(a.dataset == "VisA" and "image file not found" in a.error for a in errs)
    (root / "VisA/candle/train/good/000.png").write_bytes((root / "VisA/candle/train/good/001.png").read_bytes())
    s = run_evaluation(settings(), root / "mmad.json", tmp_path / "out", backend_factory=counting)
    assert s.data_errors == 0 and s.asked == 8 and not any(a.error for a in load_parsed_run(tmp_path / "out").answers)


def test_unanswered_rows_show_as_missing(dataset, tmp_path, counting):
    out = tmp_path / "out"
    run_evaluation(settings(), dataset, out, slice=Slice(limit=3), backend_factory=counting)
    with sqlite3.connect(out / "mmad-eval.sqlite") as db:
        db.execute("DELETE FROM requests WHERE key = (SELECT request_key FROM members LIMIT 1)")
    answers = load_parsed_run(out).answers
    assert answers[0].error == MISSING and answers[0].parsed is None and answers[1].reply


def test_changed_settings_need_another_name(dataset, tmp_path, counting):
    out = tmp_path / "out"
    run_evaluation(settings(), dataset, out, slice=Slice(limit=2), backend_factory=counting)
    with pytest.raises(ConfigError, match="protocol"):
        run_evaluation(settings(shots=0), dataset, out, slice=Slice(limit=2), backend_factory=counting)
    run_evaluation(settings(shots=0), dataset, out, name="zero-shot", slice=Slice(limit=2), backend_factory=counting)
    assert sorted(r.name for r in load_parsed_runs(out)) == ["random", "zero-shot"]


def test_run_record_contents(dataset, tmp_path, counting):
    s = run_evaluation(settings(), dataset, tmp_path / "out", backend_factory=counting)
    r = s.record
    assert r["questions"]["count"] == 16 and len(r["questions"]["sha256"]) == 64
    assert len(r["prompt"]["sha256"]) == 64 and r["prompt"]["name"] == "mmad"
    assert r["backend"]["backend"] == "counting" and r["settings"]["protocol"]["shots"] == 1
    assert r["versions"]["mmad_eval"] and r["versions"]["python"] and "git" in r
    assert r["usage"]["prompt_tokens"] == 160 and r["ended"] and "parser" not in r["settings"]
    assert load_parsed_run(tmp_path / "out").record["parser_version"]   # noted by the parse stage
    assert r["last_invocation"]["distinct_images"] == 8   # 6 queries + 1 template per category


def test_request_meta_and_letters(dataset, tmp_path):
    seen = []

    class Spy(CountingBackend):
        async def generate(self, items, emit):
            seen.extend(r for _, r in items)
            await super().generate(items, emit)

    run_evaluation(settings(), dataset, tmp_path / "out", slice=Slice(limit=2, sample="first"), backend_factory=Spy)
    req = seen[1]
    assert req.meta["type"] == "Object Classification" and req.meta["image"].endswith("good/000.png")
    assert req.meta["options"]["C"] == "Bottle" and req.options == (("A", "B", "C", "D"),)
    roles = [p.role for p in req.images()]
    assert roles == ["template", "query"] and req.images()[0].label == "DS-MVTec/bottle/train/good/000.png"


def test_fast_resume_skips_building_until_a_file_changes(dataset, tmp_path, counting, monkeypatch):
    import os

    import mmad_eval.run.plan as plan

    root = tmp_path / "data"
    shutil.copytree(dataset.parent, root)
    (root / "VisA/candle/test/broken/001.png").unlink()
    first = run_evaluation(settings(), root / "mmad.json", tmp_path / "out", backend_factory=counting)
    built = []
    real = plan.build_requests
    monkeypatch.setattr(plan, "build_requests", lambda sel, *a: built.append(len(sel)) or real(sel, *a))
    again = run_evaluation(settings(), root / "mmad.json", tmp_path / "out", backend_factory=counting)
    assert built == [0] and again.asked == 0
    assert (again.questions, again.answers, again.requests, again.data_errors) == \
        (first.questions, first.answers, first.requests, first.data_errors) == (16, 16, 13, 3)
    assert "broken/001.png" in again.line()
    q = root / "DS-MVTec/bottle/test/good/000.png"
    os.utime(q, ns=(q.stat().st_atime_ns, q.stat().st_mtime_ns + 10**9))   # touched: rebuild, same keys
    third = run_evaluation(settings(), root / "mmad.json", tmp_path / "out", backend_factory=counting)
    assert built == [0, 6] and third.asked == 0 and third.reused == 13


def test_fast_resume_rebuilds_only_images_with_missing_answers(dataset, tmp_path, counting):
    class Half(CountingBackend):
        async def generate(self, items, emit):
            await super().generate(items[: len(items) // 2], emit)

    half = run_evaluation(settings(), dataset, tmp_path / "out", backend_factory=Half)
    assert half.unanswered == 8
    counting.calls.clear()
    rest = run_evaluation(settings(), dataset, tmp_path / "out", backend_factory=counting)
    assert rest.asked == 8 and rest.reused == 8 and rest.requests == 16 and len(counting.calls) == 8
    run_evaluation(settings(), dataset, tmp_path / "ref", backend_factory=counting)
    a = {x.qid: (x.reply, x.request_key) for x in load_parsed_run(tmp_path / "out").answers}
    assert a == {x.qid: (x.reply, x.request_key) for x in load_parsed_run(tmp_path / "ref").answers}


class OptionBackend(CountingBackend):
    """A backend whose ``dtype`` option changes answers (it is part of its identity)."""

    def answer_options(self):
        return {"dtype": self.options.get("dtype")}


def test_resume_with_another_prompt_text_needs_another_name(dataset, tmp_path, counting):
    """Same template name, edited text: resuming would mix answers to two prompts in one run."""
    from mmad_eval.prompt.render import PROMPT_DIR

    prompts = tmp_path / "prompts"
    prompts.mkdir()
    shutil.copy(PROMPT_DIR / "mmad.j2", prompts / "mmad.j2")
    out = tmp_path / "out"
    run_evaluation(settings(), dataset, out, backend_factory=counting, prompt_dir=prompts)
    (prompts / "mmad.j2").write_text((prompts / "mmad.j2").read_text() + "Think carefully.\n")
    with pytest.raises(ConfigError, match="prompt"):
        run_evaluation(settings(), dataset, out, slice=Slice(limit=2), backend_factory=counting, prompt_dir=prompts)
    assert all(a.reply for a in load_parsed_run(out).answers)


def test_resume_with_another_backend_identity_needs_another_name(dataset, tmp_path, counting):
    out = tmp_path / "out"
    run_evaluation(settings(), dataset, out, backend_factory=OptionBackend, backend_options={"dtype": "bf16"})
    with pytest.raises(ConfigError, match="backend"):
        run_evaluation(settings(), dataset, out, slice=Slice(limit=2), backend_factory=OptionBackend,
                       backend_options={"dtype": "fp16"})
    # transport-only options (not in the identity) resume fine, asking nothing again
    counting.calls = []
    s = run_evaluation(settings(), dataset, out, backend_factory=OptionBackend,
                       backend_options={"dtype": "bf16", "concurrency": 64})
    assert s.asked == 0 and counting.calls == []
