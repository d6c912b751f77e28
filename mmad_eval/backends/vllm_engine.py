"""In-process vLLM backend: every pending request goes through ``LLM.chat`` in large chunks.

API used (vLLM >= 0.10, checked against vllm/entrypoints/llm.py and chat_utils.py): ``LLM(model, seed,
max_model_len, limit_mm_per_prompt, tensor_parallel_size, trust_remote_code, dtype, ...)``;
``LLM.chat(list_of_conversations, sampling_params, use_tqdm=False, chat_template=...)`` returning one
``RequestOutput`` per conversation in order (``.outputs[0].text``, ``.outputs[0].token_ids``,
``.outputs[0].logprobs`` = per token ``{token_id: Logprob(logprob, rank, decoded_token)}``,
``.prompt_token_ids``); ``SamplingParams(temperature, max_tokens, seed, top_p, logprobs)``; images as
``{"type": "image_pil", "image_pil": PIL.Image}`` content parts.

Agent mode: ``LLM.chat(..., tools=[...])`` (OpenAI function specifications). With tools, vLLM renders the
tokenizer's chat template, not the processor's (``resolve_chat_template`` in vllm/entrypoints/chat_utils.py),
unless ``chat_template`` is given; :meth:`VLLMBackend.check_tools` renders a probe with that same template
(``AutoTokenizer``) before the engine is built. Replies are read for tool calls in the ``tool_call_format``
option's format (:mod:`.template_tools`).
"""
from __future__ import annotations

import asyncio
import gc
import importlib.util
import time
from typing import Sequence

from ..errors import ConfigError, MissingExtraError, MmadError
from ..prompt.conversations import check_architecture, get_conversation
from ..prompt.message import Request
from ..prompt.tools import function_tools
from .base import Backend, Emit, Response, load_failure
from .convert import request_letters, to_vllm
from .likelihood import from_positions
from .template_tools import by_tools, check_renders_tools, format_options, tool_call_format, with_tool_calls

ENGINE_OPTIONS = ("max_model_len", "tensor_parallel_size", "trust_remote_code", "dtype", "gpu_memory_utilization",
                  "enforce_eager", "max_num_seqs", "mm_processor_kwargs", "quantization", "revision")
SECRET_ENGINE_OPTIONS = ("hf_token",)      # passed to the engine, never recorded
AGENT_EXTRA_IMAGES = 8     # default limit_mm_per_prompt headroom for the images tools return in later turns


class VLLMBackend(Backend):
    """Options: engine settings (``max_model_len``, ``limit_mm_per_prompt`` = ``{"image": n}``,
    ``tensor_parallel_size``, ``trust_remote_code``, ``dtype``, ``gpu_memory_utilization``, ``enforce_eager``,
    ``max_num_seqs``, ``mm_processor_kwargs``, ``quantization``, ``revision``, ``engine_kwargs`` dict),
    ``chunk_size`` (512 conversations per ``LLM.chat`` call), ``sampling_kwargs`` (extra ``SamplingParams``,
    e.g. ``top_k``), ``chat_template`` (a Jinja string overriding the model's), ``top_logprobs`` (20),
    ``tool_call_format`` (agent mode: ``hermes`` or ``json``)."""

    kind = "vllm"
    supports_tools = True    # with a tool_call_format and a chat template that renders tools (check_tools)

    def __init__(self, model, generation, images, **options):
        super().__init__(model, generation, images, **options)
        if importlib.util.find_spec("vllm") is None:
            raise MissingExtraError("vllm", "vllm")
        self.chunk_size = max(1, int(options.get("chunk_size", 512)))
        self.sampling_kwargs = dict(options.get("sampling_kwargs") or {})
        self.top_logprobs = int(options.get("top_logprobs", 20))
        self.limit_mm_per_prompt = options.get("limit_mm_per_prompt")
        self.tool_call_format = tool_call_format(options, self.kind)
        self._llm = None
        self.chunks = 0

    def execution_report(self) -> dict:
        return {"backend_stats": self.stats()}

    def stats(self) -> dict:
        return {"chunks": self.chunks, "grouped_by": "image count, prompt length",
                "padding_fraction": 0.0, "padding": "none: vLLM schedules tokens without padding"}

    def answer_options(self) -> dict:
        out = {k: self.options[k] for k in ("dtype", "mm_processor_kwargs", "quantization", "revision",
                                            "chat_template", "conversation") if self.options.get(k) is not None}
        if self.sampling_kwargs:
            out["sampling_kwargs"] = self.sampling_kwargs
        return {**out, **format_options(self.tool_call_format, self.context.tools)}

    def check_tools(self, tools) -> None:
        """Agent mode: a tool-call format is named and the template vLLM renders with tools (the
        ``chat_template`` option, else the tokenizer's) prints them."""
        tokenizer = self._template_tokenizer() if self.tool_call_format else None
        check_renders_tools(lambda conv, specs: tokenizer.apply_chat_template(
            conv, tools=specs, tokenize=False, add_generation_prompt=True, **self._template_kwargs()),
            self.model, self.tool_call_format, self.kind)

    def _template_tokenizer(self):
        """The tokenizer whose chat template vLLM uses with tools, loaded as vLLM loads it (no engine)."""
        import transformers

        kw = self.engine_kwargs()
        name = kw.get("tokenizer") or self.model
        try:
            return transformers.AutoTokenizer.from_pretrained(
                name, trust_remote_code=bool(kw.get("trust_remote_code")),
                **({"revision": kw["revision"]} if kw.get("revision") else {}))
        except Exception as e:  # noqa: BLE001 - unreadable here means unreadable for vLLM too
            raise ConfigError(f"could not load the tokenizer to check that its chat template renders tools "
                              f"({type(e).__name__}: {e})", culprit=name) from None

    def describe(self) -> dict:
        d = dict(self.identity())
        d["engine"] = {k: "[redacted]" if k in SECRET_ENGINE_OPTIONS else v for k, v in self.engine_kwargs().items()}
        d["chunk_size"] = self.chunk_size
        return d

    def gpus_per_copy(self) -> float:
        """One engine spans tensor x pipeline parallel GPUs (vLLM's defaults: 1 x 1)."""
        kw = self.engine_kwargs()
        return float((kw.get("tensor_parallel_size") or 1) * (kw.get("pipeline_parallel_size") or 1))

    # -- engine ----------------------------------------------------------------------------------------
    def engine_kwargs(self) -> dict:
        kw = {k: self.options[k] for k in ENGINE_OPTIONS if self.options.get(k) is not None}
        kw.update(self.options.get("engine_kwargs") or {})
        if self.limit_mm_per_prompt is not None:
            kw["limit_mm_per_prompt"] = dict(self.limit_mm_per_prompt)
        kw["seed"] = self.generation.sent_seed if self.generation.seed is not None else 0
        return kw

    def _vllm(self):
        try:
            import vllm
        except ImportError:
            raise MissingExtraError("vllm", "vllm") from None
        return vllm

    def engine(self, max_images: int = 1):
        """The ``vllm.LLM``, built on first use; ``limit_mm_per_prompt`` defaults to the most images any
        pending request carries."""
        if self._llm is None:
            if self.limit_mm_per_prompt is None:
                self.limit_mm_per_prompt = {"image": max(1, max_images)}
            if self.options.get("conversation"):
                import transformers

                try:
                    config = transformers.AutoConfig.from_pretrained(
                        self.model, trust_remote_code=bool(self.options.get("trust_remote_code")))
                except Exception as e:  # noqa: BLE001 - a missing or unreadable checkpoint: one line
                    raise load_failure("model's config", f"{self.kind}:{self.model}", e) from None
                check_architecture(self.options["conversation"], config, self.model)
            vllm = self._vllm()
            try:
                self._llm = vllm.LLM(model=self.model, **self.engine_kwargs())
            except (MmadError, MemoryError, KeyboardInterrupt):
                raise
            except Exception as e:  # noqa: BLE001 - vLLM's engine could not start on this model: one line
                raise load_failure("model in vLLM", f"{self.kind}:{self.model}", e) from None
        return self._llm

    def sampling_params(self, want_logprobs: bool):
        g = self.generation
        kw = {"max_tokens": g.max_tokens, "seed": g.sent_seed}
        if g.temperature is not None:   # None: vLLM's default (the model's generation config where vLLM reads it)
            kw["temperature"] = g.temperature
        if g.top_p is not None:
            kw["top_p"] = g.top_p
        if g.top_k is not None:
            kw["top_k"] = g.top_k or -1        # our 0 = no cut, vLLM's -1
        if g.repetition_penalty is not None:
            kw["repetition_penalty"] = g.repetition_penalty
        if want_logprobs:
            kw["logprobs"] = self.top_logprobs
        kw.update(self.sampling_kwargs)
        return self._vllm().SamplingParams(**kw)

    # -- generation ------------------------------------------------------------------------------------
    async def generate(self, items: Sequence[tuple[str, Request]], emit: Emit) -> None:
        if not items:
            return
        most = max(len(r.images()) for _, r in items)
        llm = self.engine(most + (AGENT_EXTRA_IMAGES if any(r.tools for _, r in items) else 0))
        want_lp = self.generation.letter_probs and any(request_letters(r) for _, r in items)
        params = self.sampling_params(want_lp)
        for group in by_tools(items):         # one tool list per LLM.chat call
            # what we hand over is grouped by image count and prompt length: each chunk holds similar prompts
            # (vLLM itself pads nothing: it schedules tokens, not padded rectangles)
            group = sorted(group, key=lambda kr: (len(kr[1].images()), sum(len(m.text) for m in kr[1].messages)))
            for start in range(0, len(group), self.chunk_size):
                ready = [x for item in group[start:start + self.chunk_size] if (x := self._prepare(item, emit))]
                if ready:
                    self.chunks += 1
                    for resp in await asyncio.to_thread(self._run_chunk, llm, params, ready):
                        emit(resp)

    def _prepare(self, item, emit):
        """(key, request, conversation), or None after emitting why the request cannot be sent: a corrupt or
        missing image, or more images than the engine takes (an agent's later turns add the tools' images)."""
        key, request = item
        limit = (self.limit_mm_per_prompt or {}).get("image")
        if limit is not None and len(request.images()) > limit:
            emit(Response(key=key, error_type="bad_input", attempts=0, error_message=(
                f"this request carries {len(request.images())} images and the engine takes {limit} "
                "(limit_mm_per_prompt); raise it, e.g. --backend-option 'limit_mm_per_prompt={\"image\": 16}'")))
            return None
        try:
            return key, request, to_vllm(request, self.images)
        except MmadError as e:  # corrupt/missing image: this request only
            emit(Response(key=key, error_type="bad_input", error_message=str(e), attempts=0))
            return None

    def _template_kwargs(self) -> dict:
        if self.options.get("conversation"):
            return {"chat_template": get_conversation(self.options["conversation"]).template()}
        if self.options.get("chat_template"):
            return {"chat_template": self.options["chat_template"]}
        return {}

    def _chat(self, llm, params, conversations, tools=()):
        kw = {"use_tqdm": False, **self._template_kwargs()}
        if tools:
            kw["tools"] = function_tools(tools)
        return llm.chat(conversations, sampling_params=params, **kw)

    def _run_chunk(self, llm, params, ready) -> list[Response]:
        t0 = time.monotonic()
        try:
            outputs = self._chat(llm, params, [conv for _, _, conv in ready], ready[0][1].tools)
        except Exception as e:  # noqa: BLE001 - one bad prompt fails the chunk: isolate it
            if len(ready) == 1:
                key = ready[0][0]
                return [Response(key=key, error_type="engine_error", error_message=f"{type(e).__name__}: {e}")]
            return [r for item in ready for r in self._run_chunk(llm, params, [item])]
        elapsed = time.monotonic() - t0
        if len(outputs) != len(ready):
            return [Response(key=k, error_type="engine_error",
                             error_message=f"vLLM returned {len(outputs)} outputs for {len(ready)} prompts")
                    for k, _, _ in ready]
        return [with_tool_calls(self._to_response(key, req, out, elapsed, len(ready)), req, self.tool_call_format)
                for (key, req, _), out in zip(ready, outputs)]

    def _to_response(self, key: str, request: Request, out, elapsed: float, n: int) -> Response:
        comp = out.outputs[0]
        r = Response(key=key, text=comp.text, latency_s=elapsed / n,
                     prompt_tokens=len(out.prompt_token_ids) if getattr(out, "prompt_token_ids", None) else None,
                     completion_tokens=len(comp.token_ids) if getattr(comp, "token_ids", None) is not None else None,
                     extra={"finish_reason": getattr(comp, "finish_reason", None), "chunk_size": n,
                            "chunk_s": elapsed})
        letters = request_letters(request)
        if letters and self.generation.letter_probs:
            # SampleLogprobs: per generated token a dict {token_id: Logprob(logprob, rank, decoded_token)}
            # (FlatLogprobs, vLLM >= 0.11 with flat_logprobs, reads the same way; a position may be None)
            positions = [[(getattr(lp, "decoded_token", None) or "", lp.logprob) for lp in position.values()]
                         if position else [] for position in (getattr(comp, "logprobs", None) or [])]
            r.letter_logprobs, found = from_positions(positions, letters)
            r.extra.update(found)
        return r

    def close(self) -> None:
        self._llm = None
        gc.collect()
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:
            pass
