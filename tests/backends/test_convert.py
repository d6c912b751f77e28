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
