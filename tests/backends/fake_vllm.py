"""A fake ``vllm`` module shaped like the real API (no GPU here), shared by the vLLM backend tests and the
in-process agent tests. ``LLM.chat(messages, sampling_params, use_tqdm, chat_template=, tools=)`` answers
each conversation with :meth:`FakeLLM.reply`; :class:`TemplateLLM` first renders the conversation with the
model folder's tokenizer chat template, as vLLM does when tools are given (``resolve_chat_template``: the
given template, else the tokenizer's), with image parts as ``{"type": "image"}`` placeholders."""
import sys
import types
from dataclasses import dataclass


@dataclass
class Logprob:
    logprob: float
    rank: int | None = None
    decoded_token: str | None = None


class FakeSamplingParams:
    def __init__(self, **kw):
        self.kw = kw


def _text(conv) -> str:
    return " ".join(m["content"] if isinstance(m["content"], str) else
                    " ".join(p["text"] for p in m["content"] if p["type"] == "text") for m in conv)


def _images(conv) -> int:
    return sum(1 for m in conv if isinstance(m["content"], list) for p in m["content"] if p["type"] == "image_pil")


def output(text: str, prompt_tokens: int, logprobs=None):
    comp = types.SimpleNamespace(text=text, token_ids=[7] * max(1, len(text) // 4), logprobs=logprobs,
                                 finish_reason="stop")
    return types.SimpleNamespace(outputs=[comp], prompt_token_ids=list(range(prompt_tokens)))


class FakeLLM:
    instances = []

    def __init__(self, model, **kw):
        self.model, self.kw, self.calls = model, kw, []
        FakeLLM.instances.append(self)

    def chat(self, messages, sampling_params=None, use_tqdm=True, **kw):
        self.calls.append({"messages": messages, "params": sampling_params, "use_tqdm": use_tqdm, **kw})
        return [self.reply(conv, sampling_params, kw) for conv in messages]

    def reply(self, conv, sampling_params, kw):
        """"B" when the conversation has images, else "A" (with first-token log-probs when asked)."""
        if "BOOM" in _text(conv):
            raise ValueError("prompt too long")
        n_img = _images(conv)
        answer = "B" if n_img else "A"
        lps = None
        if sampling_params.kw.get("logprobs"):
            lps = [{1: Logprob(-0.1, 1, " " + answer), 2: Logprob(-2.5, 2, "A" if answer == "B" else "B"),
                    3: Logprob(-4.0, 3, "The")}]
        comp = types.SimpleNamespace(text=answer, token_ids=[7], logprobs=lps, finish_reason="stop")
        return types.SimpleNamespace(outputs=[comp], prompt_token_ids=list(range(10 + 16 * n_img)))


class TemplateLLM(FakeLLM):
    """Renders each conversation with the model folder's tokenizer template and answers with
    ``script(prompt)`` (the scripted model's text); the prompts it rendered are kept in ``prompts``."""

    script = staticmethod(lambda prompt: "A")

    def __init__(self, model, **kw):
        super().__init__(model, **kw)
        import transformers

        self.tokenizer = transformers.AutoTokenizer.from_pretrained(model)
        self.prompts = []

    def reply(self, conv, sampling_params, kw):
        plain = [{**m, "content": [{"type": "image"} if p["type"] == "image_pil" else p for p in m["content"]]}
                 if isinstance(m["content"], list) else m for m in conv]
        prompt = self.tokenizer.apply_chat_template(plain, tools=kw.get("tools"), chat_template=kw.get("chat_template"),
                                                    tokenize=False, add_generation_prompt=True)
        self.prompts.append(prompt)
        return output(self.script(prompt), len(self.tokenizer(prompt)["input_ids"]))


def install(monkeypatch, llm_class=FakeLLM):
    """Put a fake ``vllm`` module with ``llm_class`` as ``LLM`` in ``sys.modules``."""
    mod = types.ModuleType("vllm")
    mod.LLM, mod.SamplingParams = llm_class, FakeSamplingParams
    mod.__spec__ = types.SimpleNamespace(name="vllm")  # find_spec needs a spec on modules in sys.modules
    monkeypatch.setitem(sys.modules, "vllm", mod)
    FakeLLM.instances = []
    return mod
