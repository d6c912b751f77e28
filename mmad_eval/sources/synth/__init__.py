"""Built-in synthetic industrial dataset: procedurally rendered products and textures with plausible,
annotated defects, written as an MVTec-AD layout under ``Synth-AD`` plus a knowledge file."""
from __future__ import annotations

from .categories import CATEGORIES
from .generate import GenerationReport, generate_synthetic, generate_with_report
from .render import SynthImage, image_seed, render_sample

__all__ = ["CATEGORIES", "GenerationReport", "SynthImage", "generate_synthetic", "generate_with_report",
           "image_seed", "render_sample"]
