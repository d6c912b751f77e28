"""Object categories (bottle top view, screw, pill, capsule) rendered analytically from pose parameters.

Edges are anti-aliased from signed distances; every edit (broken rim, bent tip, flattened thread, erased
imprint, squeeze, other pill type) is a parameter change re-rendered by the same pure function.
"""
from __future__ import annotations

import numpy as np

from .noise import fbm, grid_coords, polyline_distance, rng_from, smoothstep, value_noise
from .spec import Render

GLYPHS = {  # strokes in a unit box (x right 0..0.6, y down 0..1)
    "F": [[(0.55, 0), (0, 0), (0, 1)], [(0, 0.47), (0.42, 0.47)]],
    "5": [[(0.58, 0), (0.05, 0), (0, 0.45), (0.4, 0.4), (0.6, 0.58), (0.58, 0.85), (0.35, 1), (0, 0.93)]],
    "0": [[(0.3 + 0.3 * np.sin(t), 0.5 - 0.5 * np.cos(t)) for t in np.linspace(0, 2 * np.pi, 17)]],
}


def _pose(size: int, p: dict):
    y, x = grid_coords(size)
    cx, cy = p["cx"] * size, p["cy"] * size
    a = np.deg2rad(p["angle"])
    u = (x - cx) * np.cos(a) + (y - cy) * np.sin(a)
    v = -(x - cx) * np.sin(a) + (y - cy) * np.cos(a)
    return u, v


def _cov(sdf: np.ndarray) -> np.ndarray:
    """Coverage from a signed distance in pixels (positive inside)."""
    return np.clip(sdf + 0.5, 0, 1).astype(np.float32)


def _glyphs(text: str, u, v, height: float, stroke: float, erase: list) -> np.ndarray:
    """Coverage of ``text`` centred on (0, 0) in local (u, v) pixel coordinates."""
    adv = height * 0.85
    x0 = -adv * (len(text) - 1) / 2 - 0.3 * height
    near = (np.abs(u) < adv * len(text) / 2 + height) & (np.abs(v) < height)
    uu, vv = u[near], v[near]
    d = np.full(uu.shape, np.inf, np.float32)
    for i, ch in enumerate(text):
        for line in GLYPHS[ch]:
            pts = np.array([(x0 + i * adv + gx * height, (gy - 0.5) * height) for gx, gy in line], np.float32)
            d = np.minimum(d, polyline_distance(pts, vv, uu))
    cov = np.zeros(u.shape, np.float32)
    cov[near] = np.clip(stroke - d + 0.5, 0, 1)
    for eu, ev, er in erase:    # faulty imprint: parts of the print missing
        cov = cov * smoothstep(er * height * 0.8, er * height, np.hypot(u - eu * height, v - ev * height))
    return cov


def _pose_sample(rng, jitter: float, angle_sd: float, free_angle: bool = False) -> dict:
    return {"cx": float(0.5 + rng.normal(0, jitter)), "cy": float(0.5 + rng.normal(0, jitter)),
            "angle": float(rng.uniform(0, 360) if free_angle else rng.normal(0, angle_sd)),
            "tex_seed": int(rng.integers(2**31)), "tone": float(rng.normal(1, 0.03))}


# --- bottle (top view) ---------------------------------------------------------------------------------

def sample_bottle(rng):
    p = _pose_sample(rng, 0.012, 0)
    p.update(radius=float(rng.normal(0.43, 0.005)), breaks=[])
    return p


def render_bottle(p: dict, size: int) -> Render:
    rng = rng_from(p["tex_seed"])
    u, v = _pose(size, p)
    r = np.hypot(u, v)
    th = np.arctan2(v, u)
    R = p["radius"] * size
    edge = np.full(r.shape, R, np.float32)
    fracture = np.zeros(r.shape, np.float32)
    for t0, half, depth, ph in p["breaks"]:
        dth = np.angle(np.exp(1j * (th - t0)))
        prof = np.clip(1 - (dth / half) ** 2, 0, 1) ** 0.7
        jag = 1 + 0.18 * np.sin(dth * 37 + ph) + 0.1 * np.sin(dth * 83 + 2 * ph)
        cut = depth * R * prof * jag
        edge = edge - cut
        fracture = np.maximum(fracture, (cut > 0.5) * np.clip(1 - np.abs(edge - r) / 2.5, 0, 1))
    rn = r / R
    body = _cov(edge - r)
    glass = np.array([0.36, 0.3, 0.16], np.float32)
    ring_out = np.exp(-((rn - 0.9) / 0.045) ** 2)
    lip = np.exp(-((rn - 0.62) / 0.05) ** 2)
    wall = smoothstep(0.55, 0.85, rn) * 0.5
    inside = smoothstep(0.6, 0.3, rn)
    bottom = np.exp(-(rn / 0.3) ** 2) * 0.45
    sparkle = 0.85 + 0.15 * np.cos(2 * th + 1.0)
    lum = (0.25 + wall + 0.9 * ring_out * sparkle + 0.75 * lip) * (1 - inside) + (0.08 + bottom) * inside
    lum = lum + 0.04 * fbm(rng, r.shape, 6, octaves=2)
    obj = lum[..., None] * glass * 1.7 + fracture[..., None] * 0.5
    bg = (0.035 + 0.01 * value_noise(rng, r.shape, 8))[..., None] * np.ones(3, np.float32)
    rgb = bg * (1 - body[..., None]) + obj * body[..., None]
    return Render(rgb.astype(np.float32) * p["tone"], body, {"inner": _cov(0.58 * R - r) * body})


def _edit_break(lo, hi, depth):
    def edit(p, rng):
        q = dict(p)
        q["breaks"] = [(float(rng.uniform(-np.pi, np.pi)), float(np.deg2rad(rng.uniform(*lo_hi))),
                        float(rng.uniform(*depth)), float(rng.uniform(0, 6)))
                       for lo_hi in [(lo, hi)]]
        return q
    return edit


edit_broken_large = _edit_break(22, 40, (0.28, 0.42))
edit_broken_small = _edit_break(7, 12, (0.1, 0.16))


# --- screw ---------------------------------------------------------------------------------------------

def sample_screw(rng):
    p = _pose_sample(rng, 0.05, 0, free_angle=True)
    p.update(bend=0.0, flat=None)
    return p


def render_screw(p: dict, size: int) -> Render:
    rng = rng_from(p["tex_seed"])
    u, v = _pose(size, p)
    s = size
    L = 0.6 * s
    u0, uh = -L / 2, -L / 2 + 0.13 * s
    ub = L / 2 - 0.17 * s
    if p["bend"]:
        v = v - p["bend"] * s * np.clip((u - ub) / (0.17 * s), 0, None) ** 2
    w, t, pitch = 0.042 * s, 0.014 * s, 0.028 * s
    saw = np.abs(((u + 0.35 * v) / pitch) % 1.0 - 0.5) * 2
    amp = np.full(u.shape, t, np.float32)
    if p["flat"] is not None:
        fu, fl = p["flat"]
        amp = amp * smoothstep(fl * s * 0.4, fl * s * 0.5, np.abs(u - fu * s))
    taper = np.clip((L / 2 - u) / (0.1 * s), 0, 1) ** 0.8
    hw_shaft = (w + amp * saw) * taper
    shaft = np.where((u > uh - 2) & (u < L / 2), hw_shaft - np.abs(v), -99.0)
    hu = (u - (u0 + 0.6 * (uh - u0))) / (0.65 * (uh - u0))
    hw_head = 0.1 * s * np.sqrt(np.clip(1 - np.clip(hu, 0, None) ** 2, 0, 1))
    head = np.where((u > u0) & (u < uh), np.minimum(hw_head - np.abs(v), u - u0), -99.0)
    sdf = np.maximum(shaft, head)
    cov = _cov(sdf)
    hw = np.where(head > shaft, np.maximum(hw_head, 1), np.maximum(hw_shaft, 1))
    cyl = np.sqrt(np.clip(1 - (v / hw) ** 2, 0, 1))
    thread_shade = np.where(head > shaft, 0.0, 0.22 * (saw - 0.5) * (amp / t))
    lum = 0.3 + 0.38 * cyl + thread_shade + 0.35 * np.exp(-((v / hw + 0.35) / 0.12) ** 2)
    lum = lum + 0.03 * value_noise(rng, u.shape, s // 6)
    metal = lum[..., None] * np.array([0.92, 0.95, 1.0], np.float32)
    shadow = smoothstep(-6, 2, _shifted_sdf(sdf, 4)) * 0.35
    bg = (0.8 + 0.03 * fbm(rng, u.shape, 4, octaves=2))[..., None] * np.array([1.0, 1.0, 0.98], np.float32)
    bg = bg * (1 - shadow[..., None])
    rgb = bg * (1 - cov[..., None]) + metal * cov[..., None]
    head_region = _cov(head) * (u < uh - 2)
    return Render(rgb.astype(np.float32) * p["tone"], cov, {"head": head_region})


def _shifted_sdf(sdf, k):
    out = np.full_like(sdf, -99.0)
    out[k:, k:] = sdf[:-k, :-k]
    return out


def edit_bent_tip(p, rng):
    return {**p, "bend": float(rng.choice([-1, 1]) * rng.uniform(0.045, 0.07))}


def edit_thread_damage(p, rng):
    return {**p, "flat": (float(rng.uniform(0.0, 0.16)), float(rng.uniform(0.07, 0.11)))}


# --- pill ----------------------------------------------------------------------------------------------

def sample_pill(rng):
    p = _pose_sample(rng, 0.012, 2.0)
    p.update(colour=[0.94, 0.9, 0.84], speckle=1.0, erase=[])
    return p


def render_pill(p: dict, size: int) -> Render:
    rng = rng_from(p["tex_seed"])
    u, v = _pose(size, p)
    a, b = 0.38 * size, 0.17 * size
    rn = np.sqrt((u / a) ** 2 + (v / b) ** 2)
    cov = _cov((1 - rn) * b)
    z = np.sqrt(np.clip(1 - rn ** 2, 0, 1))
    lum = 0.72 + 0.22 * z + 0.12 * np.exp(-(((u + 0.3 * a) / (0.25 * a)) ** 2 + ((v + 0.45 * b) / (0.2 * b)) ** 2))
    body = lum[..., None] * np.asarray(p["colour"], np.float32)
    spk = smoothstep(1.5, 1.9, value_noise(rng, u.shape, size // 3)) * p["speckle"]
    body = body * (1 - spk[..., None]) + np.array([0.66, 0.26, 0.22], np.float32) * spk[..., None]
    ink = _glyphs("FF", u, v - 0.02 * size, 0.13 * size, 0.009 * size, p["erase"])
    body = body * (1 - 0.8 * ink[..., None]) + np.array([0.45, 0.12, 0.12], np.float32) * 0.8 * ink[..., None]
    bg = (0.06 + 0.015 * fbm(rng, u.shape, 5, octaves=2))[..., None] * np.ones(3, np.float32)
    rgb = bg * (1 - cov[..., None]) + body * cov[..., None]
    return Render(rgb.astype(np.float32) * p["tone"], cov)


def _edit_erase(p, rng):
    n = int(rng.integers(1, 3))
    er = [(float(rng.uniform(-0.9, 0.9)), float(rng.uniform(-0.4, 0.4)), float(rng.uniform(0.3, 0.5)))
          for _ in range(n)]
    return {**p, "erase": er}


edit_faulty_imprint = _edit_erase


def edit_pill_type(p, rng):
    colours = [[0.95, 0.86, 0.55], [0.72, 0.82, 0.95], [0.95, 0.75, 0.72]]
    return {**p, "colour": colours[int(rng.integers(len(colours)))], "speckle": 0.0}


# --- capsule -------------------------------------------------------------------------------------------

def sample_capsule(rng):
    p = _pose_sample(rng, 0.012, 2.0)
    p.update(erase=[], squeeze=None)
    return p


def render_capsule(p: dict, size: int) -> Render:
    rng = rng_from(p["tex_seed"])
    u, v = _pose(size, p)
    hl, r = 0.36 * size, 0.13 * size
    rr = np.full(u.shape, r, np.float32)
    if p["squeeze"] is not None:
        su, depth, width, side = p["squeeze"]
        rr = rr - depth * r * np.exp(-((u - su * hl) / (width * hl)) ** 2) * (np.sign(v) == side)
    core = np.clip(np.abs(u) - (hl - r), 0, None)
    dist = np.hypot(core, v / rr * r)
    cov = _cov(r - dist)
    z = np.sqrt(np.clip(1 - (dist / r) ** 2, 0, 1))
    left = smoothstep(1.5, -1.5, u - 0.04 * size)
    colour = left[..., None] * np.array([0.14, 0.13, 0.13], np.float32) + \
        (1 - left[..., None]) * np.array([0.85, 0.52, 0.22], np.float32)
    lum = 0.55 + 0.5 * z + 0.55 * np.exp(-((v / rr + 0.45) / 0.13) ** 2)
    body = colour * lum[..., None]
    body = body + 0.25 * np.exp(-((v / rr + 0.45) / 0.1) ** 2)[..., None]
    ink = _glyphs("500", u + 0.17 * size, v + 0.01 * size, 0.1 * size, 0.008 * size, p["erase"])
    body = body * (1 - ink[..., None]) + 0.88 * ink[..., None]
    shadow = smoothstep(-6, 2, _shifted_sdf(r - dist, 3)) * 0.3
    bg = (0.78 + 0.02 * fbm(rng, u.shape, 4, octaves=2))[..., None] * np.ones(3, np.float32)
    bg = bg * (1 - shadow[..., None])
    rgb = bg * (1 - cov[..., None]) + np.clip(body, 0, 1) * cov[..., None]
    return Render(rgb.astype(np.float32) * p["tone"], cov)


edit_capsule_imprint = _edit_erase


def edit_squeeze(p, rng):
    return {**p, "squeeze": (float(rng.uniform(-0.6, 0.6)), float(rng.uniform(0.22, 0.32)),
                             float(rng.uniform(0.18, 0.28)), float(rng.choice([-1.0, 1.0])))}
