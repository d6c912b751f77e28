"""One Message, three chat formats; token log-probabilities pooled into option letters."""
import math

from backend_helpers import make_registry, make_request
from mmad_eval.backends.convert import letter_logprobs, request_letters, to_hf, to_openai, to_vllm
from mmad_eval.prompt.message import Request


def test_same_order_of_parts_in_every_format(image_files):
    reg = make_registry(detail="low")
    req = make_request(reg, images=image_files[:2], system="sys")
    o, h, v = to_openai(req, reg), to_hf(req, reg), to_vllm(req, reg)
    assert o[0] == h[0] == v[0] == {"role": "system", "content": "sys"}
    assert [p["type"] for p in o[1]["content"]] == ["image_url", "image_url", "text"]
    assert [p["type"] for p in h[1]["content"]] == ["image", "image", "text"]
    assert [p["type"] for p in v[1]["content"]] == ["image_pil", "image_pil", "text"]
    assert o[1]["content"][0]["image_url"]["detail"] == "low"
    assert h[1]["content"][0]["image"] is v[1]["content"][0]["image_pil"]   # decoded once, shared
    assert o[1]["content"][2]["text"] == h[1]["content"][2]["text"] == req.messages[1].text


def test_letter_pooling():
    lp = letter_logprobs([(" A", math.log(0.3)), ("A", math.log(0.2)), ("(B", math.log(0.1)), ("The", -0.1),
                          ("C", math.log(0.05))], ("A", "B"))
    assert math.isclose(lp["A"], math.log(0.5)) and math.isclose(lp["B"], math.log(0.1)) and "C" not in lp
    assert letter_logprobs([("The", -0.1)], ("A", "B")) is None


def test_request_letters_only_for_single_question():
    reg = make_registry()
    single = make_request(reg, letters=("A", "B", "C"))
    assert request_letters(single) == ("A", "B", "C")
    multi = Request(messages=single.messages, qids=("a", "b"), options=(("A", "B"), ("A", "B")))
    assert request_letters(multi) == ()


def _agent_turn(reg, image_files, arguments):
    from dataclasses import replace

    from mmad_eval.prompt.message import ImagePart, Message, TextPart, ToolCall

    first = replace(make_request(reg, images=image_files[:1]), tools=("zoom", "detector"))
    said = Message("assistant", (), tool_calls=(ToolCall("call_0", "zoom", arguments),
                                                ToolCall("call_1", "detector", "{}")))
    results = (Message("tool", (TextPart("zoom: region"),), tool_call_id="call_0"),
               Message("tool", (TextPart("detector: score"),), tool_call_id="call_1"))
    crop = Message("user", (ImagePart(reg.add_file(image_files[1]), role="tool", label="crop"),))
    return replace(first, messages=(*first.messages, said, *results, crop))


def test_agent_turns_for_chat_templates_carry_arguments_as_mappings_and_tool_names(image_files):
    reg = make_registry()
    req = _agent_turn(reg, image_files, '{"x1": 0, "y1": 0, "x2": 8, "y2": 8}')
    for convert, image_type in ((to_hf, "image"), (to_vllm, "image_pil")):
        msgs = convert(req, reg)
        assert [m["role"] for m in msgs] == ["user", "assistant", "tool", "tool", "user"]
        assert msgs[1]["content"] == "" and [c["function"] for c in msgs[1]["tool_calls"]] == [
            {"name": "zoom", "arguments": {"x1": 0, "y1": 0, "x2": 8, "y2": 8}},
            {"name": "detector", "arguments": {}}]
        assert msgs[2] == {"role": "tool", "tool_call_id": "call_0", "name": "zoom", "content": "zoom: region"}
        assert msgs[3]["name"] == "detector" and msgs[4]["content"][0]["type"] == image_type
    openai = to_openai(req, reg)              # OpenAI keeps the JSON text and no tool name
    assert openai[1]["tool_calls"][0]["function"]["arguments"] == '{"x1": 0, "y1": 0, "x2": 8, "y2": 8}'
    assert "name" not in openai[2] and openai[1]["content"] is None


def test_arguments_that_are_not_an_object_reach_templates_as_an_empty_mapping(image_files):
    reg = make_registry()
    for bad in ("{x1: 0", "[0, 0, 8, 8]", "", "[" * 5000):
        msgs = to_hf(_agent_turn(reg, image_files, bad), reg)
        assert msgs[1]["tool_calls"][0]["function"]["arguments"] == {}
