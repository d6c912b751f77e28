"""Reusable test helpers (no heavy dependencies): a fake OpenAI-compatible server."""
from .openai_server import FAULT_KINDS, FakeOpenAIServer, Fault, default_responder, image_urls, option_letters, prompt_text

__all__ = ["FAULT_KINDS", "FakeOpenAIServer", "Fault", "default_responder", "image_urls", "option_letters",
           "prompt_text"]
