"""Parsers: which letter a reply gives, pinned on second inputs a planted bug would get wrong (issue 25)."""
import math

import pytest
from hypothesis import given, strategies as st

from mmad_eval.parse.cascade import parse_reply
from mmad_eval.parse.confidence import verbal_confidence, without_confidence
from mmad_eval.parse.likelihood import choose_letter, letter_distribution
from mmad_eval.parse.reasoning import answer_text, is_truncated, parse_reasoned, reasoning_of
from mmad_eval.parse.reference import reference_letters, reference_parse

OPTS = {"A": "crack", "B": "scratch", "C": "hole", "D": "stain"}


@pytest.mark.parametrize("reply, letter", [
    ("Answer: A\nWait, looking again at the edge.\nAnswer: B", "B"),
    ("Answer: C. On reflection, the answer is D", "D"),
    ("The answer is B.", "B"),
])
def test_a_reply_that_corrects_itself_counts_its_last_explicit_answer(reply, letter):
    assert parse_reply(reply, OPTS) == (letter, "explicit")


@pytest.mark.parametrize("reply, expected", [
    ("B", ("B", "lone_letter")), ("(c)", ("C", "lone_letter")),
    ("D. stain on the left", ("D", "leading_letter")),
    ("I see a scratch, so option B fits", ("B", "last_letter")),
    ("It is a hole.", ("C", "option_text")),
    ("Answer: E", (None, "invalid_letter")),
    ("B or C", (None, "ambiguous")), ("Answer: C, but it could also be D", (None, "ambiguous")),
    ("C, not D.", ("C", "last_letter")),
    ("", (None, "unparsed")), (None, (None, "unparsed")), ("no idea at all", (None, "unparsed")),
])
def test_cascade_rules(reply, expected):
    assert parse_reply(reply, OPTS) == expected


def test_without_options_only_the_letter_rules_apply_and_a_judge_is_asked_last():
    assert parse_reply("I see a scratch, so option B fits", {}) == (None, "unparsed")
    assert parse_reply("Answer: E", {}) == ("E", "explicit")
    assert parse_reply("no idea at all", OPTS, judge=lambda text, options: "D") == ("D", "judge")
    assert parse_reply("no idea at all", OPTS, judge=lambda text, options: "E") == (None, "unparsed")
    assert parse_reply("<think>maybe A</think>Answer: C", OPTS) == ("C", "explicit")


@pytest.mark.parametrize("take, letter", [("last", "C"), ("first", "A")])
def test_reference_parser_first_or_last_letter(take, letter):
    assert reference_parse("A crack, so B ... final C", take=take) == letter
    assert reference_letters("A or B, not c") == ["A", "B"]


def test_reference_parser_fallback_and_bad_take():
    assert reference_parse("no letters here") is None
    assert reference_parse("a stain i think", options=OPTS) == "D"
    assert reference_parse(None) is None
    with pytest.raises(ValueError):
        reference_parse("A", take="middle")


@pytest.mark.parametrize("text, value", [
    ("A\nConfidence: 80%", 0.8), ("Confidence: 0.35", 0.35), ("confidence level is 7 percent", 0.07),
    ("Confidence: 60%\nConfidence: 90%", 0.9), ("Confidence: 1", 1.0), ("Confidence: 0", 0.0),
    ("Confidence: 150%", None), ("no number", None), ("", None), (None, None),
])
def test_verbal_confidence(text, value):
    got = verbal_confidence(text)
    assert got == (pytest.approx(value) if value is not None else None)


def test_confidence_is_removed_before_letters_are_read():
    assert "80" not in without_confidence("B\nConfidence: 80%")


def test_likelihood_distribution_and_ties():
    lp = {"A": math.log(0.1), "B": math.log(0.3), "C": math.log(0.3), "Z": 5.0}
    dist = letter_distribution(lp, {"A": "", "B": "", "C": "", "D": ""})
    assert dist == {"A": pytest.approx(1 / 7), "B": pytest.approx(3 / 7), "C": pytest.approx(3 / 7), "D": 0.0}
    assert choose_letter(lp, {"A": "", "B": "", "C": ""}) == ("B", "likelihood")
    assert choose_letter(lp, {"C": "", "B": "", "A": ""}) == ("C", "likelihood")
    assert choose_letter({"A": float("nan")}, {"A": ""}) == (None, "no_letter_in_topk")
    assert letter_distribution({"B": -1.0, "A": None}, {"A": "", "B": ""}) == {"A": 0.0, "B": 1.0}


def test_reasoning_blocks_and_answer_tags():
    assert answer_text("<think>A?</think><answer>B</answer> then <answer>C</answer>") == "C"
    assert answer_text("<think>B, surely") is None
    assert answer_text("<think>B</think>   ") is None
    assert answer_text("<think>B</think> D") == " D"
    assert reasoning_of("<think> one </think>x<think>two") == "one\ntwo"
    assert parse_reasoned("<think>long", OPTS, "length", parse_reply) == (None, "truncated")
    assert parse_reasoned("<think>long", OPTS, "stop", parse_reply) == (None, "no_answer")
    assert parse_reasoned("<think>x</think>hmm", OPTS, "length", parse_reply) == (None, "truncated")
    assert parse_reasoned("<think>x</think>B", OPTS, "length", parse_reply) == ("B", "lone_letter")
    assert is_truncated("<think>x", "length") and not is_truncated("<think>x", "stop")
    assert not is_truncated("<think>x</think>B", "length")


# -- property: the parsed answer follows the options, not the letters ---------------------------------
TEMPLATES = ["Answer: {L}", "{L}", "({L})", "{L}. {T}", "The correct option is {L}.",
             "It shows a {T}, so option {L} fits", "I choose {L}", "It is a {T}.",
             "Answer: {L} or {M}", "{L}, not {M}."]
WORDS = ["crack", "scratch", "hole", "stain", "bent lead"]


@given(perm=st.permutations("ABCDE"), pick=st.integers(0, 4), other=st.integers(0, 4),
       template=st.sampled_from(TEMPLATES))
def test_parsed_answer_is_invariant_under_letter_relabelling(perm, pick, other, template):
    """Relabel the options (A..E -> perm) and the reply's letters alike: the chosen option stays the same."""
    options = dict(zip("ABCDE", WORDS))
    relabel = dict(zip("ABCDE", perm))
    relabelled_options = {relabel[k]: v for k, v in options.items()}
    letter, second = "ABCDE"[pick], "ABCDE"[other]
    if template.endswith("{M}") and second == letter:
        return
    reply = template.format(L=letter, M=second, T=options[letter])
    moved = template.format(L=relabel[letter], M=relabel[second], T=options[letter])
    got, rule = parse_reply(reply, options)
    got2, rule2 = parse_reply(moved, relabelled_options)
    if "A" in (letter, relabel[letter]):
        return          # the article "A" in prose is read differently from other letters by design
    assert rule2 == rule
    assert (options[got] if got else None) == (relabelled_options[got2] if got2 else None)


def test_letter_probabilities_stay_finite_for_far_apart_log_probabilities():
    dist = letter_distribution({"A": 0.0, "B": -800.0, "C": -5.0}, {"A": "", "B": "", "C": ""})
    assert dist["A"] == pytest.approx(1 / (1 + math.exp(-5))) and dist["B"] == 0.0
    assert choose_letter({"A": -900.0, "B": -1000.0}, {"A": "", "B": ""}) == ("A", "likelihood")


@pytest.mark.parametrize("reply", ["Option B or option C is correct.", "Option B and option C is correct"])
def test_an_explicit_answer_joined_to_an_earlier_letter_is_a_hedge(reply):
    assert parse_reply(reply, OPTS) == (None, "ambiguous")
