"""HFBackend on CPU with a tiny random-weight LLaVA built offline (skipped without torch/transformers)."""
import math
import sys

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

from backend_helpers import make_registry, make_request, run_backend  # noqa: E402
from mmad_eval.backends.base import GenerationSettings  # noqa: E402
from mmad_eval.backends.hf_local import HFBackend  # noqa: E402
from mmad_eval.errors import MissingExtraError  # noqa: E402
from mmad_eval.testing.tiny_vlm import build_tiny_llava  # noqa: E402

IMAGE_TOKENS = 16        # 32-px images, patch 8


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    return str(build_tiny_llava(tmp_path_factory.mktemp("tiny_llava")))


@pytest.fixture(scope="session")
def loaded(tiny_model):
    """One loaded backend shared by the tests (loading is the slow part)."""
    be = HFBackend(tiny_model, GenerationSettings(max_tokens=6), make_registry(), device="cpu", dtype="float32")
    be.load()
    return be


def _items(reg, image_files):
    texts = ["Is there any defect in the object?\nA. Yes\nB. No",
             "Where is the defect?\nA. top left\nB. bottom right\nC. center\nD. top right",
             "What is the defect?\nA. scratch\nB. crack",
             "Describe the object in one word.\nA. bottle\nB. screw\nC. pill"]
    return [(f"k{i}", make_request(reg, text=texts[i % 4] + " " * (i % 3), images=image_files[: 1 + i % 2],
                                   letters=("A", "B", "C", "D")[: 2 + (i % 3)], system="Answer with a letter."
                                   if i % 2 else None)) for i in range(7)]


def _with(loaded, **changes):
    """A backend sharing the loaded model/processor but with other settings."""
    be = HFBackend(loaded.model, changes.pop("generation", loaded.generation), changes.pop("registry"),
                   device="cpu", dtype="float32", **changes)
    be.processor, be.hf_model = loaded.processor, loaded.hf_model
    return be


def test_batched_equals_one_at_a_time(loaded, image_files, monkeypatch):
    reg = make_registry()
    items = _items(reg, image_files)
    # a processor handed in as is: batches still pad left (set for this test only: ``loaded`` is shared)
    monkeypatch.setattr(loaded.processor.tokenizer, "padding_side", "right")
    batched = _with(loaded, registry=reg, batch_size=4)
    single = _with(loaded, registry=reg, batch_size=1)
    a = run_backend(batched, items)
    b = run_backend(single, items)
    assert sorted(batched.last_batches) == [3, 4] and single.last_batches == [1] * 7
    assert {k: r.text for k, r in a.items()} == {k: r.text for k, r in b.items()}
    assert all(r.ok and r.completion_tokens >= 1 for r in a.values())
    assert {k: r.prompt_tokens for k, r in a.items()} == {k: r.prompt_tokens for k, r in b.items()}
    # left padding did not leak into the count: a 2-image prompt has 16 more tokens than its 1-image twin
    assert a["k1"].prompt_tokens > IMAGE_TOKENS


def test_images_reach_the_model(loaded, image_files, monkeypatch):
    reg = make_registry()
    be = _with(loaded, registry=reg, batch_size=8)
    seen = []
    original = be.hf_model.generate

    def spy(**kw):
        seen.append({k: v for k, v in kw.items() if hasattr(v, "shape")})
        return original(**kw)

    monkeypatch.setattr(be.hf_model, "generate", spy)
    items = [("one", make_request(reg, images=image_files[:1])), ("two", make_request(reg, images=image_files[:2])),
             ("none", make_request(reg))]
    run_backend(be, items)
    (kw,) = seen
    assert tuple(kw["pixel_values"].shape) == (3, 3, 32, 32)       # 1 + 2 images, resized to 32 px
    image_id = be.hf_model.config.image_token_id
    per_row = sorted((kw["input_ids"] == image_id).sum(dim=1).tolist())
    assert per_row == [0, IMAGE_TOKENS, 2 * IMAGE_TOKENS]
    assert (kw["attention_mask"][:, -1] == 1).all()                 # left padding: every row ends with a token


def test_letter_logprobs_are_log_probabilities(loaded, image_files):
    reg = make_registry()
    be = _with(loaded, registry=reg, generation=GenerationSettings(max_tokens=2, logprobs=True), top_logprobs=400)
    r = run_backend(be, [("k", make_request(reg, images=image_files[:1], letters=("A", "B")))])["k"]
    assert set(r.letter_logprobs) == {"A", "B"}
    assert all(v < 0 for v in r.letter_logprobs.values())
    assert sum(math.exp(v) for v in r.letter_logprobs.values()) <= 1.0


def test_corrupt_image_fails_only_its_request(loaded, image_files, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"nope")
    reg = make_registry()
    got = run_backend(_with(loaded, registry=reg), [("bad", make_request(reg, images=[bad])),
                                                    ("ok", make_request(reg, images=image_files[:1]))])
    assert got["bad"].error_type == "bad_input" and "bad.png" in got["bad"].error_message
    assert got["ok"].ok


def test_loads_through_auto_classes(tiny_model, image_files):
    reg = make_registry()
    be = HFBackend(tiny_model, GenerationSettings(max_tokens=3), reg, device="cpu", batch_size=2)
    got = run_backend(be, [("k", make_request(reg, images=image_files[:1]))])
    assert got["k"].ok and type(be.hf_model).__name__ == "LlavaForConditionalGeneration"
    assert be.hf_model.config.image_token_id is not None
    assert be.identity()["options"] == {"dtype": "auto"} and be.describe()["batch_size"] == 2


def test_missing_transformers_gives_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)
    be = HFBackend("x", GenerationSettings(), make_registry())
    with pytest.raises(MissingExtraError, match=r"mmad-eval\[hf\]"):
        be.load()


def test_model_generation_defaults_do_not_change_greedy_or_sampled_answers(loaded, image_files):
    """Only our settings decide decoding: a checkpoint's generation_config (Qwen2.5-VL ships
    repetition_penalty=1.05, top_k=1) must not bend greedy answers or collapse sampling, as vLLM and
    OpenAI-compatible runs with the same settings do not apply it either."""
    reg = make_registry()
    items = _items(reg, image_files)
    be = _with(loaded, registry=reg, generation=GenerationSettings(max_tokens=6), batch_size=4)
    clean = {k: r.text for k, r in run_backend(be, items).items()}
    gc = loaded.hf_model.generation_config
    saved = (gc.repetition_penalty, gc.top_k)
    try:
        gc.repetition_penalty, gc.top_k = 50.0, 1
        bent = {k: r.text for k, r in run_backend(be, items).items()}
        sampled = set()
        for seed in range(4):
            gen = GenerationSettings(max_tokens=6, temperature=1.0, seed=seed)
            sampled.add(run_backend(_with(loaded, registry=reg, generation=gen), items[:1])["k0"].text)
    finally:
        gc.repetition_penalty, gc.top_k = saved
    assert bent == clean
    assert len(sampled) > 1          # top_k=1 from the checkpoint would make every seed answer the same


def test_grouping_by_image_count_and_length_cuts_padding(loaded, image_files):
    reg = make_registry()
    # arrival order alternates short/long prompts and 1/2 images: the worst case for padding
    items = [(f"k{i}", make_request(reg, text=("Defect?" if i % 2 else "Describe the surface " * 12) +
                                    "\nA. Yes\nB. No", images=image_files[: 1 + (i // 2) % 2])) for i in range(16)]
    grouped = _with(loaded, registry=reg, batch_size=4)
    plain = _with(loaded, registry=reg, batch_size=4, group_by_length=False)
    a, b = run_backend(grouped, items), run_backend(plain, items)
    assert {k: r.text for k, r in a.items()} == {k: r.text for k, r in b.items()}
    g, p = grouped.stats(), plain.stats()
    assert g["token_slots"] - g["pad_tokens"] == p["token_slots"] - p["pad_tokens"]    # the same real tokens
    assert p["padding_fraction"] > 0.3 and g["padding_fraction"] < p["padding_fraction"] / 3
    assert g["grouped_by"] == "image count, prompt tokens" and p["grouped_by"] == "arrival order"
    # one image count per batch (4 of each shape)
    assert all(len({len(items[int(k[1:])][1].images()) for k in batch}) == 1
               for batch in _batches_of(a))


def _batches_of(responses):
    """Keys grouped by the batch they ran in."""
    out: dict = {}
    for k, r in responses.items():
        out.setdefault(r.extra["batch"], []).append(k)
    return list(out.values())


def test_images_are_decoded_one_batch_at_a_time(loaded, image_files, monkeypatch):
    """However many requests are pending, only the running batch's images are decoded and held."""
    import asyncio

    from mmad_eval.backends import hf_local

    reg = make_registry()
    items = [(f"k{i}", make_request(reg, text=f"Q{i}?\nA. Yes\nB. No", images=image_files[: 1 + i % 2]))
             for i in range(12)]
    be = _with(loaded, registry=reg, batch_size=3)
    converted, answered, most_held = [0], [0], [0]
    real = hf_local.to_hf

    def counting(request, images):
        converted[0] += 1
        most_held[0] = max(most_held[0], converted[0] - answered[0])
        return real(request, images)

    def emit(resp):
        assert resp.ok
        answered[0] += 1

    monkeypatch.setattr(hf_local, "to_hf", counting)
    asyncio.run(be.generate(items, emit))
    assert answered[0] == converted[0] == 12 and most_held[0] == 3
    assert be.stats()["batches"] == 4
