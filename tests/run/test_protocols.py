"""Question modes, option shuffles and circular rotations, slicing, sharding and merge."""
from __future__ import annotations

from collections import Counter

from run_engine_helpers import CountingBackend, settings

from mmad_eval.commands.merge import merge_stores
from mmad_eval.questions.mmad_io import load_mmad_json
from mmad_eval.run.engine import run_evaluation
from mmad_eval.parse.stage import load_parsed_run
from mmad_eval.run.protocols import answer_segment, plan_entry, show, split_numbered_reply
from mmad_eval.run.settings import ProtocolSettings
from mmad_eval.run.slices import Slice, apply_slice, parse_shard


class Spy(CountingBackend):
    seen = []

    async def generate(self, items, emit):
        type(self).seen.extend(r for _, r in items)
        await super().generate(items, emit)


def _broken_entry(dataset):
    qs = load_mmad_json(dataset)
    return next(e for e in qs.entries.values() if "broken" in e.key)


def test_cumulative_lists_questions_one_to_i_and_keeps_last(dataset, tmp_path):
    Spy.seen = []
    run_evaluation(settings(question_mode="cumulative"), dataset, tmp_path / "o", slice=Slice(limit=5, sample="first"),
                   backend_factory=Spy)
    third = next(r for r in Spy.seen if r.qids[0].endswith("broken/000.png#2"))
    assert len(third.messages) == 1 and third.messages[0].role == "user"
    text = third.messages[0].text
    assert text.index("Question 1: Is there any defect") < text.index("Question 2:") < text.index("Question 3:")
    assert "Question 4" not in text and third.qids == ("DS-MVTec/bottle/test/broken/000.png#2",)
    answers = {a.qid: a for a in load_parsed_run(tmp_path / "o").answers}
    assert len(answers) == 5
    # the fake backend answers "Answer: X" for the one answered question: the whole reply is its segment
    assert all(a.parsed for a in answers.values())


def test_per_image_asks_each_image_once_and_splits_lines(dataset, tmp_path):
    Spy.seen = []
    s = run_evaluation(settings(question_mode="per-image"), dataset, tmp_path / "o", backend_factory=Spy)
    assert s.requests == 6 and s.answers == 16
    req = next(r for r in Spy.seen if len(r.qids) == 3)
    assert "Question 3:" in req.messages[0].text and '"<number>: <letter>"' in req.messages[0].text
    answers = load_parsed_run(tmp_path / "o").answers
    assert len({a.request_key for a in answers}) == 6
    for a in answers:                       # each question gets the line with its own number
        assert a.meta["segment"] == split_numbered_reply(a.reply)[a.index + 1]
        assert a.parsed == a.meta["segment"] and a.parsed in a.options


def test_split_and_segments():
    reply = "Let me look.\n1. Answer: B.\n2: C\nQuestion 3: A\n"
    assert split_numbered_reply(reply) == {1: "Answer: B.", 2: "C", 3: "A"}
    assert answer_segment(reply, "per-image", 1, 3) == "C"
    assert answer_segment("B", "per-image", 1, 3) is None
    assert answer_segment("The answer is B", "cumulative", 2, 3) == "The answer is B"
    assert answer_segment("whatever", "independent", 0, 1) == "whatever"


def test_shuffle_is_seeded_per_question_and_keeps_the_answer(dataset):
    entry = _broken_entry(dataset)
    q = entry.questions[1]
    p1 = ProtocolSettings(option_order="shuffle", option_seed=1)
    a, b = show(q, p1), show(q, p1)
    assert a == b and a.options[a.answer] == q.options[q.answer]
    orders = {tuple(show(q, ProtocolSettings(option_order="shuffle", option_seed=s)).options.values())
              for s in range(20)}
    assert len(orders) > 3
    assert show(q, ProtocolSettings()).options == q.options


def test_circular_asks_every_rotation(dataset, tmp_path):
    entry = _broken_entry(dataset)
    units = plan_entry(entry, entry.questions, ProtocolSettings(circular=True))
    assert len(units) == 2 + 4 + 4
    shown = [u.answers[0][1] for u in units if u.answers[0][1].question.index == 1]
    assert sorted(s.rotation for s in shown) == [0, 1, 2, 3]
    assert sorted(s.answer for s in shown) == ["A", "B", "C", "D"]           # the answer visits every letter
    assert all(s.options[s.answer] == "Broken" for s in shown)
    s = run_evaluation(settings(circular=True), dataset, tmp_path / "o", backend_factory=CountingBackend)
    answers = load_parsed_run(tmp_path / "o").answers
    per_q = Counter(a.qid for a in answers)
    assert s.answers == len(answers) == 6 * 2 + 10 * 4 and per_q["DS-MVTec/bottle/test/good/000.png#0"] == 2
    assert {a.rotation for a in answers if a.qid.endswith("#1")} == {0, 1, 2, 3}


def test_per_image_circular_rotates_all_questions(dataset):
    entry = _broken_entry(dataset)
    units = plan_entry(entry, entry.questions, ProtocolSettings(circular=True, question_mode="per-image"))
    assert len(units) == 4
    assert [len(u.answers) for u in units] == [3, 3, 2, 2]                   # the yes/no question has 2 rotations


def test_slices_and_shards(dataset):
    qs = load_mmad_json(dataset)
    assert sum(len(s) for _, s in apply_slice(qs, Slice(limit=5))) == 5
    ad = apply_slice(qs, Slice(subtasks=("AD",)))
    assert all(q.type == "Anomaly Detection" for _, s in ad for q in s) and len(ad) == 6
    assert {e.key.split("/")[0] for e, _ in apply_slice(qs, Slice(datasets=("VisA",)))} == {"VisA"}
    assert len(apply_slice(qs, Slice(categories=("bottle",)))) == 3
    shards = [apply_slice(qs, Slice(shard=(i, 3))) for i in range(3)]
    keys = [e.key for sh in shards for e, _ in sh]
    assert sorted(keys) == sorted(qs.entries) and len(keys) == len(set(keys))
    assert parse_shard("1/3") == (1, 3)


def test_shards_merged_equal_unsharded(dataset, tmp_path):
    whole = run_evaluation(settings(), dataset, tmp_path / "whole", backend_factory=CountingBackend)
    for i in range(3):
        run_evaluation(settings(), dataset, tmp_path / f"s{i}", slice=Slice(shard=(i, 3)),
                       backend_factory=CountingBackend)
    stats = merge_stores([tmp_path / f"s{i}" for i in range(3)], tmp_path / "merged")
    assert stats["answer_conflicts"] == 0 and stats["member_conflicts"] == 0
    a = {x.qid: (x.reply, x.parsed, x.request_key) for x in load_parsed_run(tmp_path / "whole").answers}
    b = {x.qid: (x.reply, x.parsed, x.request_key) for x in load_parsed_run(tmp_path / "merged").answers}
    assert a == b and len(a) == whole.questions
    assert load_parsed_run(tmp_path / "merged").record["usage"]["ok"] == 16


def test_merge_refuses_different_settings(dataset, tmp_path):
    import pytest

    from mmad_eval.errors import ConfigError

    run_evaluation(settings(), dataset, tmp_path / "a", slice=Slice(shard=(0, 2)), backend_factory=CountingBackend)
    run_evaluation(settings(shots=0), dataset, tmp_path / "b", slice=Slice(shard=(1, 2)),
                   backend_factory=CountingBackend)
    with pytest.raises(ConfigError, match="different settings"):
        merge_stores([tmp_path / "a", tmp_path / "b"], tmp_path / "m")


def test_split_markdown_and_bulleted_numbering():
    want = {1: "A", 2: "C"}
    for reply in ("**1.** A\n**2.** C", "**1**: A\n**2**: C", "- 1: A\n- 2: C", "Q1: A\nQ2: C", "### 1. A\n### 2. C"):
        assert split_numbered_reply(reply) == want, reply
    assert answer_segment("**1.** A\n**2.** C", "per-image", 1, 2) == "C"
