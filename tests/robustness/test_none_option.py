"""Unanswerable questions: the none-option transform, its scoring apart, the audit, and the CLI end to end."""
import dataclasses
import json

import pytest
from hypothesis import given, settings, strategies as st

from mmad_eval.answers import AnswerRecord
from mmad_eval.cli import main
from mmad_eval.questions.answerability import answerability
from mmad_eval.questions.model import ImageEntry, Question, QuestionSet
from mmad_eval.questions.none_option import NONE_TEXT, add_none_option, is_none_option, none_letter
from mmad_eval.run.plan import load_questions
from mmad_eval.score.none_option import none_option_report


def _qs(n_options_list, answers) -> QuestionSet:
    entries = {}
    for i, (n, ans) in enumerate(zip(n_options_list, answers)):
        key = f"D/cat/test/bad/{i:03d}.png"
        opts = {L: f"option {L} of {i}" for L in "ABCDE"[:n]}
        qtype = "Anomaly Detection" if n == 2 and i % 2 else "Defect Classification"
        entries[key] = ImageEntry(key=key, questions=[Question(key, 0, qtype, "Q?", opts, "ABCDE"[ans % n])])
    return QuestionSet(entries=entries)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.lists(st.tuples(st.integers(2, 5), st.integers(0, 4)), min_size=1, max_size=30),
       st.floats(0, 1), st.integers(0, 3))
def test_every_changed_question_has_one_right_answer(spec, share, seed):
    qs = _qs([n for n, _ in spec], [a for _, a in spec])
    new, counts = add_none_option(qs, share, seed)
    assert sum(counts.values()) == len(spec)
    for old, q in zip(qs.questions(), new.questions()):
        kind = q.extra.get("none_option")
        if kind is None:
            assert q == old and (old.type == "Anomaly Detection" or len(old.options) == 5)
            continue
        assert list(q.options) == list("ABCDE"[:len(q.options)]) and q.options[list(q.options)[-1]] == NONE_TEXT
        assert none_letter(q.options) == list(q.options)[-1]
        if kind == "unanswerable":
            assert q.answer == none_letter(q.options) and old.options[old.answer] not in q.options.values()
            assert len(q.options) == len(old.options) and q.extra["removed_option"] == old.options[old.answer]
        else:
            assert q.options[q.answer] == old.options[old.answer] and len(q.options) == len(old.options) + 1
    again, _ = add_none_option(qs, share, seed)
    assert again == new                                              # seeded


def test_the_draw_is_per_question_not_per_file_order():
    qs = _qs([4] * 40, range(40))
    a, counts = add_none_option(qs, 0.5, 7)
    reversed_qs = dataclasses.replace(qs, entries=dict(reversed(list(qs.entries.items()))))
    b, _ = add_none_option(reversed_qs, 0.5, 7)
    kinds = lambda s: {q.qid: q.extra["none_option"] for q in s.questions()}   # noqa: E731
    assert kinds(a) == kinds(b) and 10 < counts["unanswerable"] < 30
    assert add_none_option(qs, 0.0, 1)[1]["unanswerable"] == 0 and add_none_option(qs, 1.0, 1)[1]["answerable"] == 0


def _rec(options, answer, parsed, error=None) -> AnswerRecord:
    return AnswerRecord(image="D/c/test/bad/0.png", index=0, type="Defect Classification", options=options,
                        answer=answer, reply=parsed, parsed=parsed, error=error)


def test_report_counts_forced_picks_and_false_nones():
    four = {"A": "scratch", "B": "hole", "C": "crack", "D": "None of the listed choices."}
    recs = [_rec(four, "D", "D"), _rec(four, "D", "A"), _rec(four, "D", "B"), _rec(four, "D", None),
            _rec(four, "D", None, error="timeout: x"),
            _rec(four, "B", "B"), _rec(four, "B", "D"), _rec(four, "C", "A"),
            _rec({"A": "yes", "B": "no"}, "A", "A")]                   # no none option: not counted
    r = none_option_report(recs)
    assert (r.unanswerable, r.none_picked, r.forced_picks, r.unanswerable_unparsed) == (5, 1, 2, 2)
    assert (r.answerable, r.false_none, r.answerable_right) == (3, 1, 1)
    assert r.forced_pick_rate == 40.0 and r.false_none_rate == pytest.approx(100 / 3)
    assert none_option_report(recs[-1:]) is None


def test_none_options_written_otherwise_are_recognised():
    for text in ("None of the listed choices.", "none of the above", "None of these", "None of the options"):
        assert is_none_option(text), text
    for text in ("No.", "None", "Nonexistent crack", "no defect"):
        assert not is_none_option(text), text


def test_audit_catches_an_unanswerable_question_whose_answer_is_still_listed(tmp_path):
    """The audit checks an unanswerable question against its removed option: one listed again is flagged."""
    from mmad_eval.commands.demo import prepare_data

    root, q = prepare_data(tmp_path / "cache", 0, "bottle", quiet=True)
    gen = tmp_path / "gen.json"
    assert main(["generate", str(root / "Synth-AD"), "--out", str(gen), "--similar", "none"]) == 0
    qs, _ = add_none_option(load_questions(gen), 1.0, 0)
    clean = answerability(qs, root, knowledge=None)["total"]
    assert clean["answer_not_defensible"] == 0 and clean["checked"] > 0
    broken = {}
    for key, e in qs.entries.items():
        qlist = []
        for x in e.questions:
            if x.type == "Defect Localization" and x.extra.get("none_option") == "unanswerable":
                x = dataclasses.replace(x, options={**x.options, "A": x.extra["removed_option"]})
            qlist.append(x)
        broken[key] = dataclasses.replace(e, questions=qlist)
    bad = answerability(dataclasses.replace(qs, entries=broken), root, knowledge=None)["total"]
    n_loc = sum(1 for x in qs.questions() if x.type == "Defect Localization")
    assert n_loc and bad["answer_not_defensible"] == n_loc


def test_cli_end_to_end(tmp_path, capsys):
    from mmad_eval.commands.demo import prepare_data

    root, q = prepare_data(tmp_path / "cache", 0, "bottle", quiet=True)
    elsewhere = tmp_path / "elsewhere" / "q_none.json"
    assert main(["unanswerable", str(q), "--out", str(elsewhere), "--share", "0.5", "--seed", "3"]) == 0
    printed = capsys.readouterr().out
    assert "unanswerable and" in printed and f"--data-root {root.resolve()}" in printed   # run confines the root
    assert main(["run", "--questions", str(elsewhere), "--model", "blind", "--out", str(tmp_path / "x"),
                 "--quiet"]) == 2
    out_q = q.parent / "q_none.json"                                  # beside the original: runs as it is
    assert main(["unanswerable", str(q), "--out", str(out_q), "--share", "0.5", "--seed", "3"]) == 0
    assert "--data-root" not in capsys.readouterr().out
    assert main(["run", "--questions", str(out_q), "--model", "blind", "--out", str(tmp_path / "runs"), "--quiet"]) == 0
    assert main(["score", str(tmp_path / "runs"), "--bootstrap", "0", "--json", str(tmp_path / "s.json")]) == 0
    text = capsys.readouterr().out
    assert "none option:" in text and "forced" in text
    saved = json.loads((tmp_path / "s.json").read_text())["blind"]["none_option"]
    assert saved["unanswerable"] > 0 and saved["forced_picks"] + saved["none_picked"] + \
        saved["unanswerable_unparsed"] == saved["unanswerable"]
    assert main(["report", str(tmp_path / "runs"), "--out", str(tmp_path / "r.html")]) == 0
    assert 'id="none-option"' in (tmp_path / "r.html").read_text()
    assert main(["unanswerable", str(q), "--out", str(q)]) == 2                    # never over the original


@pytest.mark.parametrize("options, answer", [({"A": "a crack", "B": "a scratch", "C": "a scratch"}, "C"),
                                             ({"A": "left", "B": "left", "C": "right", "D": "left"}, "D")])
def test_an_option_text_listed_twice_keeps_the_answer_on_its_own_letter(options, answer):
    """Two options of the same text: an answerable question's answer follows its letter, not the first copy of
    its text; an unanswerable one loses every copy (else a listed option would still be right)."""
    key = "D/cat/test/bad/000.png"
    qs = QuestionSet(entries={key: ImageEntry(key=key, questions=[
        Question(key, 0, "Defect Classification", "Q?", options, answer)])})
    for share, kind in ((0.0, "answerable"), (1.0, "unanswerable")):
        q = next(iter(add_none_option(qs, share, 0)[0].questions()))
        assert q.extra["none_option"] == kind
        if kind == "answerable":
            assert list(q.options).index(q.answer) == list(options).index(answer)
        else:      # every option with the true text is gone: none is the only right answer
            assert q.answer == none_letter(q.options) and options[answer] not in q.options.values()
            assert q.extra["removed_option"] == options[answer]


@pytest.mark.parametrize("share", [-0.1, 1.5])
def test_a_share_outside_0_to_1_is_refused(share):
    from mmad_eval.errors import ConfigError

    with pytest.raises(ConfigError) as e:
        add_none_option(_qs([4], [0]), share)
    assert e.value.culprit == str(share)
