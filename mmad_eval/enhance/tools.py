"""What the inspection tools of agent mode do (their specifications are :mod:`mmad_eval.prompt.tools`).

Each tool takes typed arguments (checked here: a call with wrong arguments gets an error text for the model,
never an exception) and returns a :class:`ToolResult`: text for the model, and images (PNG bytes) shown to it
after the text. Results are deterministic (same image, same call, same bytes), so a resumed run rebuilds the
same conversations and finds their stored answers.

* ``zoom(x1, y1, x2, y2)``: the region of the query image, resized so its longer side is ``zoom_side``.
* ``detector()``: the configured expert's score, normal range, verdict, region box and location, and a
  heat-map overlay of the query image.
* ``references(k)``: k normal images of the category, nearest to the query first (retrieval), after the ones
  the prompt already showed.
* ``compare(x1, y1, x2, y2)``: the same region of the query and of its nearest normal image, side by side.
"""
from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from ..errors import DataError
from ..imageio import load_image
from ..paths import safe_join
from ..prompt.images import target_size
from ..prompt.perturb import perturbed_file
from ..settings import ImageSettings
from ..questions.model import ImageEntry

MAX_REFERENCES = 4


@dataclass
class ToolResult:
    text: str
    images: list[tuple[bytes, str]] = field(default_factory=list)   # (PNG bytes, label)
    error: bool = False                                              # the call was invalid or failed


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG", compress_level=1)
    return buf.getvalue()


def _scaled(img: Image.Image, side: int) -> Image.Image:
    w, h = img.size
    s = side / max(w, h)
    return img.resize((max(1, round(w * s)), max(1, round(h * s))), Image.Resampling.BICUBIC)


class InspectionTools:
    """The tools of one run: ``call(entry, name, arguments_json, shown_references)`` -> :class:`ToolResult`.

    ``expert`` is a callable returning the expert service (built lazily: fitting a detector takes seconds);
    ``retriever`` likewise returns the retrieval index (``nearest(key, k)``). In a robustness run ``perturb``
    (perturbations, seed) makes every tool show the query as the model sees it (and the normal images too with
    ``perturb_references``), never the clean pixels. Box coordinates (the calls' and the detector's) are pixels of
    the query image as the run sends it (``images``: a ``max_side`` resize shrinks that frame); crops are taken
    from the full-size image, over the same region."""

    def __init__(self, data_root: Path, tools: tuple[str, ...], expert, retriever, zoom_side: int = 448,
                 perturb: tuple[str, int] | None = None, perturb_references: bool = False,
                 images: ImageSettings | None = None):
        self.data_root = Path(data_root)
        self.images = images or ImageSettings()
        self.perturb = perturb if perturb and perturb[0] else None
        self.perturb_references = perturb_references
        self.tools = tuple(tools)
        self._expert = expert
        self._retriever = retriever
        self.zoom_side = zoom_side
        self._images: dict[str, Image.Image] = {}

    def call(self, entry: ImageEntry, name: str, arguments: str, shown: tuple[str, ...] = ()) -> ToolResult:
        if name not in self.tools:
            offered = ", ".join(self.tools)
            return ToolResult(f"error: there is no tool named {name!r}; the tools are: {offered}", error=True)
        try:
            args = json.loads(arguments or "{}")
        except (json.JSONDecodeError, TypeError, RecursionError):
            return ToolResult(f"error: the arguments of {name} are not valid JSON: {str(arguments)[:200]!r}",
                              error=True)
        if not isinstance(args, dict):
            return ToolResult(f"error: the arguments of {name} must be a JSON object", error=True)
        try:
            return getattr(self, f"_{name}")(entry, args, shown)
        except _BadArguments as e:
            return ToolResult(f"error: {e}", error=True)
        except DataError as e:
            return ToolResult(f"error: the tool {name} failed: {e}", error=True)

    # -- images ----------------------------------------------------------------------------------------
    def image(self, key: str, query: bool = False) -> Image.Image:
        """The image as the model sees it: perturbed in a robustness run (references only when those are)."""
        perturb = self.perturb if query or self.perturb_references else None
        if (key, perturb) not in self._images:
            if len(self._images) > 16:
                self._images.pop(next(iter(self._images)))
            path = safe_join(self.data_root, key, what="image")
            self._images[key, perturb] = (load_image(path, mode="RGB") if perturb is None
                                          else perturbed_file(path, *perturb))
        return self._images[key, perturb]

    def frame(self, entry: ImageEntry) -> tuple[int, int]:
        """The query image's size as the model sees it (the frame of box coordinates)."""
        return target_size(*self.image(entry.key, query=True).size, self.images)

    def _box(self, entry: ImageEntry, args: dict) -> tuple[tuple[int, int, int, int], tuple[int, ...]]:
        """(the box in the frame the model sees, clipped; the same region in pixels of the full-size image)."""
        w, h = self.frame(entry)
        try:
            x1, y1, x2, y2 = (args[k] for k in ("x1", "y1", "x2", "y2"))
        except KeyError as e:
            raise _BadArguments(f"missing argument {e.args[0]}; give x1, y1, x2, y2 in pixels") from None
        vals = []
        for v in (x1, y1, x2, y2):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v or abs(v) > 1e9:
                raise _BadArguments(f"box coordinates must be numbers, got {v!r}")
            vals.append(int(round(v)))
        x1, y1, x2, y2 = vals
        x1, x2 = max(0, min(x1, x2)), min(w, max(x1, x2))
        y1, y2 = max(0, min(y1, y2)), min(h, max(y1, y2))
        if x2 - x1 < 2 or y2 - y1 < 2:
            raise _BadArguments(f"the box is empty inside the {w}x{h} query image")
        full_w, full_h = self.image(entry.key, query=True).size
        sx, sy = full_w / w, full_h / h
        return (x1, y1, x2, y2), (round(x1 * sx), round(y1 * sy), round(x2 * sx), round(y2 * sy))

    # -- the tools -------------------------------------------------------------------------------------
    def _zoom(self, entry: ImageEntry, args: dict, shown) -> ToolResult:
        box, region = self._box(entry, args)
        crop = _scaled(self.image(entry.key, query=True).crop(region), self.zoom_side)
        return ToolResult(f"zoom: region [{box[0]}, {box[1]}, {box[2]}, {box[3]}] of the query image, enlarged to "
                          f"{crop.size[0]}x{crop.size[1]} pixels.", [(_png(crop), f"zoom {list(box)}")])

    def _detector(self, entry: ImageEntry, args: dict, shown) -> ToolResult:
        from .hints import render_hint

        result = self._expert().analyze(entry.key)
        png, _ = render_hint(result, self.data_root / entry.key, "overlay", self.perturb)
        lo, hi = result.normal_range
        (fw, fh), (w, h) = self.frame(entry), self.image(entry.key, query=True).size
        facts = {"score": round(float(result.score), 4), "threshold": round(float(result.threshold), 4),
                 "normal_range": [round(float(lo), 4), round(float(hi), 4)], "verdict":
                 "defective" if result.verdict else "normal", "boxes": [_in_frame(b, fw / w, fh / h) for b in result.boxes],
                 "location": result.location or None}
        text = (f"detector: anomaly score {facts['score']} (threshold {facts['threshold']}; normal images score "
                f"{facts['normal_range'][0]} to {facts['normal_range'][1]}); verdict: likely {facts['verdict']}"
                + (f"; most anomalous region {facts['boxes'][0]} in the {result.location}" if result.boxes else "")
                + ". It may be wrong. The image after this is its heat map over the query image.\n"
                + json.dumps(facts))
        return ToolResult(text, [(png, "detector heat map")] if png else [])

    def _nearest(self, entry: ImageEntry, k: int, shown) -> list[str]:
        pool = self._retriever().nearest(entry.key, k + len(shown))
        return [p for p in pool if p not in shown][:k]

    def _references(self, entry: ImageEntry, args: dict, shown) -> ToolResult:
        k = args.get("k", 1)
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_REFERENCES:
            raise _BadArguments(f"k must be a whole number from 1 to {MAX_REFERENCES}, got {k!r}")
        keys = self._nearest(entry, k, shown)
        if not keys:
            return ToolResult("references: no other normal image of this product is available.")
        images = [(_png(self.image(key)), key) for key in keys]
        return ToolResult(f"references: {len(keys)} normal image{'s' if len(keys) > 1 else ''} of this product "
                          f"follow{'' if len(keys) > 1 else 's'}, the most similar first.", images)

    def _compare(self, entry: ImageEntry, args: dict, shown) -> ToolResult:
        box, region = self._box(entry, args)
        refs = list(shown[:1]) or self._nearest(entry, 1, ())
        if not refs:
            return ToolResult("compare: no normal image of this product is available.", error=True)
        query, ref = self.image(entry.key, query=True), self.image(refs[0])
        rx, ry = ref.size[0] / query.size[0], ref.size[1] / query.size[1]
        rbox = tuple(int(round(v * s)) for v, s in zip(region, (rx, ry, rx, ry)))
        a = _scaled(query.crop(region), self.zoom_side // 2)
        b = ref.crop(rbox).resize(a.size, Image.Resampling.BICUBIC)
        pair = Image.new("RGB", (a.size[0] * 2 + 4, a.size[1]), (255, 255, 255))
        pair.paste(a, (0, 0))
        pair.paste(b, (a.size[0] + 4, 0))
        return ToolResult(f"compare: region [{box[0]}, {box[1]}, {box[2]}, {box[3]}]: the query on the left, the "
                          f"normal image {refs[0]} on the right.", [(_png(pair), f"compare {list(box)}")])


def _in_frame(box, sx: float, sy: float) -> list[int]:
    """A full-size pixel box in the frame the model sees (scaled per axis, whole pixels)."""
    return [int(round(box[0] * sx)), int(round(box[1] * sy)), int(round(box[2] * sx)), int(round(box[3] * sy))]


class _BadArguments(ValueError):
    """A tool call's arguments are out of shape or range (told to the model as an error)."""
