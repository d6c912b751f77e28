"""Property tests of the scores (issue 25): the MMAD-compatible score equals the summary.py oracle on random
answer files; the strict score stays in [0, 100] and hits its extremes; AUROC(-s) = 1 - AUROC(s)."""
import json
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from mmad_eval.answers import AnswerRecord
from mmad_eval.score.detection import auroc
from mmad_eval.score.mmad import mmad_score
from mmad_eval.score.mmad_answers import load_mmad_answers
from mmad_eval.score.strict import strict_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "score"))
from summary_oracle import summary_table  # noqa: E402  (tests/score's re-creation of MMAD's summary.py)

DATASETS = ["DS-MVTec", "MVTec-LOCO", "VisA", "GoodsAD", "MVTec-AD"]
TYPES = ["Anomaly Detection", "Defect Classification", "Defect Localization", "Defect Description",
         "Defect Analysis", "Object Classification", "Object Structure", "Object Details"]
LETTER = st.sampled_from(list("ABCD"))
REPLY = st.one_of(st.sampled_from(list("ABCDE")), st.sampled_from(["", "F", "a", "AB", "unclear"]), st.none())

entries = st.builds(
    lambda ds, cat, good, n, qt, correct, gpt: {
        "image": f"{ds}/cat{cat}/test/{'good' if good else 'crack'}/{n:03d}.png",
        "question": {"type": "text", "text": "q?", "options": {"A": "x", "B": "y", "C": "z", "D": "w"}},
        "question_type": qt, "correct_answer": correct, "gpt_answer": gpt},
    st.sampled_from(DATASETS), st.integers(0, 2), st.booleans(), st.integers(0, 9), st.sampled_from(TYPES),
    st.one_of(LETTER, st.sampled_from(["", "X"])), REPLY)


@settings(max_examples=40)
@given(st.lists(entries, max_size=40))
def test_mmad_compatible_score_equals_the_summary_py_oracle(answers):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d, "answers.json")
        path.write_text(json.dumps(answers))
        table = mmad_score(load_mmad_answers(path))
    want = summary_table(answers)
    rows = [r for r in want if r != "Average"]
    assert list(table.rows) == rows
    for ds in rows:
        for col, value in want[ds].items():
            assert table.rows[ds][col] == pytest.approx(value, abs=0.01), (ds, col)
    for col, value in (want.get("Average") or {}).items():
        assert table.overall[col] == pytest.approx(value, abs=0.01), col


def _records(draws, correct: bool | None):
    out = []
    for i, (ds, qt, good, answer, parsed, failed) in enumerate(draws):
        if correct is not None:
            parsed, failed = (answer if correct else "ABCD"[("ABCD".index(answer) + 1) % 4]), False
        out.append(AnswerRecord(image=f"{ds}/c/{'good' if good else 'bad'}/{i}.png", index=0, type=qt,
                                options={"A": "a", "B": "b", "C": "c", "D": "d"}, answer=answer, reply=parsed,
                                parsed=None if failed else parsed, reference_parsed=parsed,
                                error="timeout: x" if failed else None))
    return out


record_draws = st.lists(st.tuples(st.sampled_from(DATASETS), st.sampled_from(TYPES), st.booleans(), LETTER,
                                  st.one_of(st.none(), LETTER), st.booleans()), min_size=1, max_size=30)


@settings(max_examples=40)
@given(record_draws)
def test_strict_scores_stay_between_0_and_100_with_known_extremes(draws):
    for table, extreme in ((strict_score(_records(draws, None)), None), (strict_score(_records(draws, True)), 100.0),
                           (strict_score(_records(draws, False)), 0.0)):
        values = [v for row in [*table.rows.values(), table.overall] for v in row.values() if v is not None]
        assert values and all(0.0 <= v <= 100.0 for v in values)
        if extreme is not None:
            assert all(v == pytest.approx(extreme) for v in values)


@given(st.lists(st.tuples(st.booleans(), st.floats(-1e6, 1e6, allow_nan=False)), min_size=2, max_size=40))
def test_auroc_of_negated_scores_is_one_minus_auroc(pairs):
    labels, scores = [p[0] for p in pairs], [p[1] for p in pairs]
    a = auroc(labels, scores)
    if all(labels) or not any(labels):
        assert a is None
        return
    assert 0.0 <= a <= 1.0
    assert auroc(labels, [-s for s in scores]) == pytest.approx(1 - a, abs=1e-9)
    flipped = auroc([not y for y in labels], scores)
    assert flipped == pytest.approx(1 - a, abs=1e-9)
