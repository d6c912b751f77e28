"""Protocol presets: everything one of MMAD's official evaluation scripts fixes, as our typed settings.

Each preset was derived by reading the script's code in jam-cc/MMAD (``evaluation/examples/...``, commit
f9a0e6f; qwen2_5_vl_query.py at 08f81dd; the six added for issue 26 at bad03b4) and fixes: the prompt template (``prompts/official/``, byte for
byte), where each image goes, the asking mode, image handling, decoding, and how the script reads a letter
from a reply (``reference_*`` settings: what the MMAD-compatible score and the exported answers file use).
``mmad-eval`` is our own protocol (the defaults), not a script. Explicit command-line flags override a
preset's values; the run records the preset and which of its settings were overridden.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .settings import OWN_PRESET

REFUSAL_KEYWORDS = ("please", "sorry", "today", "cannot assist")   # the API scripts' error_keywords
QWEN_MIN_PIXELS, QWEN_MAX_PIXELS = 64 * 28 * 28, 1280 * 28 * 28


@dataclass(frozen=True)
class ProtocolPreset:
    name: str
    script: str                                   # the official script it reproduces ("" for ours)
    summary: str                                  # one line for `mmad-eval protocols`
    protocol: dict = field(default_factory=dict)  # ProtocolSettings fields
    images: dict = field(default_factory=dict)    # ImageSettings fields
    generation: dict = field(default_factory=dict)  # GenerationSettings fields
    backend_options: dict = field(default_factory=dict)   # defaults for the backend (flags still win)
    assumptions: tuple[str, ...] = ()             # where the script cannot run as released, or we differ

    def settings(self) -> dict:
        """Every setting the preset fixes, as ``section.field -> value`` (for listing and override records)."""
        out = {}
        for section in ("protocol", "images", "generation"):
            out.update({f"{section}.{k}": v for k, v in getattr(self, section).items()})
        out.update({f"backend.{k}": v for k, v in self.backend_options.items()})
        return out


_API_IMAGES = {"resize": "fit-area", "max_side": 512, "format": "jpeg", "jpeg_quality": 95, "detail": "low"}
_API_GEN = {"temperature": None, "seed": None, "refusal_keywords": REFUSAL_KEYWORDS}
_RAW_LETTER = ("a reply without any standalone A-E makes the script stop with an IndexError "
               "(gpt_answer[-1] of an empty list); we keep such a reply without a letter, so summary.py drops it")
_REMOTE = ("{model} runs on its own code (trust_remote_code or its own repository), not transformers' "
           "generic classes: serve it behind an OpenAI-compatible server (or a plugin backend) that applies its "
           "chat format; the preset fixes the text, images, decoding and parsing")
_CV2 = ("images: OpenCV's INTER_AREA resize and JPEG encoder are emulated with Pillow (BOX filter, quality 95); "
        "sizes are the script's int(w*s) x int(h*s), pixel values and JPEG bytes differ slightly")

PRESETS: dict[str, ProtocolPreset] = {p.name: p for p in (
    ProtocolPreset(
        OWN_PRESET, "", "ours (the defaults): MMAD's open-model prompt, one question per call, greedy, strict parser",
        assumptions=("our own protocol, not an official script: use it to compare models with each other, "
                     "an official preset to put a number next to MMAD's table",)),
    ProtocolPreset(
        "gpt4o", "evaluation/examples/GPT4/gpt4o.py",
        "GPT-4o script: questions 1..i per call, 512-px JPEG labelled by file extension, 200 tokens, "
        "API-default temperature, re-ask on refusal words, last letter of the reply",
        protocol={"prompt": "official/gpt4o", "references": "random", "shots": 1, "question_mode": "cumulative",
                  "reference_letter": "last", "reference_scope": "reply", "closest_option": False},
        images={**_API_IMAGES, "mime_label": "file-extension"},
        generation={**_API_GEN, "max_tokens": 200, "refusal_tries": 5},
        backend_options={"token_field": "max_tokens"},
        assumptions=(_RAW_LETTER, _CV2,
                     "a request that fails 5 times is recorded by the script as an empty answer; ours also "
                     "retries transport errors on its own (they do not count against the 5 tries)")),
    ProtocolPreset(
        "gpt4o-mini", "evaluation/examples/GPT4/gpt4o-mini.py",
        "GPT-4o-mini script: one question per call labelled 'Question {position}:', 512-px JPEG, 600 tokens, "
        "API-default temperature, re-ask on refusal words, last letter",
        protocol={"prompt": "official/gpt4o-mini", "references": "random", "shots": 1,
                  "question_mode": "independent", "reference_letter": "last", "reference_scope": "reply",
                  "closest_option": False},
        images=dict(_API_IMAGES), generation={**_API_GEN, "max_tokens": 600, "refusal_tries": 3},
        backend_options={"token_field": "max_tokens"}, assumptions=(_RAW_LETTER, _CV2)),
    ProtocolPreset(
        "gpt4v", "evaluation/examples/GPT4/gpt4v.py",
        "GPT-4V script: system instruction, questions 1..i per call as separate parts, 512-px JPEG, 600 tokens, "
        "API-default temperature, re-ask on refusal words, last letter",
        protocol={"prompt": "official/gpt4v", "references": "random", "shots": 1, "question_mode": "cumulative",
                  "reference_letter": "last", "reference_scope": "reply", "closest_option": False},
        images=dict(_API_IMAGES), generation={**_API_GEN, "max_tokens": 600, "refusal_tries": 3},
        backend_options={"token_field": "max_tokens"},
        assumptions=("the script's main cannot run as released (its ADDataset import is commented out, and "
                     "it reads DS-MVTec folders, not mmad.json); the preset asks mmad.json's questions with "
                     "its get_query and generate_answer",
                     "each question part also carries an 'options' field in the script's request; it is not "
                     "an OpenAI field and is not sent", _RAW_LETTER, _CV2)),
    ProtocolPreset(
        "qwen2.5-vl", "evaluation/examples/Transformers/qwen2_5_vl_query.py",
        "Qwen2.5-VL script: one question per call, parts joined by the chat template with 'Picture N:' labels, "
        "max_pixels 1280*28*28, 128 new tokens under the checkpoint's generation config, last letter then "
        "the closest option",
        protocol={"prompt": "official/qwen2.5-vl", "references": "random", "shots": 1,
                  "question_mode": "independent", "reference_letter": "last", "reference_scope": "reply",
                  "closest_option": True},
        images={"resize": "qwen-smart", "min_pixels": QWEN_MIN_PIXELS, "max_pixels": QWEN_MAX_PIXELS,
                "max_side": None, "format": "png"},
        generation={"temperature": None, "seed": None, "max_tokens": 128},
        assumptions=("the script cannot run as released: it imports GPT4Query and instruction from a missing "
                     "GPT4V.gpt4v module and calls parse_conversation(add_question_id=False), which "
                     "GPT4/gpt4v.py does not accept; the preset takes GPT4/gpt4v.py's instruction and writes "
                     "each question as 'Question: {text} \\n' + options (the unnumbered form of gpt4o.py)",
                     "'Picture N: ' (the chat template's add_vision_id) is written as text before each image; "
                     "with Qwen's chat template this gives the same tokens",
                     "temperature is left to the checkpoint's generation config (the script sets none) on the "
                     "hf backend; vLLM uses its own default unless it reads the generation config")),
    ProtocolPreset(
        "internvl", "evaluation/examples/Transformers/internvl_query.py",
        "InternVL2 script: one question per call in one string with <image> places, one 448x448 tile per "
        "image, greedy, 128 new tokens, last letter",
        protocol={"prompt": "official/internvl", "references": "random", "shots": 1,
                  "question_mode": "independent", "reference_letter": "last", "reference_scope": "reply",
                  "closest_option": False, "reference_strip": True},
        images={"resize": "square", "max_side": 448, "format": "png"},
        generation={"temperature": 0.0, "max_tokens": 128},
        backend_options={"conversation": "internvl2_chat"},
        assumptions=(_RAW_LETTER,
                     "the script calls InternVL's own model.chat; the internvl2_chat conversation "
                     "(prompts/conversations/internvl2_chat.j2) gives its format and system message, each image "
                     "in place with no newline after it (transformers' InternVL template adds one); InternVL2 "
                     "itself needs trust_remote_code (run it behind an OpenAI-compatible server, which gets the "
                     "conversation as vLLM's chat_template field); the hf backend takes InternVL-hf checkpoints")),
    ProtocolPreset(
        "llava", "evaluation/examples/LLaVA_Query/llava_query.py",
        "LLaVA script: one question per call in LLaVA's llava_v1 conversation with each image where the text "
        "puts it, options shuffled, 512-px images through JPEG, temperature 0.2 with transformers' top-k 50, "
        "64 new tokens, FIRST letter of the stripped reply then the closest option",
        protocol={"prompt": "official/llava", "references": "random", "shots": 1,
                  "question_mode": "independent", "option_order": "shuffle", "reference_letter": "first",
                  "reference_scope": "reply", "closest_option": True, "reference_strip": True},
        images={"resize": "fit-area", "max_side": 512, "format": "jpeg", "jpeg_quality": 95,
                "jpeg_roundtrip": True},
        generation={"temperature": 0.2, "top_p": None, "top_k": 50, "max_tokens": 64},
        backend_options={"conversation": "llava_v1"},
        assumptions=("the script shuffles options with Python's unseeded random.shuffle, which no run can "
                     "repeat; the preset shuffles with our seeded, per-question shuffle (--option-seed); its "
                     "sampling is unseeded too (ours: --seed)",
                     "the llava_v1 conversation (prompts/conversations/llava_v1.j2) replaces the checkpoint's chat "
                     "template on the hf and vllm backends, and is sent as vLLM's chat_template request field on "
                     "the openai backend; LLaVA's tokenizer_image_token tokenizes the text between images "
                     "separately (Llama's SentencePiece then starts each piece as a new word), ours tokenizes "
                     "the conversation once",
                     "covers LLaVA-1.5 checkpoints (e.g. llava-hf/llava-1.5-7b-hf): the script gives each image "
                     "one resized, centre-cropped 336-px view (CLIP preprocess), as transformers' LlavaProcessor "
                     "does; v1.6/NeXT/OneVision processors tile, so the hf backend refuses them with this preset",
                     _CV2)),
    ProtocolPreset(
        "gemini", "evaluation/examples/Gemini/gemini_query.py",
        "Gemini script: Anomaly Detection alone, then all other questions in one call, unnumbered, answered as "
        "a letter list aligned by order (an image whose count differs is dropped), 512-px JPEG, API defaults",
        protocol={"prompt": "official/gemini", "references": "random", "shots": 1,
                  "question_mode": "ad-then-rest", "reference_letter": "list", "reference_scope": "reply",
                  "closest_option": False},
        images={**_API_IMAGES, "mime_label": "file-extension", "detail": None},
        generation={"temperature": None, "seed": None, "max_tokens": 8192},
        backend_options={"token_field": "max_tokens"},
        assumptions=("the script calls google.generativeai with no generation config; the preset sends the "
                     "same parts through an OpenAI-compatible endpoint (e.g. Google's) and sets max_tokens "
                     "8192, gemini-1.5's default output limit",
                     "the script labels files that are neither .png nor .jpg as image/png; MMAD has only .png "
                     "and .jpg/.JPG files, labelled as the script does",
                     "a first reply without any letter stops the script (IndexError); we keep it without a "
                     "letter, so summary.py drops that answer", _CV2)),
    ProtocolPreset(
        "minicpm-v", "evaluation/examples/Transformers/minicpm_query.py",
        "MiniCPM-V-2.6 script: images first, then one string ('Image 1 is a normal sample'), one question per "
        "call labelled 'Question {position}:', full-size images, model.chat's sampling (temperature 0.7, top-p "
        "0.8, top-k 100, repetition penalty 1.05, 2048 tokens), last letter",
        protocol={"prompt": "official/minicpm-v", "references": "random", "shots": 1, "question_mode": "independent",
                  "reference_letter": "last", "reference_scope": "reply", "closest_option": False},
        images={"resize": "shrink", "max_side": None, "format": "png"},
        generation={"temperature": 0.7, "top_p": 0.8, "top_k": 100, "repetition_penalty": 1.05, "max_tokens": 2048},
        assumptions=(_REMOTE.format(model="MiniCPM-V-2.6 (openbmb/MiniCPM-V-2_6)"),
                     "model.chat joins the images and the text with newlines and slices each image itself; "
                     "vLLM's MiniCPM-V support joins its image placeholders and the text with newlines too",
                     "decoding is model.chat's default sampling (remote code, modeling_minicpmv.py; not re-read "
                     "for this preset: check it against your copy), unseeded in the script; ours is seeded (--seed)",
                     _RAW_LETTER)),
    ProtocolPreset(
        "internlm-xcomposer", "evaluation/examples/Transformers/internlm_xcomposer_query.py",
        "InternLM-XComposer2-VL script: one string with <ImageHere> places, no system prompt, images squeezed "
        "to 1008x1008, greedy, 1024 new tokens, repetition penalty 1.005, last letter",
        protocol={"prompt": "official/internlm-xcomposer", "references": "random", "shots": 1,
                  "question_mode": "independent", "reference_letter": "last", "reference_scope": "reply",
                  "closest_option": False},
        images={"resize": "square", "max_side": 1008, "format": "png"},
        generation={"temperature": 0.0, "repetition_penalty": 1.005, "max_tokens": 1024},
        assumptions=(_REMOTE.format(model="InternLM-XComposer2-VL-7B (internlm/internlm-xcomposer2-vl-7b)"),
                     "the script resizes every image to 1008x1008 with Pillow's default filter, then the model's "
                     "own vis_processor prepares it; the preset sends the 1008x1008 image",
                     "interleav_wrap_chat(meta_instruction='') wraps the text in XComposer's own turn markers",
                     _RAW_LETTER)),
    ProtocolPreset(
        "qwen-vl-chat", "evaluation/examples/Transformers/qwen_query.py",
        "Qwen-VL-Chat script: from_list_format parts with 'Picture N: ' before each image and a newline after, "
        "questions labelled 'Question {position}:', 448x448 images, the checkpoint's generation config, last "
        "letter then the closest option",
        protocol={"prompt": "official/qwen-vl-chat", "references": "random", "shots": 1,
                  "question_mode": "independent", "reference_letter": "last", "reference_scope": "reply",
                  "closest_option": True},
        images={"resize": "square", "max_side": 448, "format": "png"},
        generation={"temperature": None, "seed": None, "top_p": 0.3, "top_k": 0, "max_tokens": 512},
        assumptions=(_REMOTE.format(model="Qwen-VL-Chat (Qwen/Qwen-VL-Chat)"),
                     "Qwen-VL's tokenizer writes each image as 'Picture N: <img>path</img>' + newline; the preset "
                     "writes the label and newline as text around the image; the model resizes to 448x448 itself",
                     "decoding is the checkpoint's generation_config.json (top-p 0.3, top-k 0, 512 new tokens, "
                     "sampling, unseeded), sent explicitly; check it against your copy",
                     "a reply without a letter and no options left records the raw reply, which summary.py drops")),
    ProtocolPreset(
        "cambrian", "evaluation/examples/Cambrian_Query/cambrian_query.py",
        "Cambrian script (published 0-shot): llava_query.py's text plus 'Answer with the letter.', options "
        "shuffled, 512-px images through JPEG, temperature 0.2, 128 new tokens, FIRST letter then the closest option",
        protocol={"prompt": "official/cambrian", "references": "random", "shots": 0,
                  "question_mode": "independent", "option_order": "shuffle", "reference_letter": "first",
                  "reference_scope": "reply", "closest_option": True, "reference_strip": True},
        images={"resize": "fit-area", "max_side": 512, "format": "jpeg", "jpeg_quality": 95,
                "jpeg_roundtrip": True},
        generation={"temperature": 0.2, "top_p": None, "top_k": 50, "max_tokens": 128},
        assumptions=(_REMOTE.format(model="Cambrian-8B (nyu-visionx/cambrian-8b, its own repository)"),
                     "the script wraps the text in Cambrian's llama_3 conversation and prepares images with its "
                     "process_images for several vision towers; a server or plugin must do the same",
                     "options and sampling are unseeded in the script; ours are seeded (--option-seed, --seed)",
                     _CV2)),
    ProtocolPreset(
        "sphinx", "evaluation/examples/SPHINX_Query/sphinx_query.py",
        "SPHINX script (published 0-shot): the query image only, one string, questions labelled "
        "'Question {position}:', temperature 0.9, top-p 0.5, seed 0, 1024 tokens, last letter",
        protocol={"prompt": "official/sphinx", "references": "random", "shots": 0,
                  "question_mode": "independent", "reference_letter": "last", "reference_scope": "reply",
                  "closest_option": False},
        images={"resize": "shrink", "max_side": None, "format": "png"},
        generation={"temperature": 0.9, "top_p": 0.5, "seed": 0, "max_tokens": 1024},
        assumptions=(_REMOTE.format(model="SPHINX-v2-1k (LLaMA2-Accessory)"),
                     "the script passes only the query image (its few-shot templates never reach the model): "
                     "with --shots above 0 the preset refuses, as its template has no place for them",
                     _RAW_LETTER)),
    ProtocolPreset(
        "anomalygpt", "evaluation/examples/AnomalyGPT/anomalygpt_query.py",
        "AnomalyGPT script: one prompt per image that grows with every question (never reset), Anomaly "
        "Detection asked as 'Is there any anomaly in the image?' without options, options shuffled, "
        "temperature 0.01, top-p 0.1, 50 tokens, last letter then the closest option",
        protocol={"prompt": "official/anomalygpt", "references": "random", "shots": 1,
                  "question_mode": "cumulative", "option_order": "shuffle", "reference_letter": "last",
                  "reference_scope": "reply", "closest_option": True},
        images={"resize": "shrink", "max_side": None, "format": "png"},
        generation={"temperature": 0.01, "top_p": 0.1, "max_tokens": 50},
        assumptions=(_REMOTE.format(model="AnomalyGPT (its own repository; published row: train_mvtec weights)"),
                     "AnomalyGPT gets the query image and its normal image(s) as separate inputs; the request "
                     "carries them as parts with roles 'query' and 'template', query first",
                     "the script's prompt never resets between questions, so question i's prompt holds "
                     "questions 1..i (cumulative mode); with the script's --record_history it would differ again",
                     "options are shuffled unseeded in the script; ours are seeded (--option-seed)")),
)}


def get_preset(name: str) -> ProtocolPreset:
    from ..errors import ConfigError

    if name not in PRESETS:
        raise ConfigError(f"no protocol preset of that name; known: {', '.join(PRESETS)}", culprit=name)
    return PRESETS[name]
