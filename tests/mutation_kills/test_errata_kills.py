"""Errata: exactly the targeted questions change, only reviewed entries count, no decision is lost (issue 25)."""
import json

import pytest

from mmad_eval.answers import AnswerRecord
from mmad_eval.errata.apply import apply_to_answers, apply_to_questions, matches
from mmad_eval.errata.model import Errata, apply_decisions, carry_decisions, load_errata, save_errata
from mmad_eval.errors import DataError
from mmad_eval.questions.model import ImageEntry, Question, QuestionSet

OPTS = {"A": "Yes", "B": "No"}


def entry(target, fix, status="confirmed", id_="e1", **more):
    return {"id": id_, "status": status, "target": target, "fix": fix, **more}


def rec(image, index=0, answer="A", qtype="Anomaly Detection", rotation=0, options=OPTS):
    return AnswerRecord(image=image, index=index, type=qtype, options=options, answer=answer, rotation=rotation)


@pytest.mark.parametrize("target, hit", [
    ({"images": ["D/c/bad/1.png"]}, True), ({"images": ["D/c/bad/2.png"]}, False),
    ({"image_glob": "D/c/*/1.png"}, True), ({"image_glob": "D/C/*"}, False),     # fnmatch, case-sensitive
    ({"images": ["D/c/bad/1.png"], "question": 0}, True), ({"images": ["D/c/bad/1.png"], "question": 1}, False),
    ({"images": ["D/c/bad/1.png"], "question": None}, True),
    ({"images": ["D/c/bad/1.png"], "types": ["Anomaly Detection"]}, True),
    ({"images": ["D/c/bad/1.png"], "types": ["Defect Classification"]}, False),
    ({"images": ["D/c/bad/1.png"], "answer_pattern": "^yes"}, True),          # case-insensitive regex
    ({"images": ["D/c/bad/1.png"], "answer_pattern": "^no"}, False),
])
def test_target_matching(target, hit):
    assert matches({"target": target}, "D/c/bad/1.png", 0, "Anomaly Detection", "Yes") is hit


def test_only_confirmed_or_reported_entries_change_answers_and_the_input_is_untouched():
    answers = [rec("D/c/bad/1.png"), rec("D/c/bad/1.png", rotation=1), rec("D/c/bad/2.png"), rec("D/c/bad/3.png")]
    errata = Errata([entry({"images": ["D/c/bad/1.png"]}, {"action": "correct_answer", "answer_text": "no"}),
                     entry({"images": ["D/c/bad/2.png"]}, {"action": "exclude"}, status="reported", id_="e2",
                           source="https://x"),
                     entry({"images": ["D/c/bad/3.png"]}, {"action": "exclude"}, status="suspect", id_="e3"),
                     entry({"images": ["D/c/bad/3.png"]}, {"action": "note"}, id_="e4")])
    out, changes = apply_to_answers(answers, errata)
    assert [(r.image, r.rotation, r.answer) for r in out] == [("D/c/bad/1.png", 0, "B"), ("D/c/bad/1.png", 1, "B"),
                                                               ("D/c/bad/3.png", 0, "A")]
    assert answers[0].answer == "A"
    assert changes.as_dict() == {"questions_changed": 2, "excluded": 1, "corrected": 2,
                                 "per_entry": {"e1": {"excluded": 0, "corrected": 2}, "e2": {"excluded": 1, "corrected": 0}}}
    assert [e["id"] for e in errata.notes()] == ["e4"]


def test_an_exclusion_wins_over_a_correction_and_a_correction_to_an_absent_option_is_reported():
    answers = [rec("D/c/bad/1.png"), rec("D/c/bad/2.png"), rec("D/c/bad/3.png", answer="B")]
    errata = Errata([entry({"image_glob": "D/c/bad/*"}, {"action": "correct_answer", "answer_text": "Maybe"}),
                     entry({"images": ["D/c/bad/2.png"]}, {"action": "replace_references", "category": "c"}, id_="e2")])
    out, changes = apply_to_answers(answers, errata)
    assert [r.image for r in out] == ["D/c/bad/1.png", "D/c/bad/3.png"]
    assert changes.per_entry() == {"e1": {"excluded": 0, "corrected": 0, "not_applicable": 2},
                                   "e2": {"excluded": 1, "corrected": 0}}
    same, changes = apply_to_answers([rec("D/c/bad/1.png", answer="B")],
                                     Errata([entry({"images": ["D/c/bad/1.png"]},
                                                   {"action": "correct_answer", "answer_text": " NO! "})]))
    assert same[0].answer == "B" and changes.questions == 0


def _qs():
    def q(key, i, answer="A"):
        return Question(key, i, "Anomaly Detection", "?", dict(OPTS), answer)
    return QuestionSet({"D/c/bad/1.png": ImageEntry("D/c/bad/1.png", [q("D/c/bad/1.png", 0), q("D/c/bad/1.png", 1)],
                                                    ["D/c/good/r1.png", "D/x/good/r9.png"], ["D/c/good/r2.png"]),
                        "D/c/bad/2.png": ImageEntry("D/c/bad/2.png", [q("D/c/bad/2.png", 0)],
                                                    ["D/c/good/r3.png"], ["D/c/good/r1.png"])})


def test_a_corrected_question_file_keeps_indices_and_refills_references_from_the_category():
    errata = Errata([entry({"images": ["D/c/bad/1.png"], "question": 1}, {"action": "exclude"}),
                     entry({"images": ["D/c/bad/2.png"]}, {"action": "exclude"}, id_="e2"),
                     entry({"images": ["D/c/bad/1.png"], "question": 0}, {"action": "correct_answer", "answer_text": "No"},
                           id_="e3"),
                     entry({"images": ["D/c/bad/1.png"]}, {"action": "replace_references", "category": "D/c",
                                                           "drop": ["D/c/good/r2.png", "D/x/good/r9.png"]}, id_="e4")])
    fixed, changes = apply_to_questions(_qs(), errata)
    assert list(fixed.entries) == ["D/c/bad/1.png"]                    # an image left without questions goes
    e = fixed.entries["D/c/bad/1.png"]
    assert [(q.index, q.answer) for q in e.questions] == [(0, "B")]
    # the D/c pool (references of its images) less the dropped: r1, r3; r9 is replaced by the unused r3, r2 by r1
    assert e.similar_templates == ["D/c/good/r1.png", "D/c/good/r3.png"]
    assert e.random_templates == ["D/c/good/r1.png"]
    assert changes.questions == 3 and changes.excluded == {"e1": 1, "e2": 1}
    assert _qs().entries["D/c/bad/1.png"].questions[0].answer == "A"


def test_decisions_are_carried_to_the_next_audit_and_written_back(tmp_path):
    old = Errata([entry({"images": ["k1"]}, {"action": "exclude"}, status="rejected", id_="a", decision={"decision": "rejected"}),
                  entry({"images": ["k2"]}, {"action": "exclude"}, status="confirmed", id_="b"),
                  entry({"images": ["k3"]}, {"action": "exclude"}, status="suspect", id_="c")])
    new = [entry({"images": ["k1"]}, {"action": "exclude"}, status="suspect", id_="a"),
           entry({"images": ["k4"]}, {"action": "exclude"}, status="suspect", id_="d")]
    carried = carry_decisions(new, old)
    assert [(e["id"], e["status"], e.get("raised_by_last_audit", True)) for e in carried] == \
        [("a", "rejected", True), ("d", "suspect", True), ("b", "confirmed", False)]
    assert carried[0]["decision"] == {"decision": "rejected"} and carry_decisions(new, None) == new
    path = tmp_path / "errata.json"
    save_errata(Errata(carried, meta={"questions": {"sha256": "x"}}), path)
    loaded = load_errata(path)
    (tmp_path / "d.json").write_text(json.dumps({"decisions": {"d": {"decision": "confirmed", "note": "seen"}}}))
    assert apply_decisions(loaded, tmp_path / "d.json") == {"confirmed": 1, "rejected": 0}
    assert loaded.by_id()["d"]["status"] == "confirmed" and loaded.by_id()["d"]["decision"]["note"] == "seen"
    (tmp_path / "bad.json").write_text(json.dumps({"zz": "confirmed"}))
    with pytest.raises(DataError, match="name no erratum"):
        apply_decisions(loaded, tmp_path / "bad.json")


@pytest.mark.parametrize("bad, why", [
    ({"id": "", "status": "confirmed"}, "non-empty string 'id'"),
    ({"id": "x", "status": "maybe", "target": {"images": ["k"]}, "fix": {"action": "exclude"}}, "status must be"),
    ({"id": "x", "status": "confirmed", "target": {"images": []}, "fix": {"action": "exclude"}}, "target needs"),
    ({"id": "x", "status": "confirmed", "target": {"images": ["k"], "question": "1"}, "fix": {"action": "exclude"}},
     "integer"),
    ({"id": "x", "status": "confirmed", "target": {"images": ["k"]}, "fix": {"action": "correct_answer"}}, "answer_text"),
    ({"id": "x", "status": "confirmed", "target": {"images": ["k"]}, "fix": {"action": "replace_references"}},
     "'category' or 'references'"),
    ({"id": "x", "status": "reported", "target": {"images": ["k"]}, "fix": {"action": "exclude"}}, "'source'"),
])
def test_a_bad_erratum_is_one_line_naming_it(tmp_path, bad, why):
    path = tmp_path / "e.json"
    path.write_text(json.dumps({"format": "mmad-eval-errata/1", "errata": [bad]}))
    with pytest.raises(DataError, match=why):
        load_errata(path)
