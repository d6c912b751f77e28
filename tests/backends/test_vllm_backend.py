"""VLLMBackend against a fake ``vllm`` module shaped like the real API (no GPU here)."""
import sys

import pytest
from PIL import Image

from backend_helpers import make_registry, make_request, run_backend
from fake_vllm import FakeLLM, install
from mmad_eval.backends.base import GenerationSettings
from mmad_eval.errors import MissingExtraError


@pytest.fixture
def fake_vllm(monkeypatch):
    install(monkeypatch)
    from mmad_eval.backends.vllm_engine import VLLMBackend
    return VLLMBackend


def test_all_requests_go_through_chat_in_chunks_with_pil_images(fake_vllm, image_files):
    reg = make_registry(max_side=20)
    gen = GenerationSettings(temperature=0.0, max_tokens=9, seed=3, top_p=0.8)
    be = fake_vllm("Qwen/Qwen2.5-VL-7B-Instruct", gen, reg, chunk_size=3, max_model_len=4096,
                   tensor_parallel_size=2, trust_remote_code=True, sampling_kwargs={"top_k": 1})
    items = [(f"k{i}", make_request(reg, text=f"Q{i}\nA. y\nB. n", images=image_files[: 1 + i % 2],
                                    system="sys")) for i in range(7)]
    got = run_backend(be, items)
    (llm,) = FakeLLM.instances
    assert llm.model == "Qwen/Qwen2.5-VL-7B-Instruct"
    assert llm.kw == {"max_model_len": 4096, "tensor_parallel_size": 2, "trust_remote_code": True,
                      "limit_mm_per_prompt": {"image": 2}, "seed": 3}
    assert [len(c["messages"]) for c in llm.calls] == [3, 3, 1] and not any(c["use_tqdm"] for c in llm.calls)
    assert llm.calls[0]["params"].kw == {"temperature": 0.0, "max_tokens": 9, "seed": 3, "top_p": 0.8, "top_k": 1}
    # handed over grouped by image count (then prompt length): k0 k2 k4 | k6 k1 k3 | k5
    counts = [sum(p["type"] == "image_pil" for m in conv if isinstance(m["content"], list) for p in m["content"])
              for c in llm.calls for conv in c["messages"]]
    assert counts == [1, 1, 1, 1, 2, 2, 2]
    conv = llm.calls[1]["messages"][1]
    assert conv[0] == {"role": "system", "content": "sys"}
    parts = conv[1]["content"]
    assert [p["type"] for p in parts] == ["image_pil", "image_pil", "text"]
    assert isinstance(parts[0]["image_pil"], Image.Image) and max(parts[0]["image_pil"].size) == 20
    assert reg.encodes == 0                                  # no base64 round trip
    assert all(r.ok and r.text == "B" for r in got.values())
    assert got["k1"].prompt_tokens == 10 + 32 and got["k1"].completion_tokens == 1
    assert got["k0"].extra["chunk_size"] == 3 and got["k5"].extra["chunk_size"] == 1
    assert be.stats()["chunks"] == 3 and be.stats()["padding_fraction"] == 0.0


def test_logprobs_mapped_to_letters(fake_vllm):
    reg = make_registry()
    be = fake_vllm("m", GenerationSettings(logprobs=True), reg)
    r = run_backend(be, [("k", make_request(reg, letters=("A", "B")))])["k"]
    assert FakeLLM.instances[0].calls[0]["params"].kw["logprobs"] == 20
    assert r.letter_logprobs == {"A": pytest.approx(-0.1), "B": pytest.approx(-2.5)}


def test_a_failing_prompt_is_isolated(fake_vllm):
    reg = make_registry()
    be = fake_vllm("m", GenerationSettings(), reg, chunk_size=8)
    items = [(f"k{i}", make_request(reg, text=("BOOM" if i == 2 else f"Q{i}") + "\nA. y\nB. n")) for i in range(4)]
    got = run_backend(be, items)
    assert got["k2"].error_type == "engine_error" and "prompt too long" in got["k2"].error_message
    assert all(got[k].ok for k in ("k0", "k1", "k3"))


def test_corrupt_image_is_a_request_error(fake_vllm, tmp_path, image_files):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG garbage")
    reg = make_registry()
    be = fake_vllm("m", GenerationSettings(), reg)
    got = run_backend(be, [("bad", make_request(reg, images=[bad])), ("ok", make_request(reg, images=image_files[:1]))])
    assert got["bad"].error_type == "bad_input" and "broken.png" in got["bad"].error_message
    assert got["ok"].ok and len(FakeLLM.instances[0].calls[0]["messages"]) == 1


def test_identity_lists_answer_changing_options(fake_vllm):
    be = fake_vllm("m", GenerationSettings(), make_registry(), dtype="bfloat16", chunk_size=64,
                   mm_processor_kwargs={"max_pixels": 1003520}, gpu_memory_utilization=0.8)
    ident = be.identity()
    assert ident["options"] == {"dtype": "bfloat16", "mm_processor_kwargs": {"max_pixels": 1003520}}
    assert be.describe()["engine"]["gpu_memory_utilization"] == 0.8 and be.describe()["chunk_size"] == 64


def test_missing_vllm_gives_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "vllm" else object())
    from mmad_eval.backends.vllm_engine import VLLMBackend
    with pytest.raises(MissingExtraError, match=r"mmad-eval\[vllm\]"):
        VLLMBackend("m", GenerationSettings(), make_registry())


def test_engine_secrets_reach_the_engine_but_are_never_recorded(fake_vllm):
    import json
    be = fake_vllm("m", GenerationSettings(), make_registry(), engine_kwargs={"hf_token": "hf_SeCrEt123"})
    run_backend(be, [("k", make_request(make_registry()))])
    assert FakeLLM.instances[0].kw["hf_token"] == "hf_SeCrEt123"
    blob = json.dumps(be.describe()) + json.dumps(be.identity())
    assert "hf_SeCrEt123" not in blob


def test_likelihood_mode_reads_the_first_position_and_names_letters_outside_top_k(fake_vllm):
    """SampleLogprobs = list (per token) of {token_id: Logprob(logprob, rank, decoded_token)}; " B" and "B"
    both spell B; C and D were offered but are not among the returned alternatives."""
    reg = make_registry()
    be = fake_vllm("m", GenerationSettings(answer_mode="likelihood"), reg)
    r = run_backend(be, [("k", make_request(reg, text="Q\nA. a\nB. b\nC. c\nD. d", letters=("A", "B", "C", "D")))])["k"]
    assert FakeLLM.instances[0].calls[0]["params"].kw["logprobs"] == 20   # asked although --logprobs is off
    assert r.letter_logprobs == {"A": pytest.approx(-0.1), "B": pytest.approx(-2.5)}
    assert r.extra["outside_topk"] == ["C", "D"] and r.extra["letter_position"] == 0
    assert r.stored_extra()["outside_topk"] == ["C", "D"]


def test_a_request_with_more_images_than_the_engine_takes_fails_alone_in_one_line(fake_vllm, image_files):
    reg = make_registry()
    be = fake_vllm("m", GenerationSettings(), reg, limit_mm_per_prompt={"image": 1})
    got = run_backend(be, [("two", make_request(reg, images=image_files[:2])),
                           ("one", make_request(reg, images=image_files[:1]))])
    assert got["two"].error_type == "bad_input" and "carries 2 images and the engine takes 1" in got["two"].error_message
    assert got["one"].ok and [len(c["messages"]) for c in FakeLLM.instances[0].calls] == [1]


def test_a_preset_naming_a_tool_call_format_keeps_the_keys_of_runs_without_tools(fake_vllm):
    from mmad_eval.backends.base import RunContext

    def options(**kw):
        return fake_vllm("m", GenerationSettings(), make_registry(), dtype="bfloat16", **kw).identity()["options"]

    assert options(tool_call_format="hermes") == options() == {"dtype": "bfloat16"}
    assert options(tool_call_format="hermes", context=RunContext(tools=("zoom",))) == \
        {"dtype": "bfloat16", "tool_call_format": "hermes"}
