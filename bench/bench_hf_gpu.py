"""Batched vs one-at-a-time questions/s through HFBackend, for a 2B-class VLM with random weights, and the
padding fraction of its batches (grouped by image count and prompt length, and in arrival order).

The model is a LLaVA built from real layer sizes (CLIP ViT-L/14-336 vision tower: 576 tokens per image;
Qwen2-1.5B language model), about 1.9 B parameters, created with ``_from_config`` directly on the GPU in
bf16: random weights have the real model's speed, so no download is needed. Each question is an MMAD-style
prompt with 2 images (a normal template and the query) and about 100 text tokens; the processor (tokenizer
and image preprocessing) runs as in a real run.

    python bench/bench_hf_gpu.py                     # needs CUDA
    python bench/bench_hf_gpu.py --tiny              # CPU smoke run with a tiny model (numbers meaningless)
"""
from __future__ import annotations

import argparse
import asyncio
import datetime
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# MMAD-like questions of different lengths (anomaly detection is short, object analysis and defect
# description long): mixed in arrival order so batches without grouping carry padding
EXTRA = ["", "The object is a bottle seen from above. ", "Consider the shape, the colour, the texture and "
         "the printed marks of the object, and the position of every part relative to the others. " * 3]
QUESTION = ("Test image: is there any defect in the object? Compare the query with the normal template image "
            "shown first. Consider scratches, cracks, holes, stains, contamination, missing or misplaced parts "
            "and deformations, and answer with the letter of the correct option only.\nA. Yes\nB. No\n")


def build(tiny: bool, device: str):
    import torch
    import transformers as tf

    from mmad_eval.testing.tiny_vlm import make_processor

    if tiny:
        processor = make_processor(32, 8)
        vision = tf.CLIPVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                     num_attention_heads=2, image_size=32, patch_size=8)
        text = tf.LlamaConfig(vocab_size=512, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                              num_attention_heads=2, num_key_value_heads=2)
        dtype = torch.float32
    else:
        processor = make_processor(336, 14)
        vision = tf.CLIPVisionConfig(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24,
                                     num_attention_heads=16, image_size=336, patch_size=14, projection_dim=768)
        text = tf.Qwen2Config(vocab_size=151936, hidden_size=1536, intermediate_size=8960, num_hidden_layers=28,
                              num_attention_heads=12, num_key_value_heads=2, max_position_embeddings=32768,
                              rope_theta=1000000.0, tie_word_embeddings=True)
        dtype = torch.bfloat16
    tok = processor.tokenizer
    text.pad_token_id, text.bos_token_id, text.eos_token_id = tok.pad_token_id, tok.bos_token_id, tok.eos_token_id
    config = tf.LlavaConfig(vision_config=vision, text_config=text, image_token_id=tok.convert_tokens_to_ids("<image>"),
                            vision_feature_layer=-2, vision_feature_select_strategy="default")
    torch.manual_seed(0)
    with torch.device(device):
        model = tf.LlavaForConditionalGeneration._from_config(config, dtype=dtype)
    model.generation_config.eos_token_id = None      # always produce max_new_tokens: equal work per question
    return processor, model.eval()


def make_items(n: int, image_px: int, folder: Path):
    import numpy as np
    from PIL import Image

    from mmad_eval.prompt.images import ImageRegistry
    from mmad_eval.prompt.message import ImagePart, Message, Request, TextPart

    reg = ImageRegistry()
    rng = np.random.default_rng(0)
    items = []
    for i in range(n):
        shas = []
        for role in ("template", "query"):
            p = folder / f"{role}{i}.png"
            Image.fromarray(rng.integers(0, 255, (image_px, image_px, 3), dtype=np.uint8)).save(p)
            shas.append(ImagePart(reg.add_file(p), role=role))
        parts = (TextPart("Normal template image:"), shas[0], TextPart("Query image:"), shas[1],
                 TextPart(f"Question {i}. " + EXTRA[i % len(EXTRA)] + QUESTION))
        items.append((f"q{i}", Request(messages=(Message("user", parts),), qids=(f"q{i}",), options=(("A", "B"),))))
    return reg, items


def run_once(backend, items) -> float:
    got = []
    t0 = time.perf_counter()
    asyncio.run(backend.generate(items, got.append))
    elapsed = time.perf_counter() - t0
    bad = [r for r in got if not r.ok]
    if bad:
        raise SystemExit(f"{len(bad)} requests failed, first: {bad[0].error_type}: {bad[0].error_message}")
    return elapsed


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tiny", action="store_true", help="CPU smoke run with a tiny model")
    ap.add_argument("--batch-sizes", default="1,8,32,64")
    ap.add_argument("--questions", type=int, default=128, help="questions per batched measurement")
    ap.add_argument("--single-questions", type=int, default=16, help="questions for the batch-1 measurement")
    ap.add_argument("--new-tokens", type=int, default=8)
    ap.add_argument("--image-px", type=int, default=448)
    args = ap.parse_args(argv)
    try:
        import torch
        import transformers
    except ImportError as e:
        print(f"bench_hf_gpu: needs torch and transformers ({e})", file=sys.stderr)
        return 2
    if not args.tiny and not torch.cuda.is_available():
        print("bench_hf_gpu: no CUDA GPU (torch.cuda.is_available() is False); "
              "run on a GPU machine, or use --tiny for a CPU smoke run", file=sys.stderr)
        return 2
    from mmad_eval.backends.base import GenerationSettings
    from mmad_eval.backends.hf_local import HFBackend

    device = "cpu" if args.tiny else "cuda"
    t0 = time.perf_counter()
    processor, model = build(args.tiny, device)
    build_s = time.perf_counter() - t0
    n_params = sum(p.numel() for p in model.parameters())
    sizes = [int(x) for x in args.batch_sizes.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        reg, items = make_items(max(args.questions, args.single_questions), 32 if args.tiny else args.image_px,
                                Path(tmp))
        gen = GenerationSettings(temperature=0.0, max_tokens=args.new_tokens)
        batched = [bs for bs in sizes if bs > 1]
        runs = [(bs, True) for bs in sizes] + [(min(batched), False)] * bool(batched)
        for bs, grouped in runs:
            be = HFBackend("random-llava-2b", gen, reg, batch_size=bs, device=device, group_by_length=grouped)
            be.processor, be.hf_model = processor, model
            subset = items[: args.single_questions if bs == 1 else args.questions]
            run_once(be, subset[: min(bs, len(subset))])                     # warm-up
            if device == "cuda":
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
            be.pad_tokens = be.token_slots = 0
            elapsed = run_once(be, subset)
            peak = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else float("nan")
            rows.append((bs, len(subset), elapsed, len(subset) / elapsed, peak, be.stats()["padding_fraction"],
                         "grouped" if grouped else "arrival"))
    gpu = torch.cuda.get_device_name(0) if device == "cuda" else "CPU (--tiny smoke run; not a measurement)"
    base = rows[0][3] if rows and rows[0][0] == 1 else None
    print(f"# HFBackend batched generate, {datetime.date.today().isoformat()}, {gpu}")
    print(f"# torch {torch.__version__}, transformers {transformers.__version__}, model: random-weight LLaVA "
          f"{n_params / 1e9:.2f} B params ({'tiny' if args.tiny else 'CLIP-L/336 + Qwen2-1.5B sizes'}, "
          f"{'fp32' if args.tiny else 'bf16'}), built in {build_s:.1f} s")
    print(f"# each question: 2 images ({'32' if args.tiny else args.image_px} px), three prompt lengths mixed, "
          f"{args.new_tokens} new tokens (greedy); padding = pad slots / all token slots of the batches' inputs")
    print(f"{'batch':>6} {'order':>8} {'questions':>9} {'seconds':>8} {'q/s':>8} {'vs batch 1':>10} "
          f"{'padding':>8} {'peak GiB':>9}")
    for bs, n, el, qps, peak, pad, order in rows:
        ratio = f"{qps / base:.1f}x" if base else "-"
        print(f"{bs:>6} {order:>8} {n:>9} {el:>8.2f} {qps:>8.2f} {ratio:>10} {pad:>8.3f} {peak:>9.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
