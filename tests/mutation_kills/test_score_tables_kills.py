"""Score tables beside the headline: overkill/miss, category rows, MMAD's drops and notes, errata
comparison (issue 25). Expected numbers are worked out by hand in the comments."""
import pytest

from mmad_eval.answers import AnswerRecord
from mmad_eval.errata.model import Errata
from mmad_eval.score.breakdown import category_table, overkill_miss
from mmad_eval.score.mmad import empty_reason, mmad_score, mmad_scores
from mmad_eval.score.scorers import MMAD
from mmad_eval.score.summary import score_run
from mmad_eval.score.with_errata import compare_with_errata, errata_summary, format_comparison

YN = {"A": "Yes", "B": "No"}


def ad(key, answer, ref, parsed="same", error=None, rotation=0):
    return AnswerRecord(image=key, index=0, type="Anomaly Detection", options=YN, answer=answer, reply=ref,
                        parsed=ref if parsed == "same" else parsed, reference_parsed=ref, error=error,
                        rotation=rotation)


def test_overkill_and_miss_with_unanswered_apart():
    recs = [ad("D/c/good/1.png", "B", "A"), ad("D/c/good/2.png", "B", "B"), ad("D/c/good/3.png", "B", "B"),
            ad("D/c/good/4.png", "B", None, error="timeout: x"),
            ad("D/c/bad/1.png", "A", "B"), ad("D/c/bad/2.png", "A", "A"),
            AnswerRecord(image="D/c/bad/2.png", index=1, type="Defect Classification", options={"A": "x", "B": "y"},
                         answer="A", parsed="B", reference_parsed="B")]
    row = overkill_miss(recs)["D"]
    # normal: 4 counted, 1 unanswered, 1 called defective of 4 -> overkill 25; defective: 1 of 2 missed -> 50
    assert (row["normal"], row["defective"], row["unanswered"]) == (4, 2, 1)
    assert row["overkill"] == pytest.approx(25) and row["miss"] == pytest.approx(50)
    # MMAD's scorer leaves the failed one out of the denominator (no letter) and skips the next answer
    mm = overkill_miss(recs, MMAD)["D"]
    assert (mm["normal"], mm["defective"], mm["unanswered"]) == (3, 1, 0)
    assert mm["overkill"] == pytest.approx(100 / 3) and mm["miss"] == pytest.approx(0)
    assert overkill_miss([ad("D/c/good/1.png", "B", "B")])["D"]["miss"] is None


def test_category_rows_are_sorted_and_grouped():
    recs = [ad("MVTec-AD/zip/bad/1.png", "A", "A"), ad("DS-MVTec/bottle/bad/1.png", "A", "B"),
            ad("DS-MVTec/bottle/good/1.png", "B", "B")]
    t = category_table(recs)
    assert list(t.rows) == ["DS-MVTec/bottle", "DS-MVTec/zip"]
    assert t.rows["DS-MVTec/bottle"]["Anomaly Detection"] == pytest.approx(50)     # (100 + 0) / 2
    assert t.rows["DS-MVTec/zip"]["Anomaly Detection"] == pytest.approx(100)        # defective class only
    assert t.overall["Anomaly Detection"] == pytest.approx(75)


def test_mmad_drops_skips_and_notes():
    recs = [ad("D/c/bad/1.png", "A", "A"), ad("D/c/bad/2.png", "A", None), ad("D/c/bad/3.png", "A", "B"),
            ad("D/c/bad/4.png", "A", "A"), ad("D/c/bad/4.png", "A", "B", rotation=1)]
    compatible, fixed = mmad_scores(recs)
    assert compatible.extra["dropped_invalid"] == 1 and compatible.extra["skipped_after_drop"] == 1
    assert compatible.extra["rotations_ignored"] == 1 and compatible.extra["questions"] == 4
    # summary.py: 1 and 4 counted, both right -> defective 100, normal empty 0 -> AD 50; ours: 1, 3, 4 -> 2/3
    assert compatible.rows["D"]["Anomaly Detection"] == pytest.approx(50)
    assert fixed.rows["D"]["Anomaly Detection"] == pytest.approx(200 / 3)
    assert any("summary.py skips the 1 answers right after dropped ones" in n for n in compatible.notes)
    assert any("1 of 4 answers had no letter A-E" in n for n in compatible.notes)
    assert any("one class only" in n for n in fixed.notes)
    same = [ad("D/c/bad/1.png", "A", "A"), ad("D/c/good/1.png", "B", "B")]
    assert mmad_scores(same)[0].notes == []


@pytest.mark.parametrize("records, why", [
    ([], "the run has no questions"),
    ([ad("D/c/bad/1.png", "A", None, error="missing: not asked")], "no question answered yet (1 not asked"),
    ([ad("D/c/bad/1.png", "A", None, error="timeout: slow"), ad("D/c/bad/2.png", "A", None, error="rate_limit: x"),
      ad("D/c/bad/3.png", "A", None, error="missing: y")], "every request failed (2 failed: rate_limit, timeout"),
    ([ad("D/c/bad/1.png", "A", "no letter")], "no reply had a letter A-E (1 replies)"),
    ([ad("D/c/bad/1.png", "A", "A")], None),
])
def test_why_nothing_counts(records, why):
    got = empty_reason(records)
    assert (got is None) if why is None else got.startswith(why)
    if records and why and "failed" in why:
        assert got.endswith(", 1 not asked yet") and mmad_score(records).notes[0].startswith("n = 0")


def test_score_run_puts_every_table_together():
    recs = [ad("D/c/bad/1.png", "A", "A"), ad("D/c/good/1.png", "B", "A"), ad("D/c/good/2.png", "B", "B")]
    recs[0].meta = {"outside_topk": ["B"]}
    run = score_run(recs, n_boot=20, by_category=True)
    assert run.strict.overall["Average"] == pytest.approx(75) and run.strict.ci
    assert run.by_category is not None and run.outside_topk == 1 and run.detection.overall.auroc == pytest.approx(0.75)
    assert set(run.as_dict()) == {"mmad", "mmad_fixed", "strict", "overkill_miss", "by_category", "detection",
                                  "outside_topk"}
    plain = score_run(recs, n_boot=0)
    assert plain.by_category is None and not plain.strict.ci and "by_category" not in plain.as_dict()
    assert "ci" not in plain.strict.extra and "ci" not in plain.compatible.extra       # no bootstrap asked


def test_errata_comparison_shows_both_numbers_and_the_signed_difference():
    recs = [ad("D/c/bad/1.png", "A", "A"), ad("D/c/bad/2.png", "A", "B"), ad("D/c/good/1.png", "B", "B")]
    errata = Errata([{"id": "e1", "status": "confirmed", "target": {"images": ["D/c/bad/2.png"]},
                      "fix": {"action": "exclude"}},
                     {"id": "e2", "status": "suspect", "target": {"images": ["D/c/bad/1.png"]},
                      "fix": {"action": "exclude"}},
                     {"id": "n1", "status": "reported", "source": "x", "target": {"images": ["D/c/good/1.png"]},
                      "fix": {"action": "note"}, "message": "blurry"}], sha256="ab" * 32)
    cmp = compare_with_errata(recs, errata, MMAD)
    # official: defective 1/2, normal 1/1 -> AD 75; with errata: 1/1 and 1/1 -> 100
    assert cmp.official.overall["Average"] == pytest.approx(75) and cmp.with_errata.overall["Average"] == pytest.approx(100)
    text = format_comparison(cmp, "MMAD")
    assert "   75.00       100.00  +25.00" in text
    assert "errata changed 1 question(s): 1 excluded, 0 answer(s) corrected; 1 of 3 entries" in text
    assert "e1: excluded 1" in text and "1 suspect entries are not applied" in text and "note (n1): blurry" in text
    text, data = errata_summary(recs, errata)
    assert "strict Average: official 75.00, with errata 100.00" in text
    assert data["strict"]["with_errata"]["Average"] == pytest.approx(100)
    assert data["notes"] == [{"id": "n1", "message": "blurry", "source": "x"}]


def test_circular_accuracy_and_letter_position_bias():
    from mmad_eval.score.strict import circular_accuracy, letter_bias, strict_score

    def dc(i, answer, parsed, rotation=0, qtype="Defect Classification"):
        return AnswerRecord(image=f"D/c/bad/{i}.png", index=0, type=qtype, options={"A": "x", "B": "y"},
                            answer=answer, reply=parsed, parsed=parsed, reference_parsed=parsed, rotation=rotation)
    recs = [dc(1, "A", "A"), dc(1, "B", "B", 1), dc(2, "A", "A"), dc(2, "B", "A", 1),
            dc(3, "B", "B", qtype="Object Structure"), dc(3, "A", "A", 1, qtype="Object Structure")]
    circ = circular_accuracy(recs)
    # question 1 right in both rotations, 2 wrong in one, 3 (Object Analysis) right in both
    assert circ["accuracy"] == {"Defect Classification": 50.0, "All": pytest.approx(200 / 3), "Object Analysis": 100.0}
    assert circ["questions"]["All"] == 3 and circ["rotations_per_question"] == {2: 3}
    assert circular_accuracy([dc(1, "A", "A")]) is None
    t = strict_score(recs)
    assert t.extra["circular"]["accuracy"]["All"] == pytest.approx(200 / 3)
    assert t.extra["questions"] == 3                       # the table counts rotation 0 only
    bias = letter_bias([dc(1, "A", "A"), dc(2, "A", "B"), dc(3, "B", "B"), dc(4, "C", None)])
    assert bias["accuracy_by_correct_letter"] == {"A": 50.0, "B": 100.0, "C": 0.0}
    assert bias["questions_by_correct_letter"] == {"A": 2, "B": 1, "C": 1}
    assert bias["predicted_letter_share"] == {"A": 25.0, "B": 50.0, "unparsed": 25.0}


def test_a_note_whenever_any_cell_differs_even_with_equal_headlines():
    from mmad_eval.score.mmad import differing_note
    from mmad_eval.score.table import ScoreTable

    def table(d1, d2):
        rows = {"D1": {"Anomaly Detection": None, "Defect Classification": d1, "Average": d1},
                "D2": {"Anomaly Detection": None, "Defect Classification": d2, "Average": d2}}
        overall = {"Anomaly Detection": None, "Defect Classification": (d1 + d2) / 2, "Average": (d1 + d2) / 2}
        return ScoreTable("t", rows=rows, overall=overall,
                          counts={"D1": {"Defect Classification": 1, "AD normal": 0, "AD defective": 0},
                                  "D2": {"Defect Classification": 1, "AD normal": 0, "AD defective": 0}})
    for a in (table(40.0, 60.0), table(60.0, 40.0)):
        note = differing_note(a, table(50.0, 50.0))
        assert note is not None and note.startswith("MMAD-compatible score 50.00 (what summary.py prints) differs")
    assert differing_note(table(50.0, 50.0), table(50.0, 50.0)) is None
    shifted = table(50.0, 50.0)
    shifted.overall["Average"] = 50.5
    assert differing_note(shifted, table(50.0, 50.0)) is not None


def test_strict_notes_say_why_nothing_or_not_everything_counts():
    from mmad_eval.score.strict import strict_score

    failed = [ad("D/c/bad/1.png", "A", None, error="timeout: slow"), ad("D/c/bad/2.png", "A", None, error="timeout: x")]
    notes = strict_score(failed).notes
    assert notes[0].startswith("no answer parsed, every question counts wrong: every request failed (2 failed")
    partial = [ad("D/c/bad/1.png", "A", "A"), ad("D/c/bad/2.png", "A", None, error="missing: not asked"),
               ad("D/c/bad/3.png", "A", None, error="missing: not asked")]
    t = strict_score(partial)
    assert t.extra["missing"] == 2
    assert t.notes[0] == "2 questions are not answered yet (run incomplete); they count wrong here"
    complete = strict_score([ad("D/c/bad/1.png", "A", "A")])
    assert len(complete.notes) == 1 and complete.notes[0].startswith("strict: unparsed replies")
    assert "missing" not in complete.extra


def test_a_new_scorer_gets_the_base_rule_of_correctness():
    from mmad_eval.score.scorers import Scorer

    class FirstLetter(Scorer):
        name, title = "first", "First letter of the reply"

        def row(self, r):
            return r.dataset

        def letter(self, r):
            return (r.reply or "")[:1] or None

        def table(self, records):
            raise NotImplementedError

    s = FirstLetter()
    assert s.correct(ad("D/c/bad/1.png", "A", "A"))
    assert not s.correct(ad("D/c/bad/1.png", "A", "B"))
    assert not s.correct(ad("D/c/bad/1.png", "A", "A", error="timeout: x"))
    assert not s.correct(AnswerRecord(image="D/c/bad/1.png", index=0, type="Anomaly Detection", options=YN,
                                      answer="", reply=""))         # no letter never matches, not even ""
    assert s.counted([1, 2]) == [True, True]
    assert [r.rotation for r in s.records([ad("D/c/bad/1.png", "A", "A", rotation=r) for r in (0, 1)])] == [0]
