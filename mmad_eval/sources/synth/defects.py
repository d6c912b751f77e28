"""Painted surface defects. Each factory returns a painter ``(img, region, rng) -> (img, coverage)``.

Painters work in a local window around a centre drawn inside ``region`` and return the painted coverage
(0..1, full image size); the mask is coverage above a threshold. Tones adapt to the surface (a scratch is
dark on bright material and bright on dark), blobs are noise-modulated, contamination is DRAEM-style (a
noise-thresholded mask blending a tinted foreign texture).
"""
from __future__ import annotations

import numpy as np

from .noise import (luminance, polyline_distance, smoothstep, value_noise, window, window_coords)


def _center(region: np.ndarray, rng: np.random.Generator, margin: float) -> tuple[float, float]:
    s = region.shape[0]
    m = int(min(margin, s * 0.3))
    inner = region[m:s - m, m:s - m] > 0.95
    idx = np.flatnonzero(inner)
    if idx.size == 0:
        idx = np.flatnonzero(region > 0.5)
        y, x = divmod(int(rng.choice(idx)), s)
        return x + 0.5, y + 0.5
    y, x = divmod(int(rng.choice(idx)), s - 2 * m)
    return x + m + 0.5, y + m + 0.5


def _paint(img, region, win, cov_local, colour_local):
    """Blend ``colour_local`` into ``img`` inside ``win`` with coverage limited to the region."""
    cov = np.zeros(img.shape[:2], np.float32)
    cov[win] = np.clip(cov_local, 0, 1) * region[win]
    c = cov[win][..., None]
    out = img.copy()
    out[win] = img[win] * (1 - c) + colour_local * c
    return out, cov


def _curve(rng, c, length, turn, n=24, start_angle=None, zigzag=0.0):
    """A random polyline of ``length`` pixels centred near ``c`` ((n, 2) as x, y): smooth drift of
    ``turn`` per step, plus independent per-step ``zigzag`` (a jagged crack)."""
    a = rng.uniform(0, 2 * np.pi) if start_angle is None else start_angle
    da = np.cumsum(rng.normal(0, turn, n - 1)) + rng.normal(0, zigzag, n - 1) if zigzag else \
        np.cumsum(rng.normal(0, turn, n - 1))
    step = length / (n - 1)
    pts = np.zeros((n, 2), np.float32)
    pts[1:, 0] = np.cumsum(step * np.cos(a + da))
    pts[1:, 1] = np.cumsum(step * np.sin(a + da))
    return pts - pts.mean(axis=0) + np.asarray(c, np.float32)


def _surface_tone(img, win, dark: float, bright: float):
    """A mark tone contrasting with the local surface: dark on bright material, bright on dark."""
    patch = img[win]
    if luminance(patch).mean() > 0.42:
        return patch * dark
    return patch * (1 - bright) + bright


def scratch(width=(0.7, 1.4), length=(0.12, 0.3), dark=0.4, bright=0.6):
    def paint(img, region, rng):
        s = img.shape[0]
        c = _center(region, rng, s * 0.12)
        pts = _curve(rng, c, rng.uniform(*length) * s, 0.04, n=16)
        w = rng.uniform(*width) * s / 256
        win = window(pts, w + 3, s)
        ys, xs = window_coords(win)
        d = polyline_distance(pts, ys, xs)
        fade = 0.75 + 0.25 * value_noise(rng, d.shape, max(2, d.shape[0] // 12))
        cov = np.clip(w - d + 0.5, 0, 1) * np.clip(fade, 0.45, 1)
        return _paint(img, region, win, cov, _surface_tone(img, win, dark, bright))
    return paint


def crack(width=(0.8, 1.6), length=(0.15, 0.3), tone=0.12):
    def paint(img, region, rng):
        s = img.shape[0]
        c = _center(region, rng, s * 0.15)
        main = _curve(rng, c, rng.uniform(*length) * s, 0.12, n=22, zigzag=0.55)
        k = int(rng.integers(6, 16))
        blen = rng.uniform(0.3, 0.5) * np.linalg.norm(main[-1] - main[0])
        branch = _curve(rng, (0, 0), blen, 0.12, n=10, zigzag=0.55)
        branch = branch - branch[0] + main[k]
        w = rng.uniform(*width) * s / 256
        win = window(np.vstack([main, branch]), w + 3, s)
        ys, xs = window_coords(win)
        d_main = polyline_distance(main, ys, xs)
        d_branch = polyline_distance(branch, ys, xs) + 0.35 * w
        cov = np.clip(w - np.minimum(d_main, d_branch) + 0.5, 0, 1)
        return _paint(img, region, win, cov, _surface_tone(img, win, tone, 0.45))
    return paint


def hole(radius=(0.02, 0.04), depth=0.1):
    """A hole or poke: dark inside, lit inner wall on one side, a faint bright rim."""
    def paint(img, region, rng):
        s = img.shape[0]
        r = rng.uniform(*radius) * s
        cx, cy = _center(region, rng, r + 4)
        win = window(np.array([[cx, cy]]), r * 1.4 + 3, s)
        ys, xs = window_coords(win)
        ang = np.arctan2(ys - cy, xs - cx)
        wobble = 1 + 0.12 * np.sin(3 * ang + rng.uniform(0, 6)) + 0.06 * np.sin(5 * ang + rng.uniform(0, 6))
        rr = np.hypot(xs - cx, ys - cy) / wobble
        cov = np.clip(r - rr + 0.5, 0, 1)
        la = rng.uniform(0, 2 * np.pi)
        wall = np.clip(((xs - cx) * np.cos(la) + (ys - cy) * np.sin(la)) / r, 0, 1) * smoothstep(0.3 * r, r, rr)
        inner = img[win] * depth + (0.35 * wall)[..., None] * img[win].mean(axis=(0, 1))
        rim = np.clip(1 - np.abs(rr - r - 1.0) / 1.5, 0, 1) * (1 - cov)
        out, cov_full = _paint(img, region, win, cov, inner)
        out[win] = out[win] + (0.25 * rim * region[win])[..., None] * (1 - out[win])
        cov_full[win] = np.maximum(cov_full[win], rim * region[win])     # the raised rim is part of it
        return out, cov_full
    return paint


def cut(length=(0.08, 0.16), width=(1.5, 3.5), tone=0.15):
    """A lens-shaped slit with a darker inside and a lighter edge on one side."""
    def paint(img, region, rng):
        s = img.shape[0]
        half = rng.uniform(*length) * s / 2
        c = _center(region, rng, half + 4)
        a = rng.uniform(0, np.pi)
        w = rng.uniform(*width) * s / 256
        ends = np.array([[c[0] - half * np.cos(a), c[1] - half * np.sin(a)],
                         [c[0] + half * np.cos(a), c[1] + half * np.sin(a)]])
        win = window(ends, w + 3, s)
        ys, xs = window_coords(win)
        u = (xs - c[0]) * np.cos(a) + (ys - c[1]) * np.sin(a)
        v = -(xs - c[0]) * np.sin(a) + (ys - c[1]) * np.cos(a)
        hw = w * np.clip(1 - (u / half) ** 2, 0, 1)
        cov = np.clip(hw - np.abs(v) + 0.5, 0, 1) * (hw > 0.05)
        shade = tone + 0.25 * smoothstep(-w, w, v)
        return _paint(img, region, win, cov, img[win] * shade[..., None])
    return paint


def _blob(rng, s, c, radius, roughness=0.35):
    a = rng.uniform(*radius) * s
    b = a * rng.uniform(0.5, 1.0)
    win = window(np.array([c]), a * 1.6 + 2, s)
    ys, xs = window_coords(win)
    t = rng.uniform(0, np.pi)
    u = (xs - c[0]) * np.cos(t) + (ys - c[1]) * np.sin(t)
    v = -(xs - c[0]) * np.sin(t) + (ys - c[1]) * np.cos(t)
    f = 1 - (u / a) ** 2 - (v / b) ** 2 + roughness * value_noise(rng, u.shape, max(3, int(u.shape[0] / 8)))
    return win, f


def stain(tint=(0.45, 0.3, 0.2), radius=(0.04, 0.09), mode="mix", strength=(0.6, 0.85)):
    """A noise-edged colour blob: ``mix`` paints the tint, ``multiply`` darkens/tints like oil or liquid."""
    tint = np.asarray(tint, np.float32)

    def paint(img, region, rng):
        s = img.shape[0]
        c = _center(region, rng, radius[1] * s)
        win, f = _blob(rng, s, c, radius)
        cov = smoothstep(0.0, 0.15, f) * rng.uniform(*strength)
        patch = img[win]
        if mode == "multiply":
            colour = patch * tint
        else:
            colour = tint * (0.75 + 0.5 * luminance(patch))[..., None]
        return _paint(img, region, win, cov, colour)
    return paint


def glue(radius=(0.04, 0.08), opacity=(0.55, 0.75)):
    """A translucent bright blob with a soft highlight."""
    def paint(img, region, rng):
        s = img.shape[0]
        c = _center(region, rng, radius[1] * s)
        win, f = _blob(rng, s, c, radius, roughness=0.25)
        cov = smoothstep(0.0, 0.2, f) * rng.uniform(*opacity)
        hl = smoothstep(0.3, 0.9, f)[..., None] * 0.08
        colour = np.clip(0.82 + 0.2 * img[win] + hl, 0, 1)
        return _paint(img, region, win, cov, colour)
    return paint


def contamination(tint=(0.2, 0.18, 0.15), radius=(0.03, 0.07), threshold=(0.0, 0.5), shiny=False):
    """DRAEM-style: a noise-thresholded mask blending a tinted foreign texture into the surface."""
    tint = np.asarray(tint, np.float32)

    def paint(img, region, rng):
        s = img.shape[0]
        c = _center(region, rng, radius[1] * s)
        win, f = _blob(rng, s, c, radius, roughness=0.2)
        n = value_noise(rng, f.shape, max(3, f.shape[0] // 5))
        thr = rng.uniform(*threshold)
        m = smoothstep(thr, thr + 0.3, n) * smoothstep(-0.1, 0.25, f)
        m = np.maximum(m, smoothstep(0.25, 0.5, f))        # a solid core so the particle is one piece
        fine = value_noise(rng, f.shape, max(4, f.shape[0] // 2))
        colour = tint * (0.8 + 0.25 * fine)[..., None]
        if shiny:
            colour = colour + 0.5 * smoothstep(0.6, 1.4, fine)[..., None]
        return _paint(img, region, win, m * rng.uniform(0.85, 1.0), np.clip(colour, 0, 1))
    return paint


def thread(colour=(0.12, 0.1, 0.1), length=(0.2, 0.4), width=(1.0, 1.6)):
    """A loose fibre of another colour lying on the surface."""
    col = np.asarray(colour, np.float32)

    def paint(img, region, rng):
        s = img.shape[0]
        c = _center(region, rng, s * 0.2)
        pts = _curve(rng, c, rng.uniform(*length) * s, 0.25, n=30)
        w = rng.uniform(*width) * s / 256
        win = window(pts, w + 3, s)
        ys, xs = window_coords(win)
        d = polyline_distance(pts, ys, xs)
        cov = np.clip(w - d + 0.5, 0, 1)
        shade = 0.85 + 0.3 * np.clip(1 - d / (w + 0.5), 0, 1)
        return _paint(img, region, win, cov, col * shade[..., None])
    return paint


def stroke(colour=(0.45, 0.45, 0.47), width=(2.5, 5.0), length=(0.15, 0.3)):
    """A brush-like stroke of another colour with a ragged edge (e.g. a gray stroke on tile)."""
    col = np.asarray(colour, np.float32)

    def paint(img, region, rng):
        s = img.shape[0]
        c = _center(region, rng, s * 0.15)
        pts = _curve(rng, c, rng.uniform(*length) * s, 0.08, n=12)
        w = rng.uniform(*width) * s / 256
        win = window(pts, w + 4, s)
        ys, xs = window_coords(win)
        d = polyline_distance(pts, ys, xs)
        rag = value_noise(rng, d.shape, max(3, d.shape[0] // 4)) * 0.8
        cov = np.clip(w + rag - d + 0.5, 0, 1) * 0.9
        fine = value_noise(rng, d.shape, max(4, d.shape[0] // 2))
        return _paint(img, region, win, cov, col * (0.9 + 0.1 * fine)[..., None])
    return paint
