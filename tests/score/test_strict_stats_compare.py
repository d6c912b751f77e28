"""Strict score extras, bootstrap CIs, paired comparison, breakdowns, MMAD answer files."""
import json
import random

import numpy as np
import pytest

from score_helpers import rec
from mmad_eval.errors import DataError
from mmad_eval.questions.model import TYPES
from mmad_eval.score.breakdown import category_table, overkill_miss
from mmad_eval.score.compare import compare_runs, mcnemar
from mmad_eval.score.mmad import mmad_score
from mmad_eval.score.mmad_answers import load_mmad_answers, write_accuracy_csv, write_mmad_answers
from mmad_eval.score.scorers import MMAD, STRICT
from mmad_eval.score.stats import add_bootstrap_ci
from mmad_eval.score.strict import strict_score


def synthetic(n_images, p_right, seed=0, datasets=("DS-MVTec", "VisA")):
    rng = random.Random(seed)
    out = []
    for i in range(n_images):
        ds = datasets[i % len(datasets)]
        good = i % 3 == 0
        key = f"{ds}/c{i % 4}/{'good' if good else 'crack'}/{i:05d}.png"
        types = ["Anomaly Detection"] + (["Object Classification", "Object Details"] if good else list(TYPES[1:5]))
        for j, t in enumerate(types):
            ans = rng.choice("AB") if j == 0 else rng.choice("ABCD")
            letters = "AB" if j == 0 else "ABCD"
            got = ans if rng.random() < p_right else rng.choice([x for x in letters if x != ans])
            out.append(rec(key, t, ans, got, index=j))
    return out


def test_strict_errors_count_wrong_and_rates_reported():
    recs = [rec("VisA/c/crack/1.png", "Defect Classification", "A", "A"),
            rec("VisA/c/crack/2.png", "Defect Classification", "A", None, error="timeout: slow"),
            rec("VisA/c/crack/3.png", "Defect Classification", "A", "A", parsed=None),
            rec("VisA/c/crack/4.png", "Defect Classification", "B", "B")]
    t = strict_score(recs)
    assert t.rows["VisA"]["Defect Classification"] == pytest.approx(50.0)
    assert t.extra["error_rate"] == pytest.approx(25.0)
    assert t.extra["parse_failure_rate"] == pytest.approx(25.0)
    m = mmad_score(recs)      # the compatible score drops the errored one, keeps the strict-unparsed one
    assert m.rows["VisA"]["Defect Classification"] == pytest.approx(100.0)


def test_position_bias_exposed():
    # the model always answers "A": right only when A is correct
    recs = [rec(f"VisA/c/crack/{i}.png", "Defect Classification", "ABCD"[i % 4], "A") for i in range(8)]
    x = strict_score(recs).extra
    assert x["accuracy_by_correct_letter"] == {"A": 100.0, "B": 0.0, "C": 0.0, "D": 0.0}
    assert x["predicted_letter_share"] == {"A": 100.0}


def test_circular_accuracy_needs_every_rotation_right():
    recs = []
    for q, rights in enumerate([(1, 1, 1, 1), (1, 0, 1, 1), (1, 1, 1, 1)]):
        for rot, ok in enumerate(rights):
            recs.append(rec(f"VisA/c/crack/{q}.png", "Defect Classification", "A", "A" if ok else "B", rotation=rot))
    t = strict_score(recs)
    assert t.rows["VisA"]["Defect Classification"] == 100.0          # rotation 0 only in the table
    assert t.extra["circular"]["accuracy"]["All"] == pytest.approx(200 / 3)
    assert t.extra["circular"]["rotations_per_question"] == {4: 3}


def test_bootstrap_ci_contains_estimate_and_narrows_with_n():
    widths = []
    for n in (60, 600):
        recs = synthetic(n, 0.7, seed=n)
        for scorer, table in ((STRICT, strict_score(recs)), (MMAD, mmad_score(recs))):
            add_bootstrap_ci(table, recs, scorer, n_boot=400, seed=1)
            for col, (lo, hi) in table.ci.items():
                assert lo <= table.overall[col] <= hi, (n, scorer, col)
        lo, hi = table.ci["Average"]
        widths.append(hi - lo)
    assert widths[1] < widths[0] * 0.6
    a = add_bootstrap_ci(strict_score(recs), recs, STRICT, n_boot=200, seed=3).ci
    b = add_bootstrap_ci(strict_score(recs), recs, STRICT, n_boot=200, seed=3).ci
    assert a == b     # seeded


def test_mcnemar_on_crafted_table():
    # 10 questions only A right, 2 only B right, 20 both, 8 neither
    a = np.array([1] * 10 + [0] * 2 + [1] * 20 + [0] * 8, bool)
    b = np.array([0] * 10 + [1] * 2 + [1] * 20 + [0] * 8, bool)
    m = mcnemar(a, b)
    assert (m.only_a, m.only_b, m.both, m.neither) == (10, 2, 20, 8)
    # exact: two-sided binomial, 2 * P(X <= 2 | n=12, p=1/2) = 2 * 79/4096
    assert m.p_exact == pytest.approx(2 * 79 / 4096)
    # chi2 with continuity correction: (|10-2|-1)^2/12 = 49/12 -> p = 0.04331
    assert m.p_chi2 == pytest.approx(0.043308, abs=1e-5)
    assert mcnemar(a, a).p_exact == 1.0


def test_compare_runs_paired():
    a = synthetic(300, 0.55, seed=5)
    b = [rec(r.image, r.type, r.answer, r.answer if random.Random(i).random() < 0.8 else r.reference_parsed,
             index=r.index) for i, r in enumerate(a)]
    b = b[:-5]                                         # B missed a few questions
    cmp = compare_runs(a, b, n_boot=300, seed=0)
    assert cmp.shared == len(a) - 5 and cmp.only_in_a == 5
    assert cmp.diff["Average"] > 0
    lo, hi = cmp.ci["Average"]
    assert lo <= cmp.diff["Average"] <= hi and lo > 0
    assert cmp.mcnemar["All"].only_a == 0 and cmp.mcnemar["All"].p_exact < 1e-6
    same = compare_runs(a, a, n_boot=100)
    assert same.diff["Average"] == 0 and same.ci["Average"] == (0.0, 0.0)


def test_category_table_and_overkill_miss():
    recs = [rec("VisA/pcb1/good/0.png", "Anomaly Detection", "B", "A"),   # overkill
            rec("VisA/pcb1/good/1.png", "Anomaly Detection", "B", "B"),
            rec("VisA/pcb1/bad/0.png", "Anomaly Detection", "A", "B"),    # miss
            rec("VisA/pcb1/bad/1.png", "Anomaly Detection", "A", None),   # unanswered (strict)
            rec("VisA/candle/bad/0.png", "Anomaly Detection", "A", "A")]
    t = category_table(recs)
    assert list(t.rows) == ["VisA/candle", "VisA/pcb1"]
    assert t.rows["VisA/pcb1"]["Anomaly Detection"] == pytest.approx(25.0)
    assert t.rows["VisA/candle"]["Anomaly Detection"] == pytest.approx(100.0)   # one class present
    om = overkill_miss(recs)["VisA"]
    assert om["overkill"] == pytest.approx(50.0)
    assert om["miss"] == pytest.approx(100 / 3)
    assert om["unanswered"] == 1
    ref = overkill_miss(recs, MMAD)["VisA"]
    assert ref["miss"] == pytest.approx(100.0)   # the unparsed one is dropped and, as summary.py does, the next
    assert ref["defective"] == 1                  # one (candle, right) is skipped: only the miss counts


def test_mmad_answer_export_import_round_trip(tmp_path):
    recs = synthetic(40, 0.6, seed=2)
    recs[3].reference_parsed, recs[3].reply = None, "no letter here"
    recs[4].reference_parsed, recs[4].error, recs[4].reply = None, "timeout: x", None
    path = tmp_path / "answers.json"
    assert write_mmad_answers(recs, path) == len(recs)
    entries = json.loads(path.read_text())
    assert set(entries[0]) == {"image", "question", "question_type", "correct_answer", "gpt_answer"}
    assert entries[4]["gpt_answer"] == "" and entries[3]["gpt_answer"] == "no letter here"
    back = load_mmad_answers(path)
    assert [(r.image, r.index, r.type, r.answer, r.options) for r in back] == \
           [(r.image, r.index, r.type, r.answer, r.options) for r in recs]
    assert [r.reference_parsed for r in back] == [r.reference_parsed for r in recs]
    assert mmad_score(back).overall == mmad_score(recs).overall
    assert back[0].parsed == recs[0].reference_parsed and back[0].rule == "lone_letter"


def test_import_without_options_and_errors(tmp_path):
    p = tmp_path / "a.json"
    p.write_text(json.dumps([{"image": "VisA/c/good/0.png", "question": "Is there a defect?",
                              "question_type": "Anomaly Detection", "correct_answer": "B", "gpt_answer": "B"},
                             {"image": "VisA/c/good/0.png", "question": "What?",
                              "question_type": "Object Details", "correct_answer": "C",
                              "gpt_answer": "I think C fits"}]))
    a, b = load_mmad_answers(p)
    assert (a.index, b.index) == (0, 1)
    assert a.parsed == "B" and b.parsed is None          # no options: only bare/explicit letters
    assert b.reference_parsed is None                    # the reference scorer compares gpt_answer as is
    p.write_text("[{")
    with pytest.raises(DataError, match="malformed JSON"):
        load_mmad_answers(p)
    p.write_text(json.dumps([{"image": "x", "question_type": "Bogus", "correct_answer": "A"}]))
    with pytest.raises(DataError, match="Bogus"):
        load_mmad_answers(p)


def test_accuracy_csv_layout(tmp_path):
    recs = synthetic(30, 0.6, seed=4)
    t = mmad_score(recs)
    path = tmp_path / "acc.csv"
    write_accuracy_csv(t, path, overkill_miss(recs, MMAD))
    lines = path.read_text().splitlines()
    assert lines[0].split(",")[0] == "" and lines[0].split(",")[-3:] == ["Average", "Overkill", "Miss"]
    assert [l.split(",")[0] for l in lines[1:]] == ["DS-MVTec", "VisA", "Average"]
    assert float(lines[-1].split(",")[8]) == pytest.approx(t.overall["Average"])


def test_compare_leaves_out_questions_not_answered_yet():
    """An interrupted run's placeholders (error "missing: ...") are not answers: they must not be paired."""
    from mmad_eval.run.load import MISSING

    a = synthetic(60, 0.7, seed=3)
    b = [rec(r.image, r.type, r.answer, r.reference_parsed, index=r.index) for r in a]
    for r in b[-20:]:                                   # B stopped early: its last 20 questions are placeholders
        r.reply = r.parsed = r.reference_parsed = None
        r.error = MISSING
    cmp = compare_runs(a, b, n_boot=50, seed=0)
    assert cmp.shared == len(a) - 20 and cmp.only_in_a == 20
    assert cmp.diff["Average"] == 0                    # same answers on every question both answered
    assert cmp.mcnemar["All"].only_a == 0 and cmp.mcnemar["All"].only_b == 0
