"""Detection metrics on worked examples (issue 25): ROC points, average precision, F1-max and its threshold,
and the fast bootstrap equal to the reference one."""
import numpy as np
import pytest

from mmad_eval.score.detection import (aupr, auroc, bootstrap_ci, detection_scores, f1_max, roc_curve)

Y = [1, 0, 1, 1, 0, 0]
S = [0.9, 0.8, 0.7, 0.4, 0.3, 0.1]


def test_roc_points():
    fpr, tpr, thr = roc_curve(Y, S)
    # descending: 0.9 (+), 0.8 (-), 0.7 (+), 0.4 (+), 0.3 (-), 0.1 (-)
    assert fpr.tolist() == pytest.approx([0, 0, 1 / 3, 1 / 3, 1 / 3, 2 / 3, 1])
    assert tpr.tolist() == pytest.approx([0, 1 / 3, 1 / 3, 2 / 3, 1, 1, 1])
    assert thr[0] == np.inf and thr[1:].tolist() == S
    fpr, tpr, thr = roc_curve([1, 0, 1], [0.5, 0.5, 0.2])     # a tie is one threshold
    assert fpr.tolist() == [0, 1, 1] and tpr.tolist() == [0, 0.5, 1] and thr[1:].tolist() == [0.5, 0.2]
    with pytest.raises(ValueError):
        roc_curve([1, 1], [0.1, 0.2])


def test_auroc_average_precision_and_f1_max():
    # AUROC: pairs (pos > neg): 0.9 beats 3, 0.7 beats 2, 0.4 beats 2 -> 7 / 9
    assert auroc(Y, S) == pytest.approx(7 / 9)
    # AP = sum over positives of precision at its rank / 3 = (1/1 + 2/3 + 3/4) / 3
    assert aupr(Y, S) == pytest.approx((1 + 2 / 3 + 3 / 4) / 3)
    # F1 at each cut: 0.9: 2*1/(2+0+2)=0.5; 0.8: 2/5; 0.7: 4/6; 0.4: 6/7 (best); 0.3: 6/8; 0.1: 6/9
    f1, thr = f1_max(Y, S)
    assert f1 == pytest.approx(6 / 7) and thr == 0.4
    assert aupr([0, 0], [0.1, 0.2]) is None and f1_max([0, 0], [0.1, 0.2]) is None and auroc([1], [0.3]) is None
    assert aupr([1, 1], [0.1, 0.2]) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        auroc([1, 0], [0.1, float("nan")])
    with pytest.raises(ValueError):
        auroc([1, 0, 1], [0.1, 0.2])


def test_the_fast_bootstrap_matches_the_reference_one():
    rng = np.random.default_rng(5)
    y = rng.random(60) < 0.4
    s = np.round(rng.random(60) + 0.5 * y, 1)            # ties on purpose
    fast = detection_scores(y, s, n_boot=200, seed=3)
    assert fast.n_defective == int(y.sum()) and fast.n_normal == int((~y).sum())
    assert fast.auroc == pytest.approx(auroc(y, s)) and fast.aupr == pytest.approx(aupr(y, s))
    for name, metric in (("auroc", auroc), ("aupr", aupr), ("f1_max", lambda a, b: f1_max(a, b)[0])):
        assert fast.ci[name] == pytest.approx(bootstrap_ci(y, s, metric, n_boot=200, seed=3), abs=1e-9), name
    assert detection_scores([1, 1], [0.2, 0.3], n_boot=50).ci == {}
    assert bootstrap_ci([1, 0], [0.2, 0.1], auroc, n_boot=0) is None
