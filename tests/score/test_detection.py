"""Detection and calibration metrics on hand-computed cases (ties included)."""
import math

import pytest

from mmad_eval.score.detection import (aupr, auroc, bootstrap_ci, coverage_curve, detection_scores, ece, f1_max,
                                       reliability, roc_curve)

# defective = 1. Pairs (defective, normal): 0.9>0.5, 0.9>0.1, 0.5=0.5 (one half), 0.5>0.1 -> 3.5 / 4
Y = [1, 1, 0, 0]
S = [0.9, 0.5, 0.5, 0.1]


def test_auroc_counts_a_tie_as_one_half():
    assert auroc(Y, S) == pytest.approx(0.875)
    assert auroc([1, 0], [0.3, 0.3]) == pytest.approx(0.5)
    assert auroc([1, 1, 0], [0.2, 0.1, 0.9]) == pytest.approx(0.0)
    assert auroc([1, 1], [0.2, 0.1]) is None          # one class only


def test_roc_curve_takes_tied_scores_as_one_step():
    fpr, tpr, thr = roc_curve(Y, S)
    assert fpr.tolist() == [0.0, 0.0, 0.5, 1.0]
    assert tpr.tolist() == [0.0, 0.5, 1.0, 1.0]
    assert thr[1:].tolist() == [0.9, 0.5, 0.1]
    # trapezoids under the curve give the Mann-Whitney value
    area = sum((fpr[i + 1] - fpr[i]) * (tpr[i + 1] + tpr[i]) / 2 for i in range(len(fpr) - 1))
    assert area == pytest.approx(auroc(Y, S))


def test_average_precision_groups_ties():
    # thresholds 0.9: P=1 R=.5; 0.5: P=2/3 R=1; 0.1: no recall gain -> .5*1 + .5*2/3
    assert aupr(Y, S) == pytest.approx(0.5 + 1 / 3)
    assert aupr([1, 0, 0, 0], [0.5, 0.5, 0.5, 0.5]) == pytest.approx(0.25)   # all tied: the prevalence
    assert aupr([0, 0], [0.1, 0.2]) is None


def test_f1_max_and_its_threshold():
    # 0.9: 2/3; 0.5: tp2 fp1 fn0 -> 4/5; 0.1: 4/6
    best, thr = f1_max(Y, S)
    assert best == pytest.approx(0.8) and thr == 0.5


def test_bootstrap_interval_contains_the_estimate_and_is_seeded():
    y = [1] * 30 + [0] * 30
    s = [0.6 + 0.01 * i for i in range(30)] + [0.3 + 0.015 * i for i in range(30)]
    lo, hi = bootstrap_ci(y, s, auroc, n_boot=200, seed=1)
    assert lo <= auroc(y, s) <= hi and hi - lo > 0
    assert bootstrap_ci(y, s, auroc, n_boot=200, seed=1) == (lo, hi)
    d = detection_scores(y, s, n_boot=200, seed=1)
    assert (d.n_defective, d.n_normal) == (30, 30) and set(d.ci) == {"auroc", "aupr", "f1_max"}
    # the one-sort resampling gives the same intervals as resampling each metric on its own (ties included)
    assert d.ci["auroc"] == pytest.approx((lo, hi))
    assert d.ci["aupr"] == pytest.approx(bootstrap_ci(y, s, aupr, n_boot=200, seed=1))
    tied = [round(v, 1) for v in s]
    d2 = detection_scores(y, tied, n_boot=300, seed=2)
    for name, fn in (("auroc", auroc), ("aupr", aupr), ("f1_max", lambda a, b: f1_max(a, b)[0])):
        assert d2.ci[name] == pytest.approx(bootstrap_ci(y, tied, fn, n_boot=300, seed=2))


def test_ece_by_hand():
    conf = [0.95, 0.85, 0.65, 0.62]
    ok = [True, False, True, False]
    # bins: 0.9-1: |1-.95|*.25; 0.8-0.9: |0-.85|*.25; 0.6-0.7: |.5-.635|*.5
    assert ece(conf, ok) == pytest.approx(0.05 * 0.25 + 0.85 * 0.25 + 0.135 * 0.5)
    r = reliability([1.0, 0.0, 0.5], [True, False, True], n_bins=2)
    assert r.counts == [1, 2]                # 0.5 is in the upper bin, 1.0 in the last
    assert r.accuracy == [0.0, 1.0] and r.ece == pytest.approx((0.0 + 2 * 0.25) / 3)
    assert ece([], []) is None
    with pytest.raises(ValueError):
        ece([1.2], [True])


def test_coverage_curve_withholds_the_least_confident():
    curve = coverage_curve([0.9, 0.8, 0.7, 0.6], [True, True, False, True], steps=4)
    assert curve == [(1.0, 0.75), (0.75, pytest.approx(2 / 3)), (0.5, 1.0), (0.25, 1.0)]


def test_non_finite_scores_are_refused():
    with pytest.raises(ValueError):
        auroc([1, 0], [math.nan, 0.1])
