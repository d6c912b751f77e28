"""Question protocols: every request carries the right questions and keeps the right answers (issue 25)."""
import pytest

from mmad_eval.errors import ConfigError
from mmad_eval.questions.model import ImageEntry, Question
from mmad_eval.run.protocols import answer_segment, plan_entry, prompt_questions, show, split_numbered_reply
from mmad_eval.run.settings import ProtocolSettings

TYPES = ["Anomaly Detection", "Defect Classification", "Defect Localization", "Object Classification"]


def _entry(n=4, key="D/c/bad/1.png"):
    qs = [Question(key, i, TYPES[i % 4], f"question {i}", {"A": f"a{i}", "B": f"b{i}", "C": f"c{i}"}, "ABC"[i % 3])
          for i in range(n)]
    return ImageEntry(key, qs)


def _shape(units):
    return [([s.question.index for s in u.prompt], [(p, s.question.index, s.rotation) for p, s in u.answers])
            for u in units]


def test_cumulative_keeps_the_images_earlier_questions_when_only_later_ones_are_selected():
    e = _entry()
    units = plan_entry(e, [e.questions[2], e.questions[3]], ProtocolSettings(question_mode="cumulative"))
    assert _shape(units) == [([0, 1, 2], [(2, 2, 0)]), ([0, 1, 2, 3], [(3, 3, 0)])]
    units = plan_entry(e, [e.questions[0]], ProtocolSettings(question_mode="cumulative", circular=True))
    assert _shape(units) == [([0], [(0, 0, r)]) for r in range(3)] and units[1].prompt[0].options["A"] == "b0"


def test_independent_per_image_and_ad_then_rest():
    e = _entry()
    sel = [e.questions[1], e.questions[3]]
    assert _shape(plan_entry(e, sel, ProtocolSettings())) == [([1], [(0, 1, 0)]), ([3], [(0, 3, 0)])]
    assert _shape(plan_entry(e, sel, ProtocolSettings(question_mode="per-image"))) == [([1, 3], [(0, 1, 0), (1, 3, 0)])]
    assert plan_entry(e, [], ProtocolSettings(question_mode="per-image")) == []
    rest = plan_entry(e, sel, ProtocolSettings(question_mode="ad-then-rest"))
    assert _shape(rest) == [([1, 2, 3], [(0, 1, 0), (2, 3, 0)])]
    both = plan_entry(e, [e.questions[0], e.questions[2]], ProtocolSettings(question_mode="ad-then-rest"))
    assert _shape(both) == [([0], [(0, 0, 0)]), ([1, 2, 3], [(1, 2, 0)])]
    circ = plan_entry(e, sel, ProtocolSettings(question_mode="per-image", circular=True))
    assert [r for u in circ for _, s in u.answers for r in [s.rotation]] == [0, 0, 1, 1, 2, 2]


def test_per_image_rotations_stop_for_questions_with_fewer_options():
    e = _entry(2)
    e.questions[1] = Question(e.key, 1, TYPES[1], "q", {"A": "x", "B": "y"}, "B")
    units = plan_entry(e, e.questions, ProtocolSettings(question_mode="per-image", circular=True))
    assert [[(p, s.question.index) for p, s in u.answers] for u in units] == [[(0, 0), (1, 1)], [(0, 0), (1, 1)],
                                                                             [(0, 0)]]


def test_rotation_and_shuffle_move_the_correct_letter_with_its_text():
    q = Question("D/c/bad/1.png", 0, TYPES[1], "q", {"A": "crack", "B": "hole", "C": "stain", "D": "scratch"}, "B")
    for r in range(6):
        s = show(q, ProtocolSettings(), r)
        assert s.options[s.answer] == "hole" and s.rotation == r % 4
        assert list(s.options.values()) == (["crack", "hole", "stain", "scratch"] * 2)[r % 4: r % 4 + 4]
    shuffled = [show(q, ProtocolSettings(option_order="shuffle", option_seed=seed)) for seed in range(8)]
    assert all(s.options[s.answer] == "hole" for s in shuffled)
    assert len({tuple(s.options.values()) for s in shuffled}) > 1
    assert show(q, ProtocolSettings(option_order="shuffle", option_seed=3)) == \
        show(q, ProtocolSettings(option_order="shuffle", option_seed=3))


def test_prompt_numbers_and_positions():
    e = _entry()
    unit = plan_entry(e, [e.questions[2]], ProtocolSettings(question_mode="cumulative"))[0]
    assert [(d["number"], d["position"]) for d in prompt_questions(unit)] == [(1, 1), (2, 2), (3, 3)]


@pytest.mark.parametrize("mode, position, n, expected", [
    ("independent", 1, 3, "1: A\n2: B"), ("cumulative", 1, 3, "B"), ("cumulative", 2, 3, "1: A\n2: B"),
    ("per-image", 1, 3, "B"), ("per-image", 2, 3, None), ("ad-then-rest", 0, 2, "A"), ("per-image", 0, 1, "1: A\n2: B"),
])
def test_answer_segments(mode, position, n, expected):
    assert answer_segment("1: A\n2: B", mode, position, n) == expected


def test_numbered_replies():
    assert split_numbered_reply("1. Answer: B.\nbecause\n**2)** C\nQuestion 3: D\n2 - A") == \
        {1: "Answer: B.\nbecause", 2: "A", 3: "D"}
    assert split_numbered_reply(None) == {} and split_numbered_reply("no numbers") == {}


def test_an_unknown_question_mode_is_refused():
    with pytest.raises(ConfigError):
        plan_entry(_entry(), [], ProtocolSettings(question_mode="sideways"))
