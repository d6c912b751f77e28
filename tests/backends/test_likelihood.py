"""Option-letter likelihoods from the OpenAI-compatible server and the tiny transformers model."""
import math

import pytest

from backend_helpers import make_registry, make_request, run_backend
from mmad_eval.backends.base import GenerationSettings
from mmad_eval.backends.likelihood import from_positions
from mmad_eval.backends.openai_api import OpenAIBackend
from mmad_eval.parse.likelihood import choose_letter, letter_distribution
from mmad_eval.testing.openai_server import FakeOpenAIServer


def test_positions_pool_spellings_and_fall_back_to_the_first_position_with_a_letter():
    lps, extra = from_positions([[("The", -0.2), ("**", -1.0)], [(" B", -0.3), ("B", -2.0), ("A", -1.5)]],
                                ("A", "B", "C"))
    assert lps["B"] == pytest.approx(math.log(math.exp(-0.3) + math.exp(-2.0)))
    assert extra == {"letter_position": 1, "outside_topk": ["C"]}
    assert from_positions([[("The", -0.1)]], ("A", "B")) == (None, {"outside_topk": ["A", "B"]})


def test_choice_renormalises_over_shown_letters_and_never_fails_to_parse():
    dist = letter_distribution({"A": math.log(0.2), "B": math.log(0.6), "E": 0.0}, {"A": "x", "B": "y", "C": "z"})
    assert dist == {"A": pytest.approx(0.25), "B": pytest.approx(0.75), "C": 0.0}
    assert choose_letter({"A": -1.0, "B": -1.0}, {"A": "x", "B": "y"}) == ("A", "likelihood")   # tie: first shown
    assert choose_letter(None, {"A": "x"}) == (None, "no_letter_in_topk")


def test_openai_likelihood_requests_top_logprobs_and_stores_the_distribution():
    def responder(body):
        return {"content": "The answer is A"}

    with FakeOpenAIServer(responder=responder) as srv:
        reg = make_registry()
        be = OpenAIBackend("m", GenerationSettings(answer_mode="likelihood", reasoning_effort="low"), reg,
                           base_url=srv.base_url, top_logprobs=3)
        req = make_request(reg, text="Q\nA. a\nB. b\nC. c\nD. d\nE. e", letters=("A", "B", "C", "D", "E"))
        r = run_backend(be, [("k", req)])["k"]
        body = srv.requests[0]
    assert body["logprobs"] is True and body["top_logprobs"] == 3 and body["reasoning_effort"] == "low"
    # the fake server ranks the reply's first character first, then the other letters: T, A, B (top 3)
    assert set(r.letter_logprobs) == {"A", "B"} and r.extra["outside_topk"] == ["C", "D", "E"]
    assert choose_letter(r.letter_logprobs, dict.fromkeys("ABCDE", "")) == ("A", "likelihood")


def test_reasoning_tokens_are_counted_apart():
    def responder(body):
        return {"content": "<think>hmm</think><answer>B</answer>"}

    class Server(FakeOpenAIServer):
        def completion(self, index, body, fault):
            out = super().completion(index, body, fault)
            out["usage"]["completion_tokens_details"] = {"reasoning_tokens": 41}
            return out

    with Server(responder=responder) as srv:
        reg = make_registry()
        r = run_backend(OpenAIBackend("m", GenerationSettings(), reg, base_url=srv.base_url),
                        [("k", make_request(reg))])["k"]
        assert "reasoning_effort" not in srv.requests[0] and "logprobs" not in srv.requests[0]
    assert r.extra["reasoning_tokens"] == 41 and r.stored_extra()["reasoning_tokens"] == 41


# -- transformers -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    import torch  # noqa: F401  (a real part: the test fails, never skips, without it)
    from mmad_eval.testing.tiny_vlm import build_tiny_llava

    return str(build_tiny_llava(tmp_path_factory.mktemp("tiny_llava_lik")))


def test_transformers_first_token_letter_scores_match_a_manual_forward_pass(tiny, image_files):
    import torch

    from mmad_eval.backends.convert import to_hf
    from mmad_eval.backends.hf_local import HFBackend

    reg = make_registry()
    be = HFBackend(tiny, GenerationSettings(answer_mode="likelihood", max_tokens=2), reg, device="cpu",
                   dtype="float32", batch_size=2)
    reqs = [make_request(reg, text="Is there any defect in the object?\nA. Yes\nB. No", images=image_files[:1]),
            make_request(reg, text="Where?\nA. top\nB. left\nC. center", images=image_files[:2],
                         letters=("A", "B", "C"), qid="q1")]
    got = run_backend(be, [("k0", reqs[0]), ("k1", reqs[1])])
    tok = be.processor.tokenizer
    # every vocabulary entry that decodes to the bare letter, found by brute force
    spell = {L: [i for i in range(len(tok)) if tok.decode([i]).strip() == L] for L in "ABC"}
    assert len(spell["A"]) >= 2           # "A" and " A" are different tokens of this tokenizer
    for key, req in (("k0", reqs[0]), ("k1", reqs[1])):
        enc = be.inputs([to_hf(req, reg)])
        with torch.inference_mode():
            logits = be.hf_model(**enc).logits[0, -1]
        lp = torch.log_softmax(logits.float(), -1)
        want = {L: float(torch.logsumexp(lp[spell[L]], 0)) for L in req.options[0]}
        assert got[key].letter_logprobs == pytest.approx(want, abs=1e-4)
        assert "outside_topk" not in got[key].extra and got[key].extra["letter_position"] == 0
