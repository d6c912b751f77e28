"""Human raters' scores: accuracy, Wilson intervals and agreement, checked against published formulas
(issue 25)."""
import json

import pytest

from mmad_eval.errors import DataError
from mmad_eval.questions.human_scores import cohen_kappa, fleiss_kappa, format_human, score_raters, wilson
from mmad_eval.questions.model import ImageEntry, Question, QuestionSet
from collections import Counter

FORMAT = "mmad-eval-ratings/1"


@pytest.mark.parametrize("k, n, lo, hi", [(5, 10, 0.236590, 0.763410), (0, 10, 0.0, 0.277540),
                                          (9, 10, 0.595844, 0.982124), (10, 10, 0.722460, 1.0), (0, 0, 0.0, 0.0)])
def test_wilson_interval(k, n, lo, hi):
    # Wilson (1927), z = 1.96: (p + z^2/2n -+ z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n)
    assert wilson(k, n) == (pytest.approx(lo, abs=1e-6), pytest.approx(hi, abs=1e-6))


def test_kappas_on_worked_examples():
    # Cohen: agreement 3/4; chance (2*1 + 2*3)/16 = 0.5 -> (0.75 - 0.5) / 0.5 = 0.5
    assert cohen_kappa(list("AABB"), list("ABBB")) == 0.5
    assert cohen_kappa([], []) is None and cohen_kappa(list("AA"), list("AA")) is None
    # Fleiss, 2 raters, 3 items {A,A} {B,B} {A,B}: P_bar = 2/3, P_e = 0.5 -> 1/3
    table = [Counter("AA"), Counter("BB"), Counter("AB")]
    assert fleiss_kappa(table, ["A", "B"]) == pytest.approx(0.3333, abs=1e-4)
    # 3 raters, 2 items {A,A,B} {B,B,B}: P_i = 1/3, 1; P_bar 2/3; p_A = 1/3, p_B = 2/3, P_e = 5/9 -> 0.25
    assert fleiss_kappa([Counter("AAB"), Counter("BBB")], ["A", "B"]) == pytest.approx(0.25, abs=1e-4)
    assert fleiss_kappa([], ["A"]) is None and fleiss_kappa([Counter("A")], ["A"]) is None


def _qs():
    def q(i, qtype, answer):
        return Question(f"D/c/bad/{i}.png", 0, qtype, "?", {"A": "x", "B": "y", "C": "z"}, answer)
    qs = [q(1, "Anomaly Detection", "A"), q(2, "Anomaly Detection", "B"), q(3, "Defect Classification", "C"),
          q(4, "Object Structure", "A")]
    return QuestionSet({x.image: ImageEntry(x.image, [x]) for x in qs}, sha256="abc")


def _write(tmp_path, name, choices, sha="abc", flags=()):
    answers = [{"qid": f"D/c/bad/{i}.png#0", "choice": c, **({"unanswerable": True} if i in flags else {})}
               for i, c in choices.items()]
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps({"format": FORMAT, "rater": name, "questions_sha256": sha, "answers": answers,
                                "sheet": "abc-n4-seed0"}))      # the sheet of all 4 questions
    return path


def test_raters_pooled_scores_and_agreement(tmp_path):
    ann = _write(tmp_path, "ann", {1: "A", 2: "B", 3: "A", 4: "A"}, flags=(3,))
    bob = _write(tmp_path, "bob", {1: "A", 2: "A", 3: None, 4: "A"}, flags=(3,))
    rep = score_raters(_qs(), [ann, bob])
    a, b = rep["raters"]
    # ann: AD 2/2 = 100, DC 0/1 = 0, Object Analysis 1/1 = 100 -> Average of columns 66.67
    assert a["subtasks"]["Anomaly Detection"]["accuracy"] == 100 and a["Average"] == pytest.approx(66.67)
    assert a["subtasks"]["Object Analysis"] == {"accuracy": 100, "ci95": [20.65, 100.0], "n": 1, "correct": 1}
    # bob: AD 1/2 = 50, DC 0/1 (no choice is wrong), OA 1/1 -> 50; one unanswered
    assert b["Average"] == pytest.approx(50) and b["unanswered"] == 1 and a["unanswered"] == 0
    assert rep["human"]["subtasks"]["Anomaly Detection"]["accuracy"] == 75 and rep["human"]["raters"] == 2
    ag = rep["agreement"]
    assert ag["questions"] == 4 and ag["all_agree"] == 2
    # pairs (A,A) (B,A) (A,-) (A,A): agreement 2/4; chance A 3*3/16 = 0.5625 -> (0.5 - 0.5625) / 0.4375
    assert ag["cohen_kappa"] == {"ann / bob": -0.1429}
    assert rep["unanswerable"][0]["qid"] == "D/c/bad/3.png#0" and rep["unanswerable"][0]["raters"] == 2
    text = format_human(rep)
    assert "ann" in text and "human (2)" in text and "ann / bob -0.1429" in text
    assert score_raters(_qs(), [ann])["agreement"]["fleiss_kappa"] is None


@pytest.mark.parametrize("change, why", [
    ({"format": "other"}, "not a rating-sheet answer file"), ({"questions_sha256": "zzz"}, "another question file"),
    ({"answers": [{"qid": "D/c/bad/9.png#0", "choice": "A"}]}, "not in the question file|not those of sheet"),
    ({"answers": [{"qid": "D/c/bad/1.png#0", "choice": "Q"}]}, "is not an option"),
])
def test_a_bad_answer_file_is_one_line_naming_it(tmp_path, change, why):
    path = _write(tmp_path, "ann", {1: "A"})
    path.write_text(json.dumps({**json.loads(path.read_text()), **change}))
    with pytest.raises(DataError, match=why):
        score_raters(_qs(), [path])
