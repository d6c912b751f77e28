"""Reasoning replies (<think>, <answer>) and verbalised confidence."""
import pytest

from mmad_eval.parse import parse_reply
from mmad_eval.parse.confidence import verbal_confidence
from mmad_eval.parse.reasoning import answer_text, is_truncated, reasoning_of

OPTS = {"A": "Yes.", "B": "No."}


@pytest.mark.parametrize("reply, expected", [
    ("<think>A looks right... no, B</think>\n<answer>A</answer>", "A"),
    ("<think>Is it A? The rim is fine.</think>The answer is B.", " The answer is B.".strip()),
    ("<answer>B</answer> then <answer>A</answer>", "A"),                 # the last tag counts
    ("<THINK>x</THINK><Answer> B </Answer>", "B"),
    ("plain reply B", "plain reply B"),
])
def test_answer_text(reply, expected):
    assert answer_text(reply).strip() == expected


@pytest.mark.parametrize("reply", ["<think>The answer is A because", "<think>B is right</think>  ",
                                   "<answer>B", "<think>a</think><answer>"])
def test_reasoning_without_an_answer_holds_none(reply):
    assert answer_text(reply) is None


def test_letters_in_the_reasoning_are_never_the_answer():
    text = answer_text("<think>The answer is A? Let me look again.</think>\nFinal: B")
    assert parse_reply(text, OPTS) == ("B", "last_letter")


def test_truncation_and_reasoning_text():
    assert is_truncated("<think>still thinking", "length")
    assert not is_truncated("<think>x</think>B", "length") and not is_truncated("<think>x", "stop")
    assert reasoning_of("<think>one</think>B<think>two") == "one\ntwo"


@pytest.mark.parametrize("reply, value", [
    ("B\nConfidence: 80%", 0.8), ("A. Confidence 0.35", 0.35), ("confidence level: 95 percent", 0.95),
    ("**Confidence:** 60%\n...\nConfidence: 70%", 0.7), ("B", None), ("Confidence: 180%", None),
])
def test_verbal_confidence(reply, value):
    got = verbal_confidence(reply)
    assert got == (pytest.approx(value) if value is not None else None)
