"""Cost of --perturb per image: each perturbation kind against the decode + PNG encode every perturbed image
pays anyway (the "none" row), measured side by side on one synthetic image per size.

    python bench/bench_perturb.py                # 256 and 1024 px, 10 repeats
    python bench/bench_perturb.py --sizes 512 --repeats 20
"""
from __future__ import annotations

import argparse
import io
import time

import numpy as np
from PIL import Image

from mmad_eval.prompt.perturb import perturbed_png

KINDS = ("none", "blur=2", "motion=9", "lowlight=2", "noise=8", "jpeg=30", "motion=9,lowlight=2")


def product_image(side: int) -> bytes:
    """A smooth product-like image (gradient, a disc, mild texture): compresses like a photo, not like noise."""
    y, x = np.mgrid[0:side, 0:side] / side
    disc = ((x - 0.5) ** 2 + (y - 0.5) ** 2 < 0.12).astype(float)
    tex = np.random.default_rng(0).normal(0, 3, (side, side))
    base = 90 + 60 * x + 50 * disc + tex
    img = np.clip(np.stack([base, base * 0.95, base * 0.9], axis=-1), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "PNG")
    return buf.getvalue()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 1024])
    ap.add_argument("--repeats", type=int, default=10)
    args = ap.parse_args()
    print("| image | perturbation | ms per image | × none |")
    print("|---|---|---|---|")
    for side in args.sizes:
        data = product_image(side)
        times = {}
        for kind in KINDS:
            spec = "" if kind == "none" else kind
            t = time.perf_counter()
            for i in range(args.repeats):
                perturbed_png(data, spec, 0, str(i))
            times[kind] = 1000 * (time.perf_counter() - t) / args.repeats
        for kind in KINDS:
            print(f"| {side}×{side} | {kind} | {times[kind]:.1f} | {times[kind] / times['none']:.2f} |")


if __name__ == "__main__":
    main()
