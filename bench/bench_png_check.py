"""What checking that a PNG decodes costs, per distinct image, before it is sent as it is.

    python bench/bench_png_check.py                       # the images bench_api.py cached (run it once first)
    python bench/bench_png_check.py --images DIR --repeats 5

Per image (CPU ms, median of the repeats): walking the chunks (CRCs, the check before issue 24), walking them
and inflating the image data (whole rows, known filters, complete stream: what is done now, once per
content), base64 of the file (what sending it costs anyway) and Pillow's full decode (what re-encoding
would start with).
"""
from __future__ import annotations

import argparse
import base64
import io
import statistics
import tempfile
import time
from pathlib import Path

from PIL import Image

from mmad_eval.imageio import png_to_send


def per_image_ms(files: list[bytes], fn) -> float:
    c = time.process_time()
    for data in files:
        fn(data)
    return 1000 * (time.process_time() - c) / len(files)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=Path, default=Path(tempfile.gettempdir()) / "mmad-eval-bench-images")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    files = [p.read_bytes() for p in sorted(args.images.rglob("*.png"))]
    if not files:
        raise SystemExit(f"no PNG files under {args.images}: run bench/bench_api.py once, or give --images")
    ways = {"chunks only (CRC walk)": lambda d: png_to_send(d, culprit="", inflate=False),
            "chunks + inflate (now)": lambda d: png_to_send(d, culprit=""),
            "base64 of the file": base64.b64encode,
            "Pillow decode": lambda d: Image.open(io.BytesIO(d)).load()}
    got = {name: [per_image_ms(files, fn) for _ in range(args.repeats)] for name, fn in ways.items()}
    side = Image.open(io.BytesIO(files[0])).size
    print(f"{len(files)} PNGs (first {side[0]}x{side[1]}), mean {sum(map(len, files)) / len(files) / 1024:.1f} KB")
    print("| per image | CPU ms (median) |\n|---|---|")
    for name, ms in got.items():
        print(f"| {name} | {statistics.median(ms):.3f} |")


if __name__ == "__main__":
    main()
