"""transformers backend: ``AutoProcessor`` + ``AutoModelForImageTextToText``, batched greedy/sampled
``generate`` with left padding. Requests are grouped by image count and estimated prompt length (text tokens
plus the processor's image-token count) so a batch wastes little on padding; the padding fraction (pad
slots / all token slots of the batches' inputs) is measured and recorded with the run. Only the new tokens
are decoded. Needs transformers >= 5.17 (``dtype=``, ``processor_kwargs`` in ``apply_chat_template``).

Agent mode: requests that offer tools go through ``apply_chat_template(..., tools=[...])`` (the template must
render them: checked once before the run) and their replies are read for tool calls in the
``tool_call_format`` option's format (:mod:`.template_tools`).
"""
from __future__ import annotations

import asyncio
import time
from typing import Sequence

from ..errors import ConfigError, MissingExtraError, MmadError
from ..prompt.conversations import check_processor, get_conversation
from ..prompt.message import Request
from ..prompt.tools import function_tools
from .base import Backend, Emit, Response, load_failure
from .convert import letter_logprobs, request_letters, to_hf
from .likelihood import letter_token_ids, pooled_logprobs
from .template_tools import by_tools, check_renders_tools, format_options, tool_call_format, with_tool_calls

DTYPES = ("auto", "float32", "float16", "bfloat16")


class HFBackend(Backend):
    """Options: ``batch_size`` (8), ``dtype`` (``auto``/``bfloat16``/``float16``/``float32``), ``device``
    (e.g. ``cuda``, ``cpu``; default cuda when available) or ``device_map`` (e.g. ``auto``, needs accelerate),
    ``trust_remote_code``, ``attn_implementation``, ``revision``, ``chat_template`` (Jinja string),
    ``conversation`` (a shipped conversation template's name, e.g. ``llava_v1``: used instead of the checkpoint's
    chat template; a checkpoint whose processor handles images otherwise is refused),
    ``processor_kwargs`` (e.g. ``{"max_pixels": ...}``), ``top_logprobs`` (20), ``group_by_length`` (True;
    False keeps the arrival order, for comparisons), ``tool_call_format`` (agent mode: ``hermes`` or ``json``)."""

    kind = "hf"
    supports_tools = True    # with a tool_call_format and a chat template that renders tools (check_tools)

    def __init__(self, model, generation, images, **options):
        super().__init__(model, generation, images, **options)
        self.batch_size = max(1, int(options.get("batch_size", 8)))
        self.dtype = options.get("dtype", "auto")
        if self.dtype not in DTYPES:
            raise ConfigError(f"dtype must be one of {', '.join(DTYPES)}", culprit=str(self.dtype))
        self.top_logprobs = int(options.get("top_logprobs", 20))
        self._letter_ids: dict[tuple, dict[str, list[int]]] = {}
        self.tool_call_format = tool_call_format(options, self.kind)
        self.processor = None
        self.hf_model = None
        self.group_by_length = bool(options.get("group_by_length", True))
        self.last_batches: list[int] = []      # sizes of the batches of the last generate (for tests/benches)
        self.pad_tokens = 0                    # pad slots / all token slots of every batch's input_ids
        self.token_slots = 0

    def answer_options(self) -> dict:
        out = {"dtype": self.dtype}
        for k in ("revision", "chat_template", "conversation", "processor_kwargs", "attn_implementation"):
            if self.options.get(k) is not None:
                out[k] = self.options[k]
        return {**out, **format_options(self.tool_call_format, self.context.tools)}

    def gpus_per_copy(self) -> float:
        """One GPU unless told to run on the CPU (more with ``--gpus-per-worker`` and ``device_map=auto``)."""
        device = str(self.options.get("device_map") or self.options.get("device") or "cuda")
        return 0.0 if device.startswith("cpu") else 1.0

    def describe(self) -> dict:
        d = dict(self.identity())
        d["batch_size"] = self.batch_size
        d["group_by_length"] = self.group_by_length
        d["device"] = self.options.get("device_map") or self.options.get("device") or "auto-select"
        return d

    # -- loading ---------------------------------------------------------------------------------------
    def _common(self) -> dict:
        common = {"trust_remote_code": bool(self.options.get("trust_remote_code", False))}
        if self.options.get("revision"):
            common["revision"] = self.options["revision"]
        return common

    def load_processor(self):
        if self.processor is not None:
            return
        try:
            import transformers
        except ImportError as e:
            raise MissingExtraError(e.name or "transformers", "hf") from None
        o = self.options
        try:
            self.processor = transformers.AutoProcessor.from_pretrained(self.model, **self._common(),
                                                                        **(o.get("processor_kwargs") or {}))
        except (MmadError, MemoryError, KeyboardInterrupt):
            raise
        except Exception as e:  # noqa: BLE001 - a missing, gated or unsupported checkpoint: one line
            raise load_failure("processor", f"{self.kind}:{self.model}", e) from None
        if o.get("conversation"):
            check_processor(o["conversation"], self.processor, self.model)
        tokenizer = getattr(self.processor, "tokenizer", self.processor)
        tokenizer.padding_side = "left"
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token

    def load(self):
        if self.hf_model is not None:
            return
        try:
            import torch
            import transformers
        except ImportError as e:
            raise MissingExtraError(e.name or "transformers", "hf") from None
        self.load_processor()
        o = self.options
        kw = self._common()
        kw["dtype"] = self.dtype if self.dtype == "auto" else getattr(torch, self.dtype)
        if o.get("attn_implementation"):
            kw["attn_implementation"] = o["attn_implementation"]
        if o.get("device_map"):
            kw["device_map"] = o["device_map"]
        try:
            model = transformers.AutoModelForImageTextToText.from_pretrained(self.model, **kw)
        except (MmadError, MemoryError, KeyboardInterrupt):
            raise
        except Exception as e:  # noqa: BLE001 - e.g. a text-only checkpoint, or weights that do not match
            raise load_failure("model as AutoModelForImageTextToText", f"{self.kind}:{self.model}", e) from None
        if not o.get("device_map"):
            device = o.get("device") or ("cuda" if torch.cuda.is_available() else "cpu")
            model = model.to(device)
        self.hf_model = model.eval()

    # -- generation ------------------------------------------------------------------------------------
    async def generate(self, items: Sequence[tuple[str, Request]], emit: Emit) -> None:
        """Batches of ``batch_size`` (grouped by image count and prompt tokens, estimated from the prompts and
        the images' headers); each batch's images are decoded only when it runs, so memory holds one batch's
        images however many requests are pending."""
        if not items:
            return
        await asyncio.to_thread(self.load)
        self.last_batches = []
        for group in by_tools(items):         # one tool list per template call
            if self.group_by_length:   # similar sizes together: fewer pad tokens per batch
                keys = await asyncio.to_thread(self._size_keys, group)
                group = [group[i] for i in sorted(range(len(group)), key=keys.__getitem__)]
            for start in range(0, len(group), self.batch_size):
                for resp in await asyncio.to_thread(self._answer_batch, group[start:start + self.batch_size]):
                    emit(resp)

    def check_tools(self, tools) -> None:
        """Agent mode: a tool-call format is named and the chat template renders tools (loads the processor
        only)."""
        if self.tool_call_format:
            try:
                self.load_processor()
            except MmadError:
                raise
            except Exception as e:  # noqa: BLE001 - unreadable here: say so in one line, naming the model
                raise ConfigError(f"could not load the processor to check that its chat template renders tools "
                                  f"({type(e).__name__}: {e})", culprit=self.model) from None
        check_renders_tools(lambda conv, specs: self.processor.apply_chat_template(
            conv, tools=specs, tokenize=False, add_generation_prompt=True, **self._template_kwargs()),
            self.model, self.tool_call_format, self.kind)

    def _answer_batch(self, items) -> list[Response]:
        """Decode this batch's images (a corrupt or missing one fails its request only) and run it."""
        ready, failed = [], []
        for key, request in items:
            try:
                ready.append((key, request, to_hf(request, self.images)))
            except MmadError as e:
                failed.append(Response(key=key, error_type="bad_input", error_message=str(e), attempts=0))
        requests = {key: request for key, request, _ in ready}
        return failed + [with_tool_calls(r, requests[r.key], self.tool_call_format)
                         for r in (self._run_batch(ready) if ready else [])]

    def _size_keys(self, items) -> list[tuple[int, int]]:
        """(image count, estimated prompt tokens) per request: text tokens plus the processor's count of
        image tokens for the prepared image sizes (0 where the processor cannot tell or a header is bad)."""
        tokenizer = getattr(self.processor, "tokenizer", self.processor)
        texts = ["".join(m.text for m in request.messages) for _, request in items]
        text_tokens = [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]
        keys = []
        for (_, request), n_text in zip(items, text_tokens):
            try:
                sizes = [self.images.prepared_size(part.sha256)[::-1] for part in request.images()]
            except MmadError:              # a bad image: its request fails when its batch runs
                sizes = []
            keys.append((len(request.images()), n_text + self._image_tokens(sizes)))
        return keys

    def _image_tokens(self, sizes: list[tuple[int, int]]) -> int:
        if not sizes:
            return 0
        try:
            counts = self.processor._get_num_multimodal_tokens(image_sizes=[list(s) for s in sizes])
            return int(sum(counts.num_image_tokens))
        except Exception:  # noqa: BLE001 - a processor without the helper: group by text length only
            return 0

    def execution_report(self) -> dict:
        return {"backend_stats": self.stats()}

    def stats(self) -> dict:
        """Batches and padding of this backend's generate calls (recorded with the run)."""
        return {"batches": len(self.last_batches), "pad_tokens": self.pad_tokens, "token_slots": self.token_slots,
                "padding_fraction": round(self.pad_tokens / self.token_slots, 4) if self.token_slots else None,
                "grouped_by": "image count, prompt tokens" if self.group_by_length else "arrival order"}

    def _run_batch(self, batch) -> list[Response]:
        import torch

        try:
            return self._generate_batch(batch)
        except torch.cuda.OutOfMemoryError:
            torch.cuda.empty_cache()
            if len(batch) == 1:
                return [Response(key=batch[0][0], error_type="out_of_memory", error_message="CUDA out of memory")]
            half = len(batch) // 2
            return self._run_batch(batch[:half]) + self._run_batch(batch[half:])
        except Exception as e:  # noqa: BLE001 - isolate the request that breaks the batch
            if len(batch) == 1:
                return [Response(key=batch[0][0], error_type="engine_error", error_message=f"{type(e).__name__}: {e}")]
            return [r for item in batch for r in self._run_batch([item])]

    def _template_kwargs(self) -> dict:
        kw = {}
        if self.options.get("conversation"):    # the script's conversation, images as the processor's token
            kw["chat_template"] = get_conversation(self.options["conversation"]).template()
            kw["image_placeholder"] = getattr(self.processor, "image_token", None) or "<image>"
        elif self.options.get("chat_template"):
            kw["chat_template"] = self.options["chat_template"]
        return kw

    def inputs(self, conversations: list, tools: tuple[str, ...] = ()) -> dict:
        """Tokenised, padded batch (left padding) with pixel tensors, on the model's device; ``tools`` (agent
        mode) go to the chat template as OpenAI function specifications."""
        kw = self._template_kwargs()
        if tools:
            kw["tools"] = function_tools(tools)
        enc = self.processor.apply_chat_template(conversations, tokenize=True, return_dict=True, return_tensors="pt",
                                                 add_generation_prompt=True,
                                                 processor_kwargs={"padding": True, "padding_side": "left"}, **kw)
        model_dtype = self.hf_model.dtype
        out = {}
        for k, v in enc.items():
            v = v.to(self.hf_model.device)
            out[k] = v.to(model_dtype) if v.is_floating_point() else v
        return out

    def _generate_batch(self, batch) -> list[Response]:
        import torch

        g = self.generation
        t0 = time.monotonic()
        enc = self.inputs([conv for _, _, conv in batch], batch[0][1].tools)
        # every decoding knob explicit and neutral unless set: a checkpoint's generation_config (e.g.
        # repetition_penalty=1.05, top_k=1) would otherwise change answers, as it does not on vLLM/OpenAI
        kw = {"max_new_tokens": g.max_tokens, "return_dict_in_generate": True,
              "repetition_penalty": g.repetition_penalty or 1.0}
        if g.temperature is None and g.repetition_penalty is None:   # the checkpoint's generation_config decides
            del kw["repetition_penalty"]                              # (MMAD's Qwen2.5-VL script)
        if g.temperature is not None and g.temperature > 0:
            kw.update(do_sample=True, temperature=g.temperature, top_p=g.top_p if g.top_p is not None else 1.0,
                      top_k=g.top_k or 0)   # 0 = no top-k cut; MMAD's LLaVA script keeps transformers' 50
            if g.seed is not None:
                torch.manual_seed(g.sent_seed)
        elif g.temperature is not None:   # greedy: the values transformers treats as unset (no warning)
            kw.update(do_sample=False, temperature=1.0, top_p=1.0, top_k=50)
        want_lp = g.letter_probs and any(request_letters(r) for _, r, _ in batch)
        if want_lp:
            kw["output_logits"] = True
        tokenizer = getattr(self.processor, "tokenizer", self.processor)
        kw["pad_token_id"] = tokenizer.pad_token_id
        with torch.inference_mode():
            out = self.hf_model.generate(**enc, **kw)
        prompt_len = enc["input_ids"].shape[1]
        new = out.sequences[:, prompt_len:]
        texts = tokenizer.batch_decode(new, skip_special_tokens=True)
        elapsed = time.monotonic() - t0
        self.last_batches.append(len(batch))
        if "attention_mask" in enc:
            self.pad_tokens += int((enc["attention_mask"] == 0).sum())
            self.token_slots += int(enc["attention_mask"].numel())
        stops = {t for t in (tokenizer.pad_token_id, tokenizer.eos_token_id) if t is not None}
        responses = []
        for i, (key, request, _) in enumerate(batch):
            ids = new[i].tolist()
            n_new = next((j + 1 for j, t in enumerate(ids) if t in stops), len(ids))
            r = Response(key=key, text=texts[i], latency_s=elapsed / len(batch),
                         prompt_tokens=int(enc["attention_mask"][i].sum()) if "attention_mask" in enc else None,
                         completion_tokens=n_new, extra={"batch_size": len(batch), "batch_s": elapsed,
                                                             "batch": len(self.last_batches) - 1})
            if want_lp and request_letters(request):
                if g.answer_mode == "likelihood":   # exact: the first token's full distribution
                    r.letter_logprobs = self.first_token_letters(tokenizer, out.logits[0][i], request_letters(request))
                    r.extra["letter_position"] = 0
                else:
                    r.letter_logprobs = self._letters(tokenizer, [step[i] for step in out.logits],
                                                      request_letters(request))
            responses.append(r)
        return responses

    def first_token_letters(self, tokenizer, logits, letters) -> dict[str, float]:
        """Log-probability of each letter as the first generated token, over the whole vocabulary, every
        single-token spelling of the letter pooled (``"A"`` and ``" A"`` may be different tokens)."""
        import torch

        ids = self._letter_ids.get(tuple(letters))
        if ids is None:
            ids = self._letter_ids[tuple(letters)] = letter_token_ids(tokenizer, letters)
        lp = torch.log_softmax(logits.float(), dim=-1).tolist()
        return pooled_logprobs(lp, ids)

    def _letters(self, tokenizer, step_logits, letters) -> dict[str, float] | None:
        import torch

        for logits in step_logits:  # first step whose top alternatives name an option letter
            lp = torch.log_softmax(logits.float(), dim=-1)
            top = torch.topk(lp, min(self.top_logprobs, lp.shape[-1]))
            alts = [(tokenizer.decode([int(t)]), float(v)) for v, t in zip(top.values, top.indices)]
            found = letter_logprobs(alts, letters)
            if found:
                return found
        return None

    def close(self) -> None:
        self.hf_model = None
        self.processor = None
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:
            pass
