"""The 22 published rows of MMAD's ``all_result/`` (jam-cc/MMAD bad03b4): for each, the protocol preset, model
id and command that reproduce it, and what is known to differ. ``mmad-eval protocols --published`` lists them.

Averages are the CSVs' "Average" row, Average column (summary.py's headline), rounded to two decimals.
"""
from __future__ import annotations

from dataclasses import dataclass

SERVE = "serve it with `vllm serve {model}{flags}` (an OpenAI-compatible server), then: "
PLUGIN = ("its own code only (no transformers or vLLM support): wrap it in an OpenAI-compatible server or a plugin "
          "backend that applies the model's own format, then: ")
UNSEEDED = "the script shuffles options and samples unseeded (ours: seeded), so no run repeats it exactly"
CV2 = "OpenCV resize/JPEG emulated with Pillow (pixel values differ slightly)"
RETIRED = "the model is no longer served by its provider, so the row cannot be re-measured"
GEMINI = "https://generativelanguage.googleapis.com/v1beta/openai/ --api-key-env GEMINI_API_KEY"
ANTHROPIC = "https://api.anthropic.com/v1/ --api-key-env ANTHROPIC_API_KEY"
QWEN2 = ("no Qwen2-VL script is in the release (qwen2_5_vl_query.py came later and does not run as released); "
         "its CSV lacks the Overkill/Miss columns of the other rows, so another script version produced it; "
         "the qwen2.5-vl preset is the closest")


@dataclass(frozen=True)
class PublishedRow:
    csv: str              # file name in all_result/
    model: str            # as the CSV names it
    shots: int
    average: float
    preset: str           # protocol preset (mmad-eval protocols NAME)
    model_id: str         # hub id or API model name
    backend: str          # hf | server (local OpenAI-compatible server) | openai | gemini | anthropic
    how: str = ""         # how to serve it, before the command
    differences: tuple[str, ...] = ()

    def command(self) -> str:
        """The `mmad-eval run` line (data root and output folder are the user's)."""
        kind = "hf" if self.backend == "hf" else "openai"
        flags = {"server": " --base-url http://127.0.0.1:8000/v1", "gemini": f" --base-url {GEMINI}",
                 "anthropic": f" --base-url {ANTHROPIC}"}.get(self.backend, "")
        return f"mmad-eval run --questions mmad.json --protocol {self.preset} --model {kind}:{self.model_id}{flags}"


def _row(stem: str, model: str, shots: int, average: float, preset: str, model_id: str, backend: str,
         how: str = "", *differences: str) -> PublishedRow:
    return PublishedRow(f"answers_{shots}_shot_{stem}_accuracy.csv" if not stem.endswith("_test1")
                        else f"answers_{shots}_shot_{stem[:-6]}_accuracy_test1.csv",
                        model, shots, average, preset, model_id, backend, how, differences)


_LLAVA_REPO = ("the script ran LLaVA's own code (llava_v1 conversation, CLIP preprocess: one 336-px centre crop "
               "per image); the hf backend reproduces it for LLaVA-1.5 checkpoints")
_NOT_15 = ("transformers' processor for this checkpoint tiles images (the script gave one view per image), so "
           "the hf backend refuses it under the llava preset; reproduce it with LLaVA-NeXT's code behind a "
           "server or plugin backend; which --conv-mode the authors passed is not recorded (llava_v1 by default)")

PUBLISHED_ROWS: tuple[PublishedRow, ...] = (
    _row("SPHINX-v2-1k", "SPHINX-v2-1k", 0, 59.96, "sphinx", "SPHINX-v2-1k", "server", PLUGIN,
         "LLaMA2-Accessory's SPHINX (quantised in the script: quant=True) applies its own conversation"),
    _row("cambrian-8b", "cambrian-8b", 0, 51.64, "cambrian", "nyu-visionx/cambrian-8b", "server", PLUGIN,
         UNSEEDED, CV2, "Cambrian's llama_3 conversation and multi-encoder image processing are its own"),
    _row("AnomalyGPT_train_mvtec", "AnomalyGPT (train_mvtec)", 1, 36.20, "anomalygpt", "AnomalyGPT-train_mvtec",
         "server", PLUGIN, UNSEEDED, "AnomalyGPT takes the query and normal images as separate inputs"),
    _row("InternVL2-8B", "InternVL2-8B", 1, 63.14, "internvl", "OpenGVLab/InternVL2-8B", "server",
         SERVE.format(model="OpenGVLab/InternVL2-8B", flags=" --trust-remote-code"),
         "the server gets the internvl2_chat conversation as its chat_template field; the script ran "
         "model.chat in bfloat16 with torchvision's resize, ours Pillow's"),
    _row("InternVL2-Llama3-76B", "InternVL2-Llama3-76B", 1, 70.75, "internvl", "OpenGVLab/InternVL2-Llama3-76B",
         "server", SERVE.format(model="OpenGVLab/InternVL2-Llama3-76B", flags=" --trust-remote-code"),
         "its Hermes-2 conversation has the same format and system message as internvl2_chat"),
    _row("MiniCPM-V-2_6", "MiniCPM-V-2.6", 1, 66.25, "minicpm-v", "openbmb/MiniCPM-V-2_6", "server",
         SERVE.format(model="openbmb/MiniCPM-V-2_6", flags=" --trust-remote-code"),
         "model.chat samples unseeded (ours seeded); image slicing is the server's, as model.chat's"),
    _row("Qwen-VL-Chat", "Qwen-VL-Chat", 1, 51.66, "qwen-vl-chat", "Qwen/Qwen-VL-Chat", "server", PLUGIN,
         "vLLM's Qwen-VL support puts 'Picture N: <img></img>' placeholders before the text, not in place: "
         "use a plugin that keeps the script's interleaving", "sampling (top-p 0.3) unseeded in the script"),
    _row("Qwen2-VL-72B-Instruct_test1", "Qwen2-VL-72B-Instruct", 1, 78.62, "qwen2.5-vl",
         "Qwen/Qwen2-VL-72B-Instruct", "server", SERVE.format(model="Qwen/Qwen2-VL-72B-Instruct", flags=""), QWEN2,
         "the file name's '_test1' is not explained in the release"),
    _row("Qwen2-VL-7B-Instruct", "Qwen2-VL-7B-Instruct", 1, 73.38, "qwen2.5-vl", "Qwen/Qwen2-VL-7B-Instruct", "hf",
         "", QWEN2),
    _row("Qwen2.5-VL-72B-Instruct-AWQ", "Qwen2.5-VL-72B-Instruct-AWQ", 1, 76.96, "qwen2.5-vl",
         "Qwen/Qwen2.5-VL-72B-Instruct-AWQ", "server", SERVE.format(model="Qwen/Qwen2.5-VL-72B-Instruct-AWQ", flags=""),
         "qwen2_5_vl_query.py does not run as released (see the preset's notes); vLLM's AWQ kernels differ "
         "from the authors' (unrecorded) runtime"),
    _row("Qwen2.5-VL-7B-Instruct", "Qwen2.5-VL-7B-Instruct", 1, 72.19, "qwen2.5-vl", "Qwen/Qwen2.5-VL-7B-Instruct",
         "hf", "", "qwen2_5_vl_query.py does not run as released (see the preset's notes)"),
    _row("claude-3-5-sonnet-20241022", "claude-3-5-sonnet-20241022", 1, 68.36, "gpt4o", "claude-3-5-sonnet-20241022",
         "anthropic", "through Anthropic's OpenAI-compatible endpoint: ",
         "no Claude script is in the release: the gpt4o preset is a guess at the protocol, not a reproduction",
         RETIRED + " once Anthropic retires the snapshot"),
    _row("gemini-1.5-flash", "gemini-1.5-flash", 1, 68.90, "gemini", "gemini-1.5-flash", "gemini",
         "through Google's OpenAI-compatible endpoint: ",
         "the script used google.generativeai with no generation config; the endpoint gets max_tokens 8192", RETIRED),
    _row("gemini-1.5-pro", "gemini-1.5-pro", 1, 73.09, "gemini", "gemini-1.5-pro", "gemini",
         "through Google's OpenAI-compatible endpoint: ",
         "the script used google.generativeai with no generation config; the endpoint gets max_tokens 8192", RETIRED),
    _row("gpt-4o-mini", "gpt-4o-mini", 1, 66.29, "gpt4o-mini", "gpt-4o-mini", "openai", "",
         "API default temperature (unseeded); which snapshot answered is not recorded (gpt-4o-mini-2024-07-18 "
         "was the only one then)", CV2),
    _row("gpt-4o", "gpt-4o", 1, 74.31, "gpt4o", "gpt-4o", "openai", "",
         "API default temperature (unseeded); which gpt-4o snapshot answered is not recorded; the paper prints "
         "74.92, the CSV 74.31", CV2),
    _row("internlm-xcomposer2-vl-7b", "InternLM-XComposer2-VL-7B", 1, 61.73, "internlm-xcomposer",
         "internlm/internlm-xcomposer2-vl-7b", "server", PLUGIN,
         "the script's autocast half precision and the model's own vis_processor"),
    _row("llava-next-interleave-qwen-7b-dpo", "llava-next-interleave-qwen-7b-dpo", 1, 59.32, "llava",
         "llava-hf/llava-interleave-qwen-7b-dpo-hf", "hf", "", _LLAVA_REPO, UNSEEDED,
         "the script ran LLaVA-NeXT's code; which --conv-mode was passed is not recorded (llava_v1 by default, "
         "which the preset uses); its SigLIP preprocess and transformers' LlavaProcessor both give one 384-px view"),
    _row("llava-onevision-qwen2-7b-si", "LLaVA-OneVision-7B-si", 1, 63.27, "llava",
         "lmms-lab/llava-onevision-qwen2-7b-si", "server", PLUGIN, _NOT_15, UNSEEDED),
    _row("llava-v1.5-13b", "llava-v1.5-13b", 1, 58.68, "llava", "llava-hf/llava-1.5-13b-hf", "hf", "", _LLAVA_REPO,
         UNSEEDED, CV2, "LLaVA's tokenizer_image_token tokenizes the text between images separately"),
    _row("llava-v1.5-7b", "llava-v1.5-7b", 1, 54.74, "llava", "llava-hf/llava-1.5-7b-hf", "hf", "", _LLAVA_REPO,
         UNSEEDED, CV2, "LLaVA's tokenizer_image_token tokenizes the text between images separately"),
    _row("llava-v1.6-34b", "llava-v1.6-34b", 1, 67.16, "llava", "liuhaotian/llava-v1.6-34b", "server", PLUGIN,
         _NOT_15, UNSEEDED, "the script's default conversation llava_v1 is not v1.6-34b's own (chatml_direct)"),
)
