"""Scores that must be right to the digit: each test pins a behaviour a planted bug left unseen (issue 25).

Every expected number here is worked out by hand in the comment beside it, from the definition in the
module's docstring, never read back from the code.
"""
import numpy as np
import pytest

from mmad_eval.answers import AnswerRecord
from mmad_eval.score.ad_scores import detection_report, image_score
from mmad_eval.score.calibration import answer_confidence, calibration
from mmad_eval.score.cells import build_index
from mmad_eval.score.detection import auroc, bootstrap_ci, coverage_curve, detection_scores, reliability
from mmad_eval.score.scorers import MMAD, MMAD_FIXED, STRICT
from mmad_eval.score.stats import add_bootstrap_ci, image_weights, percentile_ci
from mmad_eval.score.strict import strict_score

YN = {"A": "Yes", "B": "No"}
NY = {"A": "No", "B": "Yes"}


def ad(key, answer, parsed, reply=None, options=YN, meta=None, error=None):
    return AnswerRecord(image=key, index=0, type="Anomaly Detection", options=options, answer=answer,
                        reply=reply if reply is not None else parsed, parsed=parsed, reference_parsed=parsed,
                        error=error, meta=meta or {})


def q(key, qtype, answer, parsed, index=0, error=None):
    return AnswerRecord(image=key, index=index, type=qtype, options={"A": "a", "B": "b", "C": "c", "D": "d"},
                        answer=answer, reply=parsed, parsed=parsed, reference_parsed=parsed, error=error)


# -- Anomaly Detection as a detector ---------------------------------------------------------------------
@pytest.mark.parametrize("options", [YN, NY])
def test_a_confident_no_means_a_low_probability_of_a_defect(options):
    yes = next(k for k, v in options.items() if v == "Yes")
    no = next(k for k, v in options.items() if v == "No")
    said_no = image_score(ad("D/c/good/1.png", no, no, reply=f"{no}\nConfidence: 90%", options=options))
    said_yes = image_score(ad("D/c/bad/1.png", yes, yes, reply=f"{yes}\nConfidence: 70%", options=options))
    assert said_no.source == "verbalised confidence" and said_no.score == pytest.approx(0.1)
    assert said_yes.score == pytest.approx(0.7)
    assert not said_no.defective and said_yes.defective


def test_auroc_from_stated_confidence_is_one_for_confident_right_answers_and_zero_for_wrong():
    right = [ad("D/c/good/1.png", "B", "B", "B Confidence: 95%"), ad("D/c/good/2.png", "B", "B", "B Confidence: 60%"),
             ad("D/c/bad/1.png", "A", "A", "A Confidence: 55%"), ad("D/c/bad/2.png", "A", "A", "A Confidence: 99%")]
    wrong = [ad("D/c/good/1.png", "B", "A", "A Confidence: 95%"), ad("D/c/good/2.png", "B", "A", "A Confidence: 60%"),
             ad("D/c/bad/1.png", "A", "B", "B Confidence: 55%"), ad("D/c/bad/2.png", "A", "B", "B Confidence: 99%")]
    assert detection_report(right, n_boot=0).overall.auroc == pytest.approx(1.0)
    assert detection_report(wrong, n_boot=0).overall.auroc == pytest.approx(0.0)


def test_detector_scores_are_divided_by_each_categorys_threshold():
    # category x: threshold 10, category y: threshold 0.1. Raw scores would rank every x image above
    # every y image (AUROC 0.5 here); scaled, each defect (1.5) is above each normal (0.5): AUROC 1.
    recs = [ad("D/x/good/1.png", "B", "B", meta={"score": 5.0, "threshold": 10.0}),
            ad("D/x/bad/1.png", "A", "A", meta={"score": 15.0, "threshold": 10.0}),
            ad("D/y/good/1.png", "B", "B", meta={"score": 0.05, "threshold": 0.1}),
            ad("D/y/bad/1.png", "A", "A", meta={"score": 0.15, "threshold": 0.1})]
    assert image_score(recs[1]).score == pytest.approx(1.5)
    assert image_score(recs[2]).score == pytest.approx(0.5)
    assert detection_report(recs, n_boot=0).overall.auroc == pytest.approx(1.0)
    no_threshold = ad("D/z/bad/1.png", "A", "A", meta={"score": 3.0, "threshold": 0})
    assert image_score(no_threshold).score == pytest.approx(3.0)


def test_letter_probability_and_unanswered_images():
    lp = {"letter_logprobs": {"A": float(np.log(0.2)), "B": float(np.log(0.6))}}
    s = image_score(ad("D/c/bad/1.png", "A", "B", meta=lp))
    assert s.source == "letter probability" and s.score == pytest.approx(0.25)    # 0.2 / (0.2 + 0.6)
    failed = image_score(ad("D/c/bad/2.png", "A", None, error="timeout: slow", meta=lp))
    assert failed.source == "none" and failed.score == 0.5
    hard = image_score(ad("D/c/good/3.png", "B", "B", reply="B"))
    assert hard.source == "hard answer" and hard.score == 0.0
    rep = detection_report([ad("D/c/bad/1.png", "A", "A", "A"), ad("D/c/good/1.png", "B", None, "?"),
                            ad("D/c/good/2.png", "B", "B", "B")], n_boot=0)
    assert rep.unscored == 1 and rep.source == "hard answer" and rep.sources == {"hard answer": 2, "none": 1}


def test_auroc_of_negated_scores_and_ties():
    y = [0, 0, 1, 1, 0, 1]
    s = [0.1, 0.4, 0.35, 0.8, 0.2, 0.9]
    # pairs (defect > normal): 0.35 beats 0.1, 0.2 (not 0.4); 0.8 and 0.9 beat all three: 8 of 9
    assert auroc(y, s) == pytest.approx(8 / 9)
    assert auroc(y, [-v for v in s]) == pytest.approx(1 / 9)
    assert auroc([0, 1], [0.5, 0.5]) == pytest.approx(0.5)


# -- strict table and headline ---------------------------------------------------------------------------
def test_headline_average_is_the_mean_of_dataset_rows_not_of_columns():
    # A: Defect Classification 100 (1/1), Object Classification 0 (0/1) -> row 50
    # B: Defect Classification 0 (0/1)                                 -> row 0
    # mean of rows = 25; mean of columns (DC 50, OC 0) would be 25 too, so B gets a second DC question:
    # B: DC 1/2 = 50 -> row 50; rows mean 50; columns: DC (100 + 50)/2 = 75, OC 0 -> 37.5.
    recs = [q("A/c/bad/1.png", "Defect Classification", "A", "A"), q("A/c/bad/1.png", "Object Classification", "A", "B", 1),
            q("B/c/bad/1.png", "Defect Classification", "A", "B"), q("B/c/bad/2.png", "Defect Classification", "A", "A")]
    for table in (strict_score(recs), MMAD_FIXED.table(recs)):
        assert table.rows["A"]["Average"] == pytest.approx(50)
        assert table.rows["B"]["Average"] == pytest.approx(50)
        assert table.overall["Defect Classification"] == pytest.approx(75)
        assert table.overall["Average"] == pytest.approx(50)
    assert MMAD.table(recs).rows["B"]["Object Classification"] == 0     # summary.py: empty cell scores 0
    assert MMAD.table(recs).overall["Average"] == pytest.approx((50 + 25) / 2)


def test_strict_counts_failures_and_unparsed_as_wrong_and_balances_anomaly_detection():
    recs = [ad("D/c/good/1.png", "B", "B"), ad("D/c/good/2.png", "B", "B"), ad("D/c/good/3.png", "B", "A"),
            ad("D/c/bad/1.png", "A", None, reply="hmm"), ad("D/c/bad/2.png", "A", "A", error="timeout: x")]
    t = strict_score(recs)
    # normal 2/3, defective 0/2 (unparsed and failed are wrong) -> balanced (66.67 + 0) / 2
    assert t.rows["D"]["Anomaly Detection"] == pytest.approx(100 / 3)
    assert t.extra["errors"] == 1 and t.extra["unparsed"] == 1
    assert t.extra["error_rate"] == pytest.approx(20) and t.extra["parse_failure_rate"] == pytest.approx(20)
    assert t.extra["predicted_letter_share"] == {"A": 25.0, "B": 50.0, "unparsed": 25.0}


# -- bootstrap -------------------------------------------------------------------------------------------
def test_bootstrap_resamples_keep_each_datasets_number_of_images():
    recs = [q(f"A/c/bad/{i}.png", "Defect Classification", "A", "A") for i in range(3)] + \
           [q(f"B/c/bad/{i}.png", "Defect Classification", "A", "B") for i in range(7)]
    index = build_index(recs, lambda r: r.dataset, [True] * 10, [r.correct for r in recs])
    w = image_weights(index, 200, seed=3)
    assert w.shape == (200, 10)
    assert (w[:, :3].sum(1) == 3).all() and (w[:, 3:].sum(1) == 7).all()
    # A is always right and B always wrong, so every resample's headline is exactly (100 + 0) / 2
    table = add_bootstrap_ci(STRICT.table(recs), recs, STRICT, n_boot=50)
    assert table.ci["Average"] == pytest.approx((50, 50))


def test_bootstrap_level_sets_the_percentiles():
    samples = np.arange(101, dtype=float)[:, None]      # 0..100: the p-th percentile is p
    assert percentile_ci(samples, 0.9) == [pytest.approx((5.0, 95.0))]
    assert percentile_ci(samples, 0.5) == [pytest.approx((25.0, 75.0))]
    recs = [q(f"A/c/bad/{i}.png", "Defect Classification", "A", "A" if i % 2 else "B") for i in range(40)]
    wide = add_bootstrap_ci(STRICT.table(recs), recs, STRICT, n_boot=400, level=0.95).ci["Average"]
    narrow = add_bootstrap_ci(STRICT.table(recs), recs, STRICT, n_boot=400, level=0.5).ci["Average"]
    assert wide[0] < narrow[0] <= 50 <= narrow[1] < wide[1]


def test_detection_bootstrap_level_and_class_stratification():
    y = [0] * 20 + [1] * 20
    s = list(np.linspace(0, 1, 40))
    s[5], s[30] = s[30], s[5]
    wide = detection_scores(y, s, n_boot=300, level=0.95).ci["auroc"]
    narrow = detection_scores(y, s, n_boot=300, level=0.5).ci["auroc"]
    assert wide[0] < narrow[0] < narrow[1] < wide[1]
    ref = bootstrap_ci(y, s, auroc, n_boot=300, level=0.5)
    assert ref == pytest.approx(narrow, abs=0.02)
    # with one defect among many normals, every class-stratified resample still has that defect
    assert bootstrap_ci([1] + [0] * 9, [0.9] + [0.1 * i for i in range(9)], auroc, n_boot=50) == (1.0, 1.0)


# -- calibration -----------------------------------------------------------------------------------------
def test_calibration_of_stated_confidence():
    recs = [q("A/c/bad/1.png", "Defect Classification", "A", "A"), q("A/c/bad/2.png", "Defect Classification", "A", "B"),
            q("A/c/bad/3.png", "Defect Classification", "A", None), q("A/c/bad/4.png", "Defect Classification", "A", "A")]
    recs[0].reply, recs[1].reply, recs[2].reply = "A\nConfidence: 80%", "B\nConfidence: 0.6", "no idea"
    recs[3].reply, recs[3].meta = "A", {"letter_logprobs": {"A": float(np.log(0.9)), "B": float(np.log(0.1))}}
    assert answer_confidence(recs[0]) == (pytest.approx(0.8), "verbalised confidence")
    assert answer_confidence(recs[3]) == (pytest.approx(0.9), "letter probability")
    cal = calibration(recs)
    assert (cal.n, cal.left_out) == (3, 1)
    assert cal.accuracy == pytest.approx(200 / 3)               # 2 of the 3 with a confidence are right
    assert cal.mean_confidence == pytest.approx(100 * (0.8 + 0.6 + 0.9) / 3)
    # bins: 0.6 (wrong) -> |0 - 0.6|; 0.8 (right) -> |1 - 0.8|; 0.9 (right) -> |1 - 0.9|; ECE = (0.6+0.2+0.1)/3
    assert cal.ece == pytest.approx(0.3)
    assert calibration([q("A/c/bad/1.png", "Defect Classification", "A", "A")]) is None


def test_reliability_bins_and_coverage():
    rel = reliability([0.1, 0.1, 1.0, 0.55], [False, True, True, True], n_bins=4)
    assert rel.counts == [2, 0, 1, 1]
    assert rel.accuracy[0] == pytest.approx(0.5) and rel.confidence[3] == pytest.approx(1.0)
    assert rel.ece == pytest.approx((2 * 0.4 + 0.45 + 0) / 4)
    curve = coverage_curve([0.9, 0.2, 0.8, 0.1], [True, False, True, False], steps=2)
    assert curve == [(1.0, 0.5), (0.5, 1.0)]


def test_calibration_uses_ten_bins_by_default():
    # 0.52 and 0.58 share the bin [0.5, 0.6) of ten: ECE |0.5 - 0.55| = 0.05 (eleven bins would split them)
    recs = [q(f"A/c/bad/{i}.png", "Defect Classification", "A", p) for i, p in enumerate("AB")]
    recs[0].reply, recs[1].reply = "A Confidence: 52%", "B Confidence: 58%"
    cal = calibration(recs)
    assert cal.ece == pytest.approx(0.05) and len(cal.reliability.counts) == 10
    assert cal.source == "verbalised confidence"


def test_detection_text_says_when_the_auroc_is_only_a_balanced_accuracy():
    from mmad_eval.score.ad_scores import format_detection
    hard = [ad("D/c/bad/1.png", "A", "A"), ad("D/c/good/1.png", "B", "A"), ad("D/c/good/2.png", "B", None, "?")]
    text = format_detection(detection_report(hard, n_boot=0))
    assert "a one-point ROC; AUROC = balanced accuracy" in text and "1 unanswered images scored 0.5" in text
    # 1 defect at 1.0; normals at 1.0 and 0.5: pairs won 0.5 + 1 of 2 -> AUROC 75.0
    assert "AUROC 75.0" in text and "(1 defective, 2 normal)" in text
    confident = [ad("D/c/bad/1.png", "A", "A", "A Confidence: 90%"), ad("D/c/good/1.png", "B", "B", "B Confidence: 90%")]
    text = format_detection(detection_report(confident, n_boot=0), by_category=True)
    assert "one-point ROC" not in text and "unanswered" not in text and "D/c" in text
