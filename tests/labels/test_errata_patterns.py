"""Errata answer patterns run on a linear-time automaton: the same yes/no as Python's ``re`` (case-insensitive
search) on every pattern it accepts, and what needs backtracking is refused when the file is read."""
import re

import pytest
from hypothesis import given, settings, strategies as st

from mmad_eval.errata.pattern import PatternError, SafePattern

ATOMS = ["a", "b", ".", "[ab]", "[^a]", "\\b", "\\B", "^", "$", "\\s", "\\w", "\\d", "A", "(a|b)", "(ab|a)", "()"]


@st.composite
def patterns(draw, depth=0):
    parts = []
    for _ in range(draw(st.integers(1, 4))):
        atom = draw(st.sampled_from(ATOMS)) if depth > 1 or draw(st.booleans()) else \
            "(" + draw(patterns(depth=depth + 1)) + ")"
        if atom not in ("\\b", "\\B", "^", "$"):
            atom += draw(st.sampled_from(["", "*", "+", "?", "{2}", "{1,3}", "*?", "{0,2}"]))
        parts.append(atom)
    return ("|" if draw(st.booleans()) else "").join(parts)


@settings(derandomize=True, max_examples=400, deadline=None)
@given(patterns(), st.text(alphabet="abAB 1\n_", max_size=12), st.sampled_from(["", "(?m)", "(?s)"]))
def test_same_answer_as_re(pattern, text, flags):
    assert SafePattern(flags + pattern).search(text) == bool(re.search(flags + pattern, text, re.IGNORECASE))


@pytest.mark.parametrize("pattern, text, expect", [
    ("center", "The CENTER.", True), ("\\bleg", "two legs", True), ("\\bleg", "bootleg", False),
    ("^top (left|right)$", "Top Left", True), ("colou?r", "color", True), ("x{2,3}y", "xy", False)])
def test_examples(pattern, text, expect):
    assert SafePattern(pattern).search(text) is expect


def test_catastrophic_patterns_run_in_linear_time():
    # with re, each of these takes 2^n steps on the text: decades for 60 characters
    for pattern in ("(a+)+$", "(a|a)*c", "(a*)*b", "(\\w+\\s?)+$"):
        assert SafePattern(pattern).search("a" * 60 + "!") is False


@pytest.mark.parametrize("pattern, words", [
    ("(", "not a regular expression"), ("(a)\\1", "backreferences"), ("(?=a)b", "lookarounds"),
    ("(?<!a)b", "lookarounds"), ("(?>a)", "atomic groups"), ("a++", "possessive"), ("a{99999}", "states"),
    ("", "non-empty"), ("x" * 2000, "limit")])
def test_refused_patterns(pattern, words):
    with pytest.raises(PatternError, match=words):
        SafePattern(pattern)
