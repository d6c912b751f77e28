"""Comparing two runs: the sign of the difference, McNemar's counts and p-values, which questions pair
(issue 25). Expected values are worked out by hand (McNemar: exact binomial on the discordant pairs)."""
import pytest

from mmad_eval.answers import AnswerRecord
from mmad_eval.score.compare import compare_runs, differing_questions, mcnemar
from mmad_eval.score.scorers import MMAD


def rec(i, parsed, answer="A", question="q", error=None, qtype="Defect Classification", rotation=0):
    return AnswerRecord(image=f"D/c/bad/{i}.png", index=0, type=qtype, options={"A": "x", "B": "y"}, answer=answer,
                        reply=parsed, parsed=parsed, reference_parsed=parsed, question=question, error=error,
                        rotation=rotation)


def test_mcnemar_counts_and_p_values():
    a = [True] * 6 + [False] * 1 + [True] * 2 + [False] * 1
    b = [False] * 6 + [True] * 1 + [True] * 2 + [False] * 1
    m = mcnemar(a, b)
    assert (m.only_a, m.only_b, m.both, m.neither) == (6, 1, 2, 1)
    # exact: 2 * P(X <= 1), X ~ Bin(7, 0.5) = 2 * 8/128 = 0.125; chi2 with correction: (5 - 1)^2 / 7 = 2.2857
    assert m.p_exact == pytest.approx(0.125)
    assert m.p_chi2 == pytest.approx(0.13057, abs=1e-4)
    same = mcnemar([True, False], [True, False])
    assert (same.p_exact, same.p_chi2) == (1.0, 1.0)


def test_the_difference_is_b_minus_a_on_shared_identical_questions():
    a = [rec(i, "A") for i in range(4)] + [rec(9, "A"), rec(7, "A", question="old text"),
                                           rec(8, None, error="missing: not asked")]
    b = [rec(0, "A"), rec(1, "B"), rec(2, "B"), rec(3, "B"), rec(5, "A"), rec(7, "A", question="new text"),
         rec(3, "A", rotation=1)]
    cmp = compare_runs(a, b, n_boot=50)
    assert (cmp.shared, cmp.only_in_a, cmp.only_in_b, cmp.differing) == (4, 1, 1, 1)
    assert cmp.a["Defect Classification"] == pytest.approx(100) and cmp.b["Defect Classification"] == pytest.approx(25)
    assert cmp.diff["Average"] == pytest.approx(-75)
    lo, hi = cmp.ci["Average"]
    assert -100 <= lo <= hi <= 0
    assert cmp.mcnemar["All"].only_a == 3 and cmp.mcnemar["All"].only_b == 0
    assert "Anomaly Detection" not in cmp.mcnemar and cmp.diff["Anomaly Detection"] is None
    assert any("1 question ids in both runs differ" in n for n in cmp.notes)
    assert any("compared on 4 shared questions (1 only in A, 1 only in B)" in n for n in cmp.notes)
    assert differing_questions(a, b) == ["D/c/bad/7.png#0"]


def test_no_shared_questions_and_runs_where_nothing_counts():
    cmp = compare_runs([rec(1, "A")], [rec(2, "A")], n_boot=10)
    assert cmp.shared == 0 and cmp.notes[-1] == "the runs share no questions" and cmp.diff == {}
    # MMAD's scorer: run A's "?" is dropped and the answer after it skipped, as summary.py does
    nothing = compare_runs([rec(1, "?"), rec(2, "A"), rec(3, "A")], [rec(i, "A") for i in (1, 2, 3)], scorer=MMAD,
                           n_boot=10)
    assert nothing.shared == 3
    assert any("McNemar uses the 1 questions valid in both runs" in n for n in nothing.notes)
    none_valid = compare_runs([rec(1, "?")], [rec(1, "A")], scorer=MMAD, n_boot=10)
    assert any(n.startswith("run A has n = 0 under the mmad score") for n in none_valid.notes)
