"""Strict cascade and reference parser on a table of real-style replies (expected letter, rule, reference)."""
import pytest

from mmad_eval.parse import PARSER_VERSION, parse_reply, reference_parse
from mmad_eval.parse.cascade import RULES

YN = {"A": "Yes.", "B": "No."}
ABCD = {"A": "Scratch.", "B": "Crack.", "C": "Contamination.", "D": "Missing part."}
LOC = {"A": "Top left.", "B": "Top right.", "C": "Bottom left.", "D": "Center."}

# (reply, options, strict letter, strict rule, reference "last" letter)
CASES = [
    ("B", ABCD, "B", "lone_letter", "B"),
    ("B.", ABCD, "B", "lone_letter", "B"),
    ("(B)", ABCD, "B", "lone_letter", "B"),
    ("**B**", ABCD, "B", "lone_letter", "B"),
    (" C \n", ABCD, "C", "lone_letter", "C"),
    ("`D`", ABCD, "D", "lone_letter", "D"),
    ("[A]", ABCD, "A", "lone_letter", "A"),
    ("A", YN, "A", "lone_letter", "A"),
    ("b", YN, "B", "lone_letter", None),
    ("The answer is B.", ABCD, "B", "explicit", "B"),
    ("Answer: C", ABCD, "C", "explicit", "C"),
    ("Answer: A", ABCD, "A", "explicit", "A"),
    ("The correct answer is (D).", ABCD, "D", "explicit", "D"),
    ("Final Answer: **B**", ABCD, "B", "explicit", "B"),
    ("The correct option is (c).", ABCD, "C", "explicit", None),
    ("答案：C", ABCD, "C", "explicit", "C"),
    ("答案是B", ABCD, "B", "explicit", None),
    ("答案：选项D。", ABCD, "D", "explicit", None),
    ("I would choose option A because the surface is scratched.", ABCD, "A", "explicit", "A"),
    ("Option C is correct.", ABCD, "C", "explicit", "C"),
    ("Comparing with the template, A shows a scratch, B a crack. Answer: D", ABCD, "D", "explicit", "D"),
    ("Let me compare.\nA. Scratch - no\nB. Crack - yes\nTherefore the answer is B.", ABCD, "B", "explicit", "B"),
    ("<think>Maybe A? or C.</think>\nAnswer: C", ABCD, "C", "explicit", "C"),
    ("<think>Could be A</think>\nB", ABCD, "B", "lone_letter", "B"),
    ("B. Yes.", YN, "B", "leading_letter", "B"),
    ("A. Scratch. The surface shows a thin line.", ABCD, "A", "leading_letter", "A"),
    ("A) Scratch", ABCD, "A", "leading_letter", "A"),
    ("(C) Contamination is visible near the rim.", ABCD, "C", "leading_letter", "C"),
    ("**B.** Crack", ABCD, "B", "leading_letter", "B"),
    ("D - Center", LOC, "D", "leading_letter", "D"),
    ("A crack is visible in the top left", YN, None, "unparsed", "A"),
    ("A scratch is visible on the left side.", YN, None, "unparsed", "A"),
    ("A crack is visible in the top left, so the answer is option A", YN, "A", "explicit", "A"),
    ("I think it is option A", ABCD, "A", "last_letter", "A"),
    ("Comparing both images, I believe C fits best", ABCD, "C", "last_letter", "C"),
    ("A is correct here", ABCD, "A", "last_letter", "A"),
    ("There is a C-shaped mark on the cap; likely B", ABCD, "B", "last_letter", "B"),
    ("Answer: E", ABCD, None, "invalid_letter", "E"),
    ("E", ABCD, None, "invalid_letter", "E"),
    ("Yes", YN, "A", "option_text", None),
    ("No.", YN, "B", "option_text", None),
    ("No, there is no defect in the query image.", YN, "B", "option_text", None),
    ("Yes, there is no obvious defect.", YN, None, "unparsed", None),
    ("The defect is a crack along the neck.", ABCD, "B", "option_text", None),
    ("It looks like contamination.", ABCD, "C", "option_text", None),
    ("Both a scratch and a crack are visible", ABCD, None, "unparsed", None),
    ("I'm sorry, I can't help with that.", ABCD, None, "unparsed", None),
    ("I cannot determine this from the image.", YN, None, "unparsed", None),
    ("", ABCD, None, "unparsed", None),
    ("   \n", ABCD, None, "unparsed", None),
    (None, ABCD, None, "unparsed", None),
]


def test_table_is_large_enough():
    assert len(CASES) >= 40


@pytest.mark.parametrize("reply,options,letter,rule,ref", CASES)
def test_strict_and_reference(reply, options, letter, rule, ref):
    assert parse_reply(reply, options) == (letter, rule)
    assert reference_parse(reply) == ref
    assert rule in RULES


def test_reference_first_and_last():
    text = "A crack is visible, so B, not C."
    assert reference_parse(text) == "C"
    assert reference_parse(text, take="first") == "A"
    with pytest.raises(ValueError):
        reference_parse(text, take="middle")


def test_reference_word_boundaries_match_python_regex():
    # \b is Unicode-aware: a CJK character before the letter is a word character, so no match
    assert reference_parse("答案C") is None
    assert reference_parse("答案：C") == "C"
    assert reference_parse("ABC") is None


def test_reference_fuzzy_fallback_only_when_options_given():
    assert reference_parse("crack.", options=ABCD) == "B"
    assert reference_parse("crack.") is None


def test_only_shown_letters_count_for_last_letter():
    # "D" is not shown: the last shown letter wins, never the unknown one
    assert parse_reply("Between B and D I pick neither", {"A": "x", "B": "y", "C": "z"}) == ("B", "last_letter")


def test_unknown_options_only_bare_or_explicit():
    assert parse_reply("B", {}) == ("B", "lone_letter")
    assert parse_reply("The answer is D", {}) == ("D", "explicit")
    assert parse_reply("I think B fits", {}) == (None, "unparsed")
    assert parse_reply("Yes", {}) == (None, "unparsed")


def test_longer_option_implies_shorter():
    opts = {"A": "crack", "B": "crack and scratch", "C": "hole"}
    assert parse_reply("It shows a crack and scratch.", opts) == ("B", "option_text")


def test_never_a_random_fallback():
    results = {parse_reply("no idea at all", ABCD) for _ in range(20)}
    assert results == {(None, "unparsed")}


def test_judge_called_only_when_rules_fail():
    calls = []

    def judge(text, options):
        calls.append(text)
        return "D"

    assert parse_reply("B", ABCD, judge=judge) == ("B", "lone_letter")
    assert calls == []
    assert parse_reply("hmm, the middle one", ABCD, judge=judge) == ("D", "judge")
    assert parse_reply("hmm", ABCD, judge=lambda t, o: "E") == (None, "unparsed")


def test_parser_version_is_a_string():
    assert isinstance(PARSER_VERSION, str) and PARSER_VERSION


@pytest.mark.parametrize("reply,letter", [
    ("Ｂ", "B"), ("Ｃ．", "C"), ("（Ａ）", "A"), ("Answer: Ｄ", "D"), ("答案：Ｃ", "C"), ("The answer is （Ｂ）.", "B"),
])
def test_full_width_letters_parse_as_ascii(reply, letter):
    assert parse_reply(reply, ABCD)[0] == letter


def test_full_width_option_text_matches():
    assert parse_reply("Ｃｒａｃｋ", ABCD) == ("B", "option_text")


@pytest.mark.parametrize("reply", [
    "B or C", "Answer: B or C", "The answer is B or C.", "Either A or D.", "Both A and C", "A and C",
    "Options A and C are both possible.", "The answer could be (B) or (C).", "I would choose B or option C",
])
def test_replies_naming_several_options_are_not_credited(reply):
    assert parse_reply(reply, ABCD) == (None, "ambiguous")
    assert "ambiguous" in RULES


@pytest.mark.parametrize("reply,letter", [
    ("A and B are wrong; the answer is C.", "C"),
    ("Not A or B, but C.", "C"),
    ("I think it is B. Actually, C.", "C"),
    ("The answer is C, and D is wrong.", "C"),
    ("Answer: B and C is wrong", "B"),
])
def test_a_single_final_letter_beside_others_still_parses(reply, letter):
    assert parse_reply(reply, ABCD)[0] == letter


@pytest.mark.parametrize("reply", [
    "I think it's C, but it could also be D.", "either B or C", "B; alternatively D", "Answer: B. Alternatively, D.",
    "B, or possibly D", "The answer is C, though D is also possible.", "C (maybe D)", "Probably B, possibly C.",
    "C, although it might be D", "I'd go with B, otherwise C", "The answer is B, or perhaps D.",
    "Answer: C\nD could be possible too",
])
def test_a_second_letter_offered_as_an_alternative_is_ambiguous(reply):
    assert parse_reply(reply, ABCD) == (None, "ambiguous")


@pytest.mark.parametrize("reply,letter", [
    ("C, not D.", "C"), ("It is C. D is wrong.", "C"), ("Answer: C. Option D is incorrect because it is a hole.", "C"),
    ("Possibly A, but the answer is B", "B"), ("Could it be A? No. The answer is B.", "B"),
    ("C. It could also be described as a stain.", "C"), ("It might be a crack. Answer: C", "C"),
    ("Between B and C, I choose B.", "B"),
])
def test_decided_replies_beside_other_letters_still_parse(reply, letter):
    assert parse_reply(reply, ABCD)[0] == letter
