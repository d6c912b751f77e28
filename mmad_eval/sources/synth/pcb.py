"""A circuit board with a fixed layout (IC, resistors, capacitors, LED, traces, pads, silkscreen).

Drawn with PIL at 2x and box-reduced. Logical defects edit the component list and are re-rendered:
a missing component leaves its pads and silkscreen outline bare; a misplaced one is shifted and turned.
"""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from .noise import box_down, fbm, rng_from, value_noise
from .spec import Render

# (kind, x, y, w, h, angle) in board units (0..1), fixed layout
LAYOUT = [
    ("ic", 0.5, 0.42, 0.26, 0.17, 0.0),
    ("res", 0.2, 0.2, 0.12, 0.045, 0.0),
    ("res", 0.2, 0.32, 0.12, 0.045, 0.0),
    ("res", 0.8, 0.72, 0.045, 0.12, 0.0),
    ("cap", 0.78, 0.22, 0.12, 0.12, 0.0),
    ("cap", 0.24, 0.74, 0.14, 0.14, 0.0),
    ("led", 0.55, 0.78, 0.07, 0.07, 0.0),
    ("res", 0.8, 0.45, 0.12, 0.045, 90.0),
]
TRACES = [[(0.2, 0.2), (0.37, 0.2), (0.37, 0.35)], [(0.2, 0.32), (0.3, 0.42), (0.37, 0.42)],
          [(0.63, 0.42), (0.8, 0.45), (0.8, 0.72)], [(0.63, 0.36), (0.78, 0.22)],
          [(0.5, 0.5), (0.5, 0.78), (0.55, 0.78)], [(0.24, 0.74), (0.45, 0.6), (0.5, 0.5)],
          [(0.08, 0.55), (0.3, 0.55), (0.4, 0.48)], [(0.92, 0.9), (0.8, 0.8)]]
BANDS = [(0.55, 0.3, 0.1), (0.1, 0.1, 0.1), (0.8, 0.15, 0.1), (0.85, 0.6, 0.1)]


def sample_pcb(rng: np.random.Generator) -> dict:
    return {"dx": float(rng.normal(0, 0.008)), "dy": float(rng.normal(0, 0.008)),
            "angle": float(rng.normal(0, 0.8)), "tex_seed": int(rng.integers(2**31)),
            "tone": float(rng.normal(1, 0.03)), "parts": [list(c) for c in LAYOUT]}


def _rect(x, y, w, h, a):
    c, s = np.cos(np.deg2rad(a)), np.sin(np.deg2rad(a))
    return [(x + dx * c - dy * s, y + dx * s + dy * c) for dx, dy in
            [(-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2)]]


def render_pcb(p: dict, size: int) -> Render:
    f = 2
    S = size * f
    ca, sa = np.cos(np.deg2rad(p["angle"])), np.sin(np.deg2rad(p["angle"]))

    def tf(pt):  # board units -> supersampled pixels, with pose jitter
        x, y = pt[0] - 0.5, pt[1] - 0.5
        return ((x * ca - y * sa + 0.5 + p["dx"]) * S, (x * sa + y * ca + 0.5 + p["dy"]) * S)

    def col(rgb):
        return tuple(int(255 * c) for c in rgb)

    im = Image.new("RGB", (S, S), col((0.12, 0.42, 0.2)))
    d = ImageDraw.Draw(im)
    for tr in TRACES:
        d.line([tf(q) for q in tr], fill=col((0.2, 0.55, 0.28)), width=int(0.018 * S), joint="curve")
    for hx, hy in [(0.06, 0.06), (0.94, 0.06), (0.06, 0.94), (0.94, 0.94)]:
        cx, cy = tf((hx, hy))
        for r, c in [(0.035, (0.8, 0.65, 0.3)), (0.02, (0.05, 0.05, 0.05))]:
            d.ellipse([cx - r * S, cy - r * S, cx + r * S, cy + r * S], fill=col(c))
    for kind, x, y, w, h, a in LAYOUT:     # footprints stay where the layout says, parts may not
        d.polygon([tf(q) for q in _rect(x, y, w + 0.03, h + 0.03, a)], outline=col((0.9, 0.92, 0.88)), width=f)
        if kind == "res":
            for sx in (-1, 1):
                dx = sx * (max(w, h) / 2 - 0.012)
                px, py = (x + dx, y) if (w > h) == (a % 180 == 0) else (x, y + dx)
                d.polygon([tf(q) for q in _rect(px, py, 0.035, 0.05, a)], fill=col((0.78, 0.78, 0.76)))
        elif kind == "ic":
            for i in range(6):
                for sy in (-1, 1):
                    px = x - w / 2 + (i + 0.5) * w / 6
                    d.polygon([tf(q) for q in _rect(px, y + sy * (h / 2 + 0.02), 0.022, 0.03, a)],
                              fill=col((0.78, 0.78, 0.76)))
        else:
            d.polygon([tf(q) for q in _rect(x, y, w * 0.9, h * 0.9, a)], fill=col((0.7, 0.7, 0.68)))
    for kind, x, y, w, h, a in p["parts"]:
        if kind == "ic":
            for i in range(6):
                for sy in (-1, 1):
                    px = x - w / 2 + (i + 0.5) * w / 6
                    d.polygon([tf(q) for q in _pin(x, y, px, sy, h, a)], fill=col((0.85, 0.85, 0.82)))
            d.polygon([tf(q) for q in _rect(x, y, w, h, a)], fill=col((0.1, 0.1, 0.11)))
            dx, dy = tf(_rot_about(x, y, x - w / 2 + 0.03, y - h / 2 + 0.03, a))
            d.ellipse([dx - 0.008 * S, dy - 0.008 * S, dx + 0.008 * S, dy + 0.008 * S], fill=col((0.3, 0.3, 0.3)))
        elif kind == "res":
            d.polygon([tf(q) for q in _rect(x, y, w, h, a)], fill=col((0.82, 0.72, 0.55)))
            long_x = w > h
            for i, band in enumerate(BANDS[:3]):
                off = (i - 1) * 0.022
                bx, by = (x + off, y) if long_x else (x, y + off)
                bx, by = _rot_about(x, y, bx, by, a)
                bw, bh = (0.008, h) if long_x else (w, 0.008)
                d.polygon([tf(q) for q in _rect(bx, by, bw, bh, a)], fill=col(band))
        elif kind == "cap":
            cx, cy = tf((x, y))
            r = w / 2 * S
            d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=col((0.15, 0.2, 0.45)))
            d.pieslice([cx - r, cy - r, cx + r, cy + r], 200 + a, 250 + a, fill=col((0.75, 0.78, 0.82)))
            d.line([cx - 0.6 * r, cy, cx + 0.6 * r, cy], fill=col((0.35, 0.4, 0.6)), width=f)
        elif kind == "led":
            cx, cy = tf((x, y))
            r = w / 2 * S
            d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=col((0.85, 0.12, 0.1)))
            d.ellipse([cx - 0.45 * r, cy - 0.55 * r, cx - 0.05 * r, cy - 0.15 * r], fill=col((1.0, 0.65, 0.6)))
    rgb = box_down(np.asarray(im, np.float32) / 255.0, f)
    rng = rng_from(p["tex_seed"])
    rgb = rgb * (1 + 0.04 * fbm(rng, (size, size), 6, octaves=2) + 0.03 * value_noise(rng, (size, size), size // 3))[..., None]
    return Render(np.clip(rgb, 0, 1).astype(np.float32) * p["tone"], np.ones((size, size), np.float32))


def _rot_about(x, y, px, py, a):
    c, s = np.cos(np.deg2rad(a)), np.sin(np.deg2rad(a))
    return (x + (px - x) * c - (py - y) * s, y + (px - x) * s + (py - y) * c)


def _pin(x, y, px, sy, h, a):
    cx, cy = _rot_about(x, y, px, y + sy * (h / 2 + 0.015), a)
    return _rect(cx, cy, 0.014, 0.03, a)


def edit_missing(p: dict, rng: np.random.Generator) -> dict:
    parts = [list(c) for c in p["parts"]]
    parts.pop(int(rng.integers(len(parts))))
    return {**p, "parts": parts}


def edit_misplaced(p: dict, rng: np.random.Generator) -> dict:
    parts = [list(c) for c in p["parts"]]
    i = int(rng.integers(len(parts)))
    ang = rng.uniform(0, 2 * np.pi)
    dist = rng.uniform(0.035, 0.06)
    parts[i][1] += float(dist * np.cos(ang))
    parts[i][2] += float(dist * np.sin(ang))
    parts[i][5] += float(rng.choice([-1, 1]) * rng.uniform(15, 35))
    return {**p, "parts": parts}
