"""The parse stage: which reference letter MMAD's scripts would record, per protocol setting, and which
images Gemini's script leaves out of its answers file (issue 25)."""
import math

from mmad_eval.answers import AnswerRecord
from mmad_eval.parse.stage import NO_NUMBERED_LINE, SCRIPT_DROPS, ReferenceRule, parse_answers

OPTS = {"A": "crack", "B": "scratch", "C": "hole"}


def rec(reply, index=0, image="D/c/bad/1.png", error=None, meta=None):
    return AnswerRecord(image=image, index=index, type="Defect Classification", options=dict(OPTS), answer="A",
                        reply=reply, error=error, meta=dict(meta or {}))


def test_reference_letter_first_or_last_of_the_segment_or_the_whole_reply():
    reply, segment = "1: A\n2: C then B", "C then B"
    assert ReferenceRule("last", "segment").letter(reply, segment, 1, 2, OPTS) == "B"
    assert ReferenceRule("first", "segment").letter(reply, segment, 1, 2, OPTS) == "C"
    assert ReferenceRule("last", "reply").letter(reply, segment, 1, 2, OPTS) == "B"
    assert ReferenceRule("first", "reply").letter(reply, segment, 1, 2, OPTS) == "A"
    assert ReferenceRule("last", "segment").letter(reply, None, 1, 2, OPTS) is None
    assert ReferenceRule("last", "segment").letter("a hole", "a hole", 0, 1, OPTS) is None
    assert ReferenceRule("last", "segment", closest=True).letter("a hole", "a hole", 0, 1, OPTS) == "C"


def test_gemini_list_rule_aligns_letters_with_questions():
    rule = ReferenceRule.of({"reference_letter": "list", "reference_scope": "reply"})
    assert rule.letter("A B C", None, 1, 3, OPTS) == "B"
    assert rule.letter("A B", None, 1, 3, OPTS) is None                 # count differs: no letter
    assert rule.letter("B then C", None, 0, 1, OPTS, first_question=True) == "C"
    assert rule.letter("none", None, 0, 1, OPTS, first_question=True) is None
    default = ReferenceRule.of(None)
    assert (default.letter_rule, default.scope, default.closest) == ("last", "segment", False)


def test_parse_answers_fills_letters_rules_and_leaves_failures_alone():
    recs = [rec("Answer: B"), rec(None, index=1, error="timeout: slow"),
            rec("1: A\n2: C", index=2, meta={"segment": None, "prompt_position": (2, 3)}),
            rec("<think>long", index=3, meta={"finish_reason": "length"})]
    parse_answers(recs)
    assert (recs[0].parsed, recs[0].rule, recs[0].reference_parsed) == ("B", "explicit", "B")
    assert recs[1].parsed is None and recs[1].rule is None
    assert recs[2].rule == NO_NUMBERED_LINE and recs[2].parsed is None and recs[2].reference_parsed is None
    assert recs[3].rule == "truncated"


def test_likelihood_mode_takes_the_most_probable_letter_for_both_parsers():
    r = rec("ignored text says C", meta={"letter_logprobs": {"A": math.log(0.2), "B": math.log(0.7)}})
    parse_answers([r], answer_mode="likelihood")
    assert (r.parsed, r.rule, r.reference_parsed) == ("B", "likelihood", "B")


def test_gemini_drops_every_answer_of_an_image_with_a_failed_request_or_a_short_reply():
    ok = [rec("A", image="D/c/bad/1.png"), rec("A B", index=1, image="D/c/bad/1.png", meta={"prompt_position": (0, 2)}),
          rec("A B", index=2, image="D/c/bad/1.png", meta={"prompt_position": (1, 2)})]
    failed = [rec("A", image="D/c/bad/2.png"), rec(None, index=1, image="D/c/bad/2.png", error="timeout: x")]
    short = [rec("B", image="D/c/bad/3.png"), rec("C", index=1, image="D/c/bad/3.png", meta={"prompt_position": (0, 2)}),
             rec("C", index=2, image="D/c/bad/3.png", meta={"prompt_position": (1, 2)})]
    first_only = [rec("no letter", image="D/c/bad/4.png")]
    parse_answers(ok + failed + short + first_only, {"reference_letter": "list", "reference_scope": "reply"})
    assert [SCRIPT_DROPS in r.meta for r in ok] == [False] * 3
    assert all(r.meta[SCRIPT_DROPS] == "a request of this image failed" for r in failed)
    assert all(r.meta[SCRIPT_DROPS] == "a reply had 1 letters for 2 questions" for r in short)
    assert SCRIPT_DROPS not in first_only[0].meta and first_only[0].reference_parsed is None
    assert [r.reference_parsed for r in ok] == ["A", "A", "B"]
