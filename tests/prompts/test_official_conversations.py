"""What reaches the model under the llava and internvl presets is what the scripts give theirs: the script's
conversation text with each image in place (tokens checked on the tiny LLaVA model), the script's sampling,
and replies read as the scripts read them (stripped or not)."""
from __future__ import annotations

import pytest

import official_scripts as ref
from test_official_presets import CONV_DEFECT, CONV_GOOD, QUERY_JPG, QUERY_PNG, data, expected, requests_for  # noqa: F401
from mmad_eval.errors import ConfigError
from mmad_eval.prompt.conversations import check_architecture, check_processor, get_conversation
from mmad_eval.run.protocol_presets import PRESETS
from mmad_eval.settings import GenerationSettings

torch = pytest.importorskip("torch")
tf = pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

from mmad_eval.backends.convert import to_hf  # noqa: E402
from mmad_eval.backends.hf_local import HFBackend  # noqa: E402
from mmad_eval.testing.tiny_vlm import build_tiny_llava  # noqa: E402

LLAVA_V1_SYSTEM = ("A chat between a curious human and an artificial intelligence assistant. The assistant gives "
                   "helpful, detailed, and polite answers to the human's questions.")
IMAGE_TOKENS = 16        # the tiny model: 32-px images, patch 8


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return str(build_tiny_llava(tmp_path_factory.mktemp("tiny_llava")))


def _script_text(parts: list) -> str:
    """The script's one string: its text with '<image>' where each image goes."""
    return "".join(v if kind == "text" else "<image>" for kind, v in parts)


def _model_inputs(tiny, data, key, *flags):
    """input_ids and generate() keywords per request of the llava preset, one request per batch."""
    by_image, registry, settings, _ = requests_for("llava", data, None, *flags)
    be = HFBackend(tiny, settings.generation, registry, device="cpu", dtype="float32", batch_size=1,
                   conversation=PRESETS["llava"].backend_options["conversation"])
    be.load()
    seen, original = [], be.hf_model.generate

    def spy(**kw):
        seen.append(kw)
        return original(**kw)

    be.hf_model.generate = spy
    for request in by_image[key]:
        be._run_batch([("k", request, to_hf(request, registry))])
    return seen, be.processor.tokenizer


@pytest.mark.parametrize("key, conv, flags", [(QUERY_PNG, CONV_DEFECT, ()), (QUERY_JPG, CONV_GOOD, ()),
                                              (QUERY_PNG, CONV_DEFECT, ("--shots", "0"))])
def test_llava_tokens_are_the_llava_v1_conversation_with_images_in_place(tiny, data, key, conv, flags):
    seen, tok = _model_inputs(tiny, data, key, *flags)
    shots = 0 if flags else 1
    want = expected("llava", conv, key, data, shots=shots)
    assert len(seen) == len(want)
    for kw, (messages, _) in zip(seen, want):
        (_, parts), = messages
        qs = _script_text(parts)        # conv_llava_v1 (SeparatorStyle.TWO): system, " ", USER: qs " ", ASSISTANT:
        prompt = tok.bos_token + LLAVA_V1_SYSTEM + " " + "USER" + ": " + qs + " " + "ASSISTANT" + ":"
        ids = tok(prompt.replace("<image>", "<image>" * IMAGE_TOKENS), add_special_tokens=False)["input_ids"]
        assert kw["input_ids"][0].tolist() == ids
        assert kw["pixel_values"].shape[0] == shots + 1
        # llava_query.py: do_sample, temperature 0.2, top_p None (transformers: 1.0), top_k unset (50), 64 tokens
        assert (kw["do_sample"], kw["temperature"], kw["top_p"], kw["top_k"], kw["max_new_tokens"]) == (
            True, 0.2, 1.0, 50, 64)


def test_the_checkpoints_own_template_would_put_images_first(tiny, data):
    """The bug the conversation fixes: the checkpoint's template loses the script's image places."""
    by_image, registry, _, _ = requests_for("llava", data)
    processor = tf.AutoProcessor.from_pretrained(tiny)
    conv = to_hf(by_image[QUERY_PNG][0], registry)
    own = processor.apply_chat_template(conv, tokenize=False, add_generation_prompt=True)
    ours = processor.apply_chat_template(conv, tokenize=False, add_generation_prompt=True,
                                         chat_template=get_conversation("llava_v1").template())
    assert "normal sample:<image>\nTest image: \n<image>\nFollowing" in ours
    assert ours.startswith("<s>" + LLAVA_V1_SYSTEM + " USER: \nYou are") and ours.endswith(" ASSISTANT:")
    assert own != ours


def test_a_checkpoint_whose_processor_tiles_is_refused(tiny):
    tok = tf.AutoProcessor.from_pretrained(tiny).tokenizer
    nxt = tf.LlavaNextProcessor(image_processor=tf.LlavaNextImageProcessor(), tokenizer=tok, patch_size=8,
                                vision_feature_select_strategy="default")
    with pytest.raises(ConfigError, match="LLaVA-1.5 checkpoints.*LlavaNextProcessor"):
        check_processor("llava_v1", nxt, "llava-hf/llava-v1.6-mistral-7b-hf")
    for config, ok in ((tf.LlavaConfig(), True), (tf.LlavaNextConfig(), False), (tf.LlavaOnevisionConfig(), False)):
        config.architectures = [type(config).__name__.replace("Config", "ForConditionalGeneration")]
        if ok:
            check_architecture("llava_v1", config, "m")      # what the vllm backend checks before loading
        else:
            with pytest.raises(ConfigError, match=r"LLaVA-1.5 checkpoints.*architecture is Llava(Next|Onevision)"):
                check_architecture("llava_v1", config, "m")
    be = HFBackend(tiny, GenerationSettings(), None, device="cpu", conversation="internvl2_chat")
    with pytest.raises(ConfigError, match="processor is LlavaProcessor"):
        be.load()


INTERNVL2_SYSTEM = "你是由上海人工智能实验室联合商汤科技开发的书生多模态大模型，英文名叫InternVL, 是一个有用无害的人工智能助手。"


@pytest.mark.parametrize("key, conv, placeholder", [(QUERY_PNG, CONV_DEFECT, None), (QUERY_JPG, CONV_GOOD, None),
                                                    (QUERY_PNG, CONV_DEFECT, "<IMG_CONTEXT>")])
def test_internvl_conversation_is_model_chats_prompt(tiny, data, key, conv, placeholder):
    """internvl_query.py's model.chat: internlm2-chat/Hermes-2 (MPT separators) around the script's string, each
    <image> in place (model.chat and vLLM expand '<image>'; the hf backend passes InternVL-hf's <IMG_CONTEXT>)."""
    by_image, registry, _, _ = requests_for("internvl", data)
    tok = tf.AutoProcessor.from_pretrained(tiny).tokenizer
    template = get_conversation(PRESETS["internvl"].backend_options["conversation"]).template()
    extra = {"image_placeholder": placeholder} if placeholder else {}
    for request, (messages, _) in zip(by_image[key], expected("internvl", conv, key, data)):
        (_, parts), = messages
        query = _script_text(parts)
        want = ("<|im_start|>system\n" + INTERNVL2_SYSTEM + "<|im_end|>" + "<|im_start|>user\n" + query
                + "<|im_end|>" + "<|im_start|>assistant\n").replace("<image>", placeholder or "<image>")
        got = tok.apply_chat_template(to_hf(request, registry), chat_template=template, tokenize=False,
                                      add_generation_prompt=True, **extra)
        assert got == want


@pytest.mark.parametrize("preset, reply, letter", [
    ("qwen2.5-vl", " stain ", "D"),      # qwen2_5_vl_query.py does not strip: difflib sees the spaces
    ("qwen2.5-vl", "stain", "A"),
    ("llava", " stain ", None),          # llava_query.py strips first (shown options differ: checked below)
])
def test_replies_are_read_stripped_only_where_the_script_strips(preset, reply, letter):
    from mmad_eval.parse.stage import ReferenceRule

    options = {"A": "Contamination.", "B": "Broken large.", "C": "Scratch.", "D": "Missing cap."}
    rule = ReferenceRule.of(PRESETS[preset].protocol)
    got = rule.letter(reply, reply, 0, 1, options)
    if letter is None:
        assert got == ReferenceRule.of(PRESETS["qwen2.5-vl"].protocol).letter(reply.strip(), None, 0, 1, options)
    else:
        assert got == letter


def test_hf_backend_keeps_the_reply_as_decoded(tiny, data):
    """No strip in the backend: whether the reply is stripped is the preset's reference_strip."""
    by_image, registry, _, _ = requests_for("qwen2.5-vl", data)
    be = HFBackend(tiny, GenerationSettings(temperature=0.0, max_tokens=8), registry, device="cpu",
                   dtype="float32", batch_size=1)
    be.load()
    decoded, original = [], be.processor.tokenizer.batch_decode

    def spy(*a, **kw):
        decoded.append(original(*a, **kw))
        return decoded[-1]

    be.processor.tokenizer.batch_decode = spy
    texts = []
    for request in by_image[QUERY_PNG] + by_image[QUERY_JPG]:
        (resp,) = be._run_batch([("k", request, to_hf(request, registry))])
        texts.append(resp.text)
    assert texts == [d[0] for d in decoded] and len(texts) == 5


def test_an_openai_compatible_server_gets_the_conversation_and_sampling(data):
    """On the openai backend (e.g. `vllm serve llava-hf/llava-1.5-7b-hf`), the conversation travels as vLLM's
    chat_template request field, top_k and repetition_penalty as its sampling extensions; none when unset."""
    from mmad_eval.backends.openai_api import OpenAIBackend
    from mmad_eval.commands.run import backend_options

    for preset, want in (("llava", {"top_k": 50}), ("internlm-xcomposer", {"repetition_penalty": 1.005}),
                         ("qwen-vl-chat", {"top_k": -1}), ("gpt4o", {})):   # our top_k 0 (no cut) is their -1
        by_image, registry, settings, args = requests_for(preset, data)
        be = OpenAIBackend("m", settings.generation, registry, base_url="http://127.0.0.1:9/v1", **backend_options(args))
        body = be.payload(by_image[QUERY_PNG][0])
        assert {k: body[k] for k in ("top_k", "repetition_penalty") if k in body} == want
        conversation = PRESETS[preset].backend_options.get("conversation")
        assert body.get("chat_template") == (get_conversation(conversation).template() if conversation else None)
