"""Ranking by the strict score: a leader is named only when a paired test separates it; runs of another question
set or unfinished runs are never ranked; abstentions are counted apart from parse failures."""
import random

import pytest
from hypothesis import given, settings, strategies as st

from mmad_eval.answers import AnswerRecord
from mmad_eval.score import ranking as rk
from mmad_eval.score.ranking import Entrant, compatible_gap, headline, question_set, rank_runs
from mmad_eval.score.scorers import MMAD, STRICT
from mmad_eval.score.summary import compatible_tables

YN = {"A": "Yes.", "B": "No."}
ABCD = {"A": "top left", "B": "bottom right", "C": "center", "D": "top right"}
TYPES = ("Anomaly Detection", "Defect Localization", "Defect Classification", "Object Classification")


def questions(n_images=12):
    """(image, index, type, options, answer) for ``n_images`` images, half of them defective."""
    out = []
    for i in range(n_images):
        good = i % 2 == 0
        key = f"Own/widget/test/{'good' if good else 'crack'}/{i:03d}.png"
        out.append((key, 0, "Anomaly Detection", YN, "B" if good else "A"))
        out.append((key, 1, "Object Classification" if good else "Defect Localization", ABCD, "ABCD"[i % 4]))
        if not good:
            out.append((key, 2, "Defect Classification", ABCD, "ABCD"[(i + 1) % 4]))
    return out


def run(qs, choose, missing=()):
    """Answer records: ``choose(question) -> letter | None`` (None = the backend abstains)."""
    recs = []
    for q in qs:
        key, idx, qtype, opts, ans = q
        r = AnswerRecord(image=key, index=idx, type=qtype, options=opts, answer=ans)
        if (key, idx) in missing:
            r.error = "missing: not asked yet"
        else:
            letter = choose(q)
            r.reply = letter or ""
            r.parsed = r.reference_parsed = letter
            if letter is None:
                r.meta = {"abstain": True}
                r.rule = "abstained"
        recs.append(r)
    return recs


def entrant(name, answers, sha="q" * 64, count=None):
    record = {"questions": {"file": "questions.json", "sha256": sha,
                            "count": count or len({a.qid for a in answers}), "selected": len(answers)}}
    return Entrant(name, answers, question_set(record, answers), STRICT.table(answers))


def guesser(seed, p_right=0.0):
    rng = random.Random(seed)
    return lambda q: q[4] if rng.random() < p_right else rng.choice(sorted(q[3]))


def expert(q):
    """Perfect Anomaly Detection and Defect Localization; abstains elsewhere (as the built-in expert)."""
    return q[4] if q[2] in ("Anomaly Detection", "Defect Localization") else None


def test_a_tie_is_not_a_win():
    qs = questions()
    a, b = run(qs, guesser(1, 0.5)), run(qs, guesser(1, 0.5))
    r = rank_runs([entrant("a", a), entrant("b", b)], n_boot=200)
    assert r.winner is None and r.not_separated == ["b"]
    assert headline(r).startswith("No run is separated: a has the highest strict score")
    assert "not separated from b" in headline(r)


def test_a_clear_leader_is_named():
    qs = questions(40)
    r = rank_runs([entrant("chance", run(qs, guesser(2))), entrant("good", run(qs, guesser(3, 0.95)))],
                  n_boot=300)
    assert [s.name for s in r.ranked] == ["good", "chance"] and r.winner == "good"
    assert headline(r).startswith("Best strict score: good at ")
    behind = r.ranked[1]
    assert behind.separated and behind.diff_ci[0] > 0 and behind.p_value < 0.05


def test_unfinished_runs_and_other_question_sets_are_never_ranked():
    qs = questions()
    full = [entrant(n, run(qs, guesser(i, 0.6))) for i, n in enumerate(("a", "b"))]
    unfinished = entrant("unfinished", run(qs, guesser(5, 1.0), missing={(qs[0][0], 0)}))
    other_file = entrant("other-file", run(qs, guesser(6, 1.0)), sha="f" * 64)
    sample = entrant("sample", run(qs[:10], guesser(7, 1.0)), count=len(qs))
    r = rank_runs([unfinished, *full, other_file, sample], n_boot=100)
    assert {s.name for s in r.ranked} == {"a", "b"}          # the perfect runs are all left out
    why = {s.name: s.not_ranked for s in r.standings if s.rank is None}
    assert why["unfinished"].startswith("run incomplete: 1 of")
    assert why["other-file"].startswith("another question file")
    assert why["sample"].startswith("another selection of the questions (10 questions")
    assert [s.name for s in r.standings][-3:] == ["unfinished", "other-file", "sample"]


def test_own_images_expert_with_perfect_ad_next_to_random():
    """The case of a small folder of one's own images: summary.py's skip-after-drop rule lowers the abstaining
    expert's MMAD-compatible number below chance; the ranking goes by the strict score and says why they differ."""
    qs = questions(13)
    ex, rnd = run(qs, expert), run(qs, guesser(11))
    r = rank_runs([entrant("random", rnd), entrant("expert", ex)], n_boot=300)
    strict = {s.name: s.strict for s in r.ranked}
    assert r.leader == "expert" and strict["expert"] > strict["random"]
    text = headline(r)
    assert "expert" in text.split(":")[1] and ("Best strict score: expert" in text or "No run is separated" in text)
    compat = compatible_tables(ex)[0]
    assert compat.overall["Average"] < STRICT.table(ex).overall["Average"]
    gap = compatible_gap(ex, compat, STRICT.table(ex))
    n_abstain = sum(q[2] not in ("Anomaly Detection", "Defect Localization") for q in qs)
    assert f"dropped {n_abstain} answers without a letter A-E ({n_abstain} abstained)" in gap
    assert f"skipped the {compat.extra['skipped_after_drop']} answers right after them" in gap
    assert compatible_gap(rnd, compatible_tables(rnd)[0], STRICT.table(rnd)) is None   # they agree


def test_abstentions_are_counted_apart_and_leave_the_mmad_score_unchanged():
    qs = questions(8)
    ex = run(qs, expert)
    t = STRICT.table(ex)
    n_abstain = sum(a.abstained for a in ex)
    assert n_abstain > 0 and t.extra["abstained"] == n_abstain and t.extra["unparsed"] == 0
    assert t.extra["parse_failure_rate"] == 0 and t.extra["abstain_rate"] == pytest.approx(100 * n_abstain / len(ex))
    assert t.extra["predicted_letter_share"]["abstained"] == pytest.approx(100 * n_abstain / len(ex))
    plain = run(qs, expert)
    for a in plain:
        a.meta, a.rule = {}, None                         # the same empty replies without the abstain mark
    assert MMAD.table(plain).overall == MMAD.table(ex).overall and MMAD.table(plain).rows == MMAD.table(ex).rows
    assert STRICT.table(plain).extra["unparsed"] == n_abstain and STRICT.table(plain).extra["abstained"] == 0


def test_the_parse_stage_marks_abstentions():
    from mmad_eval.parse.stage import ABSTAINED, parse_answers

    qs = questions(4)
    recs = run(qs, expert)
    for r in recs:
        r.parsed = r.reference_parsed = r.rule = None
    parse_answers(recs)
    assert {r.rule for r in recs if r.reply == ""} == {ABSTAINED}
    assert all(r.parsed == r.answer for r in recs if r.reply)
    unmarked = run(qs[:2], lambda q: None)
    for r in unmarked:
        r.meta = {}
    parse_answers(unmarked)
    assert all(r.rule != ABSTAINED and not r.abstained for r in unmarked)


def test_known_mmad_revision_is_one_pluggable_check(monkeypatch):
    from mmad_eval.questions import identity

    qs = questions()
    whole = entrant("a", run(qs, expert), sha="1" * 64)
    assert not rk.is_known_mmad_revision(whole.question_set)
    monkeypatch.setattr(identity, "KNOWN_FILES", identity.KNOWN_FILES + (
        identity.KnownQuestionFile("mmad.json (test revision)", "1" * 64, None, "test"),))
    assert rk.is_known_mmad_revision(whole.question_set)
    part = entrant("b", run(qs[:5], expert), sha="1" * 64, count=len(qs))
    assert not rk.is_known_mmad_revision(part.question_set)          # a part of the file is another set
    assert not rk.is_known_mmad_revision(None)


@settings(derandomize=True, max_examples=25, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=2, max_size=4), st.integers(0, 1000))
def test_ranking_invariants(accuracies, seed):
    qs = questions(10)
    ents = [entrant(f"r{i}", run(qs, guesser(seed + i, p))) for i, p in enumerate(accuracies)]
    r = rank_runs(ents, n_boot=60, seed=seed)
    values = [s.strict for s in r.ranked]
    assert values == sorted(values, reverse=True) and r.leader == r.ranked[0].name
    assert [s.rank for s in r.ranked] == list(range(1, len(ents) + 1))
    assert sorted(s.index for s in r.standings) == list(range(len(ents)))
    assert all(ents[s.index].name == s.name for s in r.standings)
    if r.winner:
        assert all(s.separated and s.strict < r.ranked[0].strict for s in r.ranked[1:])
        assert headline(r).startswith(f"Best strict score: {r.winner} ")
    else:
        assert headline(r).startswith("No run is separated") and r.not_separated
    assert set(r.not_separated) == {s.name for s in r.ranked[1:] if not s.separated}
    reversed_r = rank_runs(ents[::-1], n_boot=60, seed=seed)
    assert sorted(s.strict for s in reversed_r.ranked) == sorted(values)


def test_nothing_is_ranked_while_every_run_is_unfinished():
    qs = questions(4)
    r = rank_runs([entrant("a", run(qs, expert, missing={(qs[0][0], 0)}))], n_boot=20)
    assert r.leader is None and r.ranked == [] and r.standings[0].not_ranked.startswith("run incomplete: 1 of")
    assert headline(r) == "No run is ranked: none has answered every question of its question set yet."
    one = rank_runs([entrant("a", run(qs, expert))], n_boot=20)
    assert one.winner is None and headline(one).startswith("Only one run is ranked: a, strict score ")
