"""A tiny random-weight LLaVA (about 50k parameters) built offline, for tests and ``bench --tiny``.

CLIP vision tower (32-px images, patch 8 -> 16 image tokens), a 2-layer Llama, a byte-level BPE tokenizer
trained here on a few lines, and a small chat template. Loads through ``AutoProcessor`` and
``AutoModelForImageTextToText`` like any hub model. Needs torch, transformers and tokenizers.
"""
from __future__ import annotations

from pathlib import Path

CHAT_TEMPLATE = (
    "{% for m in messages %}{{ m['role'].upper() }}: {% if m['content'] is string %}{{ m['content'] }}"
    "{% else %}{% for c in m['content'] %}{% if c['type'] == 'image' %}<image>{% elif c['type'] == 'text' %}"
    "{{ c['text'] }}{% endif %}{% endfor %}{% endif %}\n{% endfor %}{% if add_generation_prompt %}ASSISTANT:{% endif %}")
_CONTENT = ("{% if m['content'] is string %}{{ m['content'] }}{% else %}{% for c in m['content'] %}"
            "{% if c['type'] == 'image' %}<image>{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}"
            "{% endfor %}{% endif %}")
# A template that renders tools and tool calls as Qwen2.5/Qwen3 templates do (hermes <tool_call> blocks)
TOOLS_CHAT_TEMPLATE = (
    "{% if tools %}SYSTEM: You may call these tools:\n<tools>\n{% for t in tools %}{{ t | tojson }}\n{% endfor %}"
    "</tools>\nTo call one, write <tool_call>{\"name\": NAME, \"arguments\": {...}}</tool_call>\n{% endif %}"
    "{% for m in messages %}{% if m['role'] == 'tool' %}TOOL: <tool_response>{{ m['content'] }}</tool_response>\n"
    "{% elif m['role'] == 'assistant' and m['tool_calls'] is defined %}ASSISTANT: {{ m['content'] or '' }}"
    "{% for c in m['tool_calls'] %}<tool_call>{\"name\": \"{{ c['function']['name'] }}\", \"arguments\": "
    "{{ c['function']['arguments'] | tojson }}}</tool_call>{% endfor %}\n"
    "{% else %}{{ m['role'].upper() }}: " + _CONTENT + "\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}ASSISTANT:{% endif %}")
_CORPUS = ["Is there any defect in the object? A. Yes B. No", "USER: ASSISTANT: Answer with the option letter.",
           "top left bottom right center scratch crack hole stain contamination", "Image of a normal sample."]


def make_processor(image_size: int = 32, patch_size: int = 8, chat_template: str = CHAT_TEMPLATE):
    """A LlavaProcessor: BPE tokenizer trained here, CLIP-style image processor, the small chat template."""
    import transformers as tf
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    specials = ["<pad>", "<s>", "</s>", "<unk>", "<image>"]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(_CORPUS * 10, trainers.BpeTrainer(
        vocab_size=300, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = tf.PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", bos_token="<s>", eos_token="</s>",
                                      unk_token="<unk>", extra_special_tokens={"image_token": "<image>"})
    image_processor_cls = getattr(tf, "CLIPImageProcessorPil", None) or tf.CLIPImageProcessor
    image_processor = image_processor_cls(size={"shortest_edge": image_size},
                                          crop_size={"height": image_size, "width": image_size})
    return tf.LlavaProcessor(image_processor=image_processor, tokenizer=fast, patch_size=patch_size,
                             vision_feature_select_strategy="default", chat_template=chat_template,
                             num_additional_image_tokens=1)


def build_tiny_llava(folder: Path, seed: int = 0, chat_template: str = CHAT_TEMPLATE) -> Path:
    """Write the model and processor to ``folder`` (created) and return it; ``chat_template`` is the
    processor's and the tokenizer's (e.g. :data:`TOOLS_CHAT_TEMPLATE`, which renders tools)."""
    import torch
    import transformers as tf

    processor = make_processor(32, 8, chat_template)
    fast = processor.tokenizer
    vision = tf.CLIPVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                                 image_size=32, patch_size=8, projection_dim=16)
    text = tf.LlamaConfig(vocab_size=len(fast), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                          num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512,
                          pad_token_id=fast.pad_token_id, bos_token_id=fast.bos_token_id,
                          eos_token_id=fast.eos_token_id)
    config = tf.LlavaConfig(vision_config=vision, text_config=text, image_token_id=fast.convert_tokens_to_ids("<image>"),
                            vision_feature_layer=-1, vision_feature_select_strategy="default")
    torch.manual_seed(seed)
    model = tf.LlavaForConditionalGeneration(config)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder
