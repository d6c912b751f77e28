"""Texture categories (carpet, grid, leather, tile, wood): a texture seed and small colour/pose jitter
per item. Each renderer is a pure function of its parameters, so a parameter edit re-renders exactly."""
from __future__ import annotations

import numpy as np

from .noise import fbm, grid_coords, rng_from, smoothstep, value_noise
from .spec import Render


def sample_texture(rng: np.random.Generator) -> dict:
    return {"tex_seed": int(rng.integers(2**31)), "hue": rng.normal(0, 0.006, 3).tolist(),
            "angle": float(rng.normal(0, 2.0)), "phase": rng.uniform(0, 1, 2).tolist()}


def _finish(rgb: np.ndarray, p: dict) -> Render:
    rgb = np.clip(rgb * (1 + np.asarray(p["hue"], np.float32)), 0, 1).astype(np.float32)
    return Render(rgb, np.ones(rgb.shape[:2], np.float32))


def _rotated(size: int, p: dict):
    y, x = grid_coords(size)
    a = np.deg2rad(p["angle"])
    u = (x - size / 2) * np.cos(a) + (y - size / 2) * np.sin(a)
    v = -(x - size / 2) * np.sin(a) + (y - size / 2) * np.cos(a)
    return u, v


def render_carpet(p: dict, size: int) -> Render:
    rng = rng_from(p["tex_seed"])
    u, v = _rotated(size, p)
    period = size / 26
    ph = np.asarray(p["phase"]) * 2 * np.pi
    jit = value_noise(rng, (size, size), 20) * 0.6
    a = np.sin(2 * np.pi * (u + v) / period + ph[0] + jit)
    b = np.sin(2 * np.pi * (u - v) / period + ph[1] + jit)
    weave = np.where(np.sin(np.pi * u / period) > 0, a, b)
    fibre = value_noise(rng, (size, size), size // 2)
    mid = fbm(rng, (size, size), 6, octaves=2)
    lum = 0.5 + 0.09 * weave + 0.07 * fibre + 0.04 * mid
    base = np.array([0.82, 0.8, 0.76], np.float32)
    return _finish(lum[..., None] * base * 1.05, p)


def render_leather(p: dict, size: int) -> Render:
    rng = rng_from(p["tex_seed"])
    cells = value_noise(rng, (size, size), size // 9)
    fine = value_noise(rng, (size, size), size // 3)
    height = -np.abs(cells) * 0.8 + 0.25 * fine + 0.2 * fbm(rng, (size, size), 8, octaves=2)
    gy, gx = np.gradient(height)
    shade = 1 + 1.6 * (gx * 0.6 - gy * 0.8)
    base = np.array([0.52, 0.33, 0.2], np.float32)
    lum = (0.92 + 0.1 * height) * shade
    return _finish(lum[..., None] * base, p)


def render_tile(p: dict, size: int) -> Render:
    rng = rng_from(p["tex_seed"])
    mid = fbm(rng, (size, size), 5, octaves=3)
    fleck_n = value_noise(rng, (size, size), size // 5)
    flecks = smoothstep(1.15, 1.45, fleck_n)
    light = smoothstep(1.2, 1.5, -value_noise(rng, (size, size), size // 6))
    grain = value_noise(rng, (size, size), size // 2)
    lum = 0.74 + 0.04 * mid + 0.03 * grain - 0.3 * flecks + 0.1 * light
    base = np.array([0.98, 0.98, 1.0], np.float32)
    return _finish(lum[..., None] * base, p)


def render_wood(p: dict, size: int) -> Render:
    rng = rng_from(p["tex_seed"])
    y, x = grid_coords(size)
    warp = value_noise(rng, (size, size), (2, 4)) * 0.9 + value_noise(rng, (size, size), (4, 9)) * 0.25
    rings = np.sin(2 * np.pi * (x / (size / 7) + warp + p["phase"][0]))
    streak = fbm(rng, (size, size), 6, octaves=3, aspect=1 / 10)
    fine = value_noise(rng, (size, size), (size // 24, size // 2))
    t = 0.5 + 0.22 * rings + 0.12 * streak + 0.05 * fine
    light = np.array([0.78, 0.55, 0.34], np.float32)
    dark = np.array([0.55, 0.34, 0.19], np.float32)
    rgb = dark + (light - dark) * np.clip(t, 0, 1)[..., None]
    return _finish(rgb, p)


# --- grid: a wire mesh whose edits (bent, broken wire) are re-rendered --------------------------------

def sample_grid(rng: np.random.Generator) -> dict:
    p = sample_texture(rng)
    p.update(bends=[], gaps=[])
    return p


def render_grid(p: dict, size: int) -> Render:
    rng = rng_from(p["tex_seed"])
    u, v = _rotated(size, p)
    period = size / 11
    for cx, cy, amp, sig, along_u in p["bends"]:
        bump = amp * size * np.exp(-(((u - cx * size) ** 2 + (v - cy * size) ** 2) / (sig * size) ** 2))
        if along_u:
            u = u + bump
        else:
            v = v + bump
    pu = (u / period + p["phase"][0]) % 1.0
    pv = (v / period + p["phase"][1]) % 1.0
    half = 0.09
    du = np.abs(pu - 0.5) / half                # distance to the wire running along v (vertical)
    dv = np.abs(pv - 0.5) / half
    wire_v = np.clip(1 - du, 0, 1)
    wire_h = np.clip(1 - dv, 0, 1)
    cell_u = np.floor(u / period + p["phase"][0])
    cell_v = np.floor(v / period + p["phase"][1])
    for iu, iv, which, frac in p["gaps"]:
        sel = (cell_u == iu) & (cell_v == iv)
        pos = pv if which == "v" else pu
        cut = sel & (np.abs(pos - frac) < 0.22)
        if which == "v":
            wire_v = np.where(cut, 0, wire_v)
        else:
            wire_h = np.where(cut, 0, wire_h)
    over = ((cell_u + cell_v) % 2) == 0
    top_v = np.where(over, wire_v, wire_v * (1 - wire_h))
    top_h = np.where(over, wire_h * (1 - wire_v), wire_h)
    prof_v = np.sqrt(np.clip(top_v, 0, 1))
    prof_h = np.sqrt(np.clip(top_h, 0, 1))
    metal = 0.68 + 0.08 * value_noise(rng, (size, size), size // 4)
    bg = 0.17 + 0.05 * fbm(rng, (size, size), 6, octaves=3)
    shadow = 1 - 0.35 * smoothstep(0.8, 0.0, np.minimum(du, dv) - 1.0)
    lum = bg * shadow
    lum = lum * (1 - prof_v) + metal * (0.55 + 0.45 * prof_v) * prof_v
    lum = lum * (1 - prof_h) + metal * (0.55 + 0.45 * prof_h) * prof_h
    base = np.array([0.93, 0.95, 1.0], np.float32)
    return _finish(lum[..., None] * base, p)


def edit_bent(p: dict, rng: np.random.Generator) -> dict:
    q = dict(p)
    sign = rng.choice([-1.0, 1.0])
    q["bends"] = [(float(rng.uniform(-0.3, 0.3)), float(rng.uniform(-0.3, 0.3)),
                   float(sign * rng.uniform(0.035, 0.05)), float(rng.uniform(0.05, 0.08)), bool(rng.integers(2)))]
    return q


def edit_broken(p: dict, rng: np.random.Generator) -> dict:
    q = dict(p)
    n = int(rng.integers(1, 3))
    iu, iv = int(rng.integers(-3, 3)), int(rng.integers(-3, 3))
    which = str(rng.choice(["u", "v"]))
    q["gaps"] = [(iu + k * (which == "u"), iv + k * (which == "v"), which, float(rng.uniform(0.3, 0.7)))
                 for k in range(n)]
    return q
