"""mmad-eval: evaluate multimodal LLMs on MMAD-style industrial inspection questions."""

__version__ = "0.1.0"
