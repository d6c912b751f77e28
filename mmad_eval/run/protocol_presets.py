"""Protocol presets: everything one of MMAD's official evaluation scripts fixes, as our typed settings.

Each preset was derived by reading the script's code in jam-cc/MMAD (``evaluation/examples/...``, commit
f9a0e6f; qwen2_5_vl_query.py at 08f81dd) and fixes: the prompt template (``prompts/official/``, byte for
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
                  "closest_option": False},
        images={"resize": "square", "max_side": 448, "format": "png"},
        generation={"temperature": 0.0, "max_tokens": 128},
        assumptions=(_RAW_LETTER,
                     "the script calls InternVL's own model.chat (its conversation template and system prompt); "
                     "our backends use the checkpoint's chat template around the same text")),
    ProtocolPreset(
        "llava", "evaluation/examples/LLaVA_Query/llava_query.py",
        "LLaVA script: one question per call, options shuffled, 512-px images through JPEG, temperature 0.2, "
        "64 new tokens, FIRST letter then the closest option",
        protocol={"prompt": "official/llava", "references": "random", "shots": 1,
                  "question_mode": "independent", "option_order": "shuffle", "reference_letter": "first",
                  "reference_scope": "reply", "closest_option": True},
        images={"resize": "fit-area", "max_side": 512, "format": "jpeg", "jpeg_quality": 95,
                "jpeg_roundtrip": True},
        generation={"temperature": 0.2, "top_p": None, "max_tokens": 64},
        assumptions=("the script shuffles options with Python's unseeded random.shuffle, which no run can "
                     "repeat; the preset shuffles with our seeded, per-question shuffle (--option-seed)",
                     "the script runs LLaVA's own conversation template (llava_v1) and sampling (top_k "
                     "unset); our backends use the checkpoint's chat template and sample without a top-k cut",
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
)}


def get_preset(name: str) -> ProtocolPreset:
    from ..errors import ConfigError

    if name not in PRESETS:
        raise ConfigError(f"no protocol preset of that name; known: {', '.join(PRESETS)}", culprit=name)
    return PRESETS[name]
