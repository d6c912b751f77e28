"""Errata files: validation, decisions, application to answers (before scoring) and to question sets."""
import json

import pytest

from mmad_eval.errata import apply_to_answers, apply_to_questions, load_errata, reported_path, resolve_errata
from mmad_eval.errata.model import Errata, apply_decisions, carry_decisions, save_errata
from mmad_eval.errors import DataError
from mmad_eval.questions.mmad_io import load_mmad_json
from mmad_eval.answers import AnswerRecord


def _write(tmp_path, entries, name="e.json"):
    p = tmp_path / name
    p.write_text(json.dumps({"format": "mmad-eval-errata/1", "errata": entries}))
    return p


def _entry(id_, action="exclude", status="confirmed", **target):
    fix = {"action": action}
    if action == "correct_answer":
        fix["answer_text"] = target.pop("answer_text")
    if action == "replace_references":
        fix["category"] = target.pop("category")
    return {"id": id_, "check": "localization", "status": status, "target": target or {"images": ["x"]}, "fix": fix}


@pytest.mark.parametrize("bad,words", [
    ({"format": "nope", "errata": []}, "not an errata file"),
    ({"format": "mmad-eval-errata/1", "errata": [{"id": "a", "status": "maybe"}]}, "status must be"),
    ({"format": "mmad-eval-errata/1", "errata": [{"id": "a", "status": "reported", "target": {"images": ["k"]},
                                                   "fix": {"action": "exclude"}}]}, "source"),
    ({"format": "mmad-eval-errata/1", "errata": [{"id": "a", "status": "suspect", "target": {},
                                                   "fix": {"action": "exclude"}}]}, "target needs"),
    ({"format": "mmad-eval-errata/1", "errata": [{"id": "a", "status": "suspect", "target": {"images": ["k"]},
                                                   "fix": {"action": "correct_answer"}}]}, "answer_text"),
])
def test_bad_errata_files_name_the_culprit(tmp_path, bad, words):
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(bad))
    with pytest.raises(DataError, match=words) as e:
        load_errata(p)
    assert str(p) in str(e.value)


def test_shipped_errata_cover_the_four_public_reports_with_links():
    e = resolve_errata("mmad-reported")
    assert e.path == str(reported_path())
    sources = {x["source"] for x in e.entries}
    assert sources == {f"https://github.com/jam-cc/MMAD/issues/{n}" for n in (15, 18, 20, 5)}
    assert all(x["status"] == "reported" for x in e.entries)
    pill = next(x for x in e.entries if x["source"].endswith("/15"))
    assert len(pill["target"]["images"]) == 22 and pill["target"]["images"][-1] == "DS-MVTec/pill/image/good/021.png"
    assert {x["fix"]["action"] for x in e.entries} == {"replace_references", "correct_answer", "exclude", "note"}


def _rec(image, index, qtype, options, answer, parsed):
    return AnswerRecord(image=image, index=index, type=qtype, options=options, answer=answer, reply=parsed,
                        parsed=parsed)


LOC = {"A": "At the bottom", "B": "Around the edges", "C": "Around the center"}


def test_reported_errata_change_answers_before_scoring():
    e = resolve_errata("mmad-reported")
    shuffled = {"A": "Around the center", "B": "At the bottom", "C": "Around the edges"}
    answers = [
        _rec("DS-MVTec/bottle/image/broken_large/016.png", 2, "Defect Localization", shuffled, "A", "C"),
        _rec("DS-MVTec/bottle/image/broken_large/016.png", 0, "Anomaly Detection", {"A": "Yes.", "B": "No."}, "A", "A"),
        _rec("DS-MVTec/transistor/image/misplaced/001.png", 2, "Defect Localization",
             {"A": "On the left leg.", "B": "On the middle leg."}, "B", "A"),
        _rec("DS-MVTec/transistor/image/misplaced/002.png", 2, "Defect Localization",
             {"A": "Top left.", "B": "Center."}, "B", "B"),
        _rec("DS-MVTec/pill/image/good/003.png", 0, "Anomaly Detection", {"A": "Yes.", "B": "No."}, "B", "B"),
        _rec("DS-MVTec/pill/image/good/030.png", 0, "Anomaly Detection", {"A": "Yes.", "B": "No."}, "B", "B"),
    ]
    out, changes = apply_to_answers(answers, e)
    assert [r.image for r in out] == [answers[0].image, answers[1].image, answers[3].image, answers[5].image]
    assert out[0].answer == "C" and out[0].correct and not answers[0].correct     # corrected, input untouched
    assert changes.as_dict() == {"questions_changed": 3, "excluded": 2, "corrected": 1, "per_entry": {
        "reported:mmad-15:pill-good-are-metal-nuts": {"excluded": 1, "corrected": 0},
        "reported:mmad-18:bottle-broken_large-016-localization": {"excluded": 0, "corrected": 1},
        "reported:mmad-20:transistor-misplaced-localization-legs": {"excluded": 1, "corrected": 0}}}


def test_only_reviewed_or_reported_entries_apply(tmp_path):
    errata = load_errata(_write(tmp_path, [_entry("s", status="suspect", images=["a"]),
                                           _entry("r", status="rejected", images=["a"]),
                                           _entry("c", status="confirmed", images=["b"])]))
    answers = [_rec("a", 0, "Anomaly Detection", {"A": "Yes.", "B": "No."}, "A", "A"),
               _rec("b", 0, "Anomaly Detection", {"A": "Yes.", "B": "No."}, "A", "A")]
    out, changes = apply_to_answers(answers, errata)
    assert [r.image for r in out] == ["a"] and changes.questions == 1


def test_decisions_are_imported_and_survive_the_next_audit(tmp_path):
    p = _write(tmp_path, [_entry("x1", status="suspect", images=["a"]), _entry("x2", status="suspect", images=["b"]),
                          _entry("x3", status="suspect", images=["c"])])
    errata = load_errata(p)
    d = tmp_path / "d.json"
    d.write_text(json.dumps({"decisions": {"x1": {"decision": "confirmed", "note": "clearly a nut"},
                                           "x2": "rejected"}}))
    assert apply_decisions(errata, d) == {"confirmed": 1, "rejected": 1}
    save_errata(errata, p)
    again = load_errata(p)
    assert [e["status"] for e in again.entries] == ["confirmed", "rejected", "suspect"]
    assert again.entries[0]["decision"] == {"decision": "confirmed", "note": "clearly a nut"}
    # a new audit raises x1 and x3 again (x2 no longer): x1 keeps its decision, x2 is kept as reviewed
    new = [_entry("x1", status="suspect", images=["a"]), _entry("x3", status="suspect", images=["c"])]
    merged = {e["id"]: e for e in carry_decisions(new, again)}
    assert merged["x1"]["status"] == "confirmed" and merged["x3"]["status"] == "suspect"
    assert merged["x2"]["status"] == "rejected" and merged["x2"]["raised_by_last_audit"] is False
    d.write_text(json.dumps({"decisions": {"nope": "confirmed"}}))
    with pytest.raises(DataError, match="name no erratum"):
        apply_decisions(again, d)


def test_corrected_question_set_replaces_references_and_keeps_indices(tmp_path):
    from label_fixtures import build

    qs = load_mmad_json(build(tmp_path))
    errata = Errata(entries=[
        _entry("ref", "replace_references", images=["DS/pill/test/good/000.png"], category="DS/nut"),
        _entry("ans", "correct_answer", images=["DS/bottle/test/broken/000.png"], question=1,
               answer_text="around the EDGES"),
        _entry("ex", images=["DS/nut/test/good/002.png"])])
    fixed, changes = apply_to_questions(qs, errata)
    assert "DS/nut/test/good/002.png" not in fixed.entries and len(fixed.entries) == len(qs.entries) - 1
    pill = fixed.entries["DS/pill/test/good/000.png"]
    refs = pill.similar_templates + pill.random_templates
    assert pill.similar_templates and all(r.startswith("DS/nut/train/") for r in refs)
    q = fixed.entries["DS/bottle/test/broken/000.png"].questions[1]
    assert (q.index, q.options[q.answer]) == (1, "Around the edges")
    assert qs.entries["DS/bottle/test/broken/000.png"].questions[1].answer == "C"      # input untouched
    assert changes.as_dict()["excluded"] == 1 and changes.corrected["ans"] == 1
    # one wrong reference of a bottle: the good ones stay in order, the gap is filled from the bottle pool
    bottle = qs.entries["DS/bottle/test/good/001.png"]
    errata = Errata(entries=[_entry("one", "replace_references", images=[bottle.key], category="DS/bottle")])
    errata.entries[0]["fix"]["drop"] = ["DS/nut/train/good/004.png"]
    fixed_bottle = apply_to_questions(qs, errata)[0].entries[bottle.key]
    assert fixed_bottle.similar_templates == bottle.similar_templates
    assert fixed_bottle.random_templates[1:] == bottle.random_templates[1:] == ["DS/bottle/train/good/003.png",
                                                                              "DS/bottle/train/good/004.png"]
    assert "nut" not in fixed_bottle.random_templates[0] and fixed_bottle.random_templates[0] not in bottle.random_templates


def test_errata_decisions_and_rating_answers_are_read_as_the_other_input_files(tmp_path):
    """A folder, a device or a JSON object with a duplicate key: one line naming the file (as every input)."""
    from mmad_eval.questions.human_scores import load_ratings

    errata = load_errata(reported_path())
    dup = tmp_path / "dup.json"
    dup.write_text('{"decisions": {"a": "confirmed", "a": "rejected"}}')
    for path, words in ((tmp_path, "is a folder"), ("/dev/zero", "not a regular file"), (dup, "duplicate key")):
        with pytest.raises(DataError, match=words) as e:
            apply_decisions(errata, path)
        assert str(path) in str(e.value)
        with pytest.raises(DataError, match=words):
            load_ratings(path, None)
