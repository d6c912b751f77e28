"""Defect Localization: where the mask lies on a 3x3 image grid, or (object categories whose outline the
normal images give, see object_zones.py) where it lies on the object: middle, a side's edge or part, around
the edge. Either way distractors are regions the mask never touches, in the same form as the answer.

Grid form: the answer names the dominant cell(s): every cell holding at least 30 % of the defect area (so a tiny
mark straddling a border names the cell with most of it, and a 60/40 split names both). Distractors come
only from cells with no defect pixel at all, in the same form as the answer (single cell, pair, row or
column), so no distractor overlaps the defect and the option lengths match. Over a whole set, build.py
then redraws them across forms (balance.py) so that no phrase, form or length gives the answer away.
"""
from __future__ import annotations

from itertools import combinations

from .context import DEFECT_PREFIX, Context, Skip
from .margins import DEFAULT, Margins
from .masks import MaskStats, cell_name
from .object_zones import ZONE_PHRASES, Placement, answer_zone, free_zones
from .options import Draft, content_words, display, pick

QUESTION = f"{DEFECT_PREFIX} Where is the defect located?"
_LINES = {"row": ("along the top", "across the middle", "along the bottom"),
          "col": ("along the left side", "down the middle", "along the right side")}
SEVERAL = "in several places"
WIDE = "across most of the image"


def region_phrase(stats: MaskStats) -> tuple[str, str]:
    """(phrase, form) for a mask; form is cell | pair | row | col | several | wide."""
    cells = stats.dominant()
    if stats.blobs >= 3 and len({c for b in stats.blob_cells for c in b}) >= 3:
        return SEVERAL, "several"
    if len(cells) == 1:
        return cell_name(cells[0]), "cell"
    if len(cells) == 2:
        return f"{cell_name(cells[0])} and {cell_name(cells[1])}", "pair"
    rows, cols = {c // 3 for c in cells}, {c % 3 for c in cells}
    if len(rows) == 1:
        return _LINES["row"][rows.pop()], "row"
    if len(cols) == 1:
        return _LINES["col"][cols.pop()], "col"
    return (SEVERAL, "several") if stats.blobs >= 2 else (WIDE, "wide")


_CENTRAL = {1, 3, 4, 5, 7}    # center and edge-middle cells: where defects usually are


def _free_cells(stats: MaskStats) -> list[int]:
    """Cells no defect pixel touches or comes within the gap margin of (``MaskStats.near``)."""
    near = set(stats.near or stats.touched)
    return [i for i in range(9) if i not in near]


def _candidates(stats: MaskStats, form: str) -> list[list[str]]:
    """Free regions in the answer's form. Central cells come first: defects cluster near the middle of
    the image, and offering the middle whenever it is free keeps "center" from being a give-away answer."""
    free = _free_cells(stats)
    singles = [[cell_name(i) for i in free if i in _CENTRAL], [cell_name(i) for i in free if i not in _CENTRAL]]
    if form == "pair":
        pairs = list(combinations(free, 2))
        pair = [[f"{cell_name(a)} and {cell_name(b)}" for a, b in pairs if {a, b} & _CENTRAL],
                [f"{cell_name(a)} and {cell_name(b)}" for a, b in pairs if not {a, b} & _CENTRAL]]
        return [*pair, *singles]
    if form in ("row", "col"):
        return [_free_lines(free), *singles]
    return singles


def free_regions(stats: MaskStats, form: str) -> list[str]:
    """Every phrase that is wrong for this mask, in any form: cells, pairs and lines the mask never
    touches; "in several places" for a single blob; "across most of the image" for a mask within three
    cells. The corpus balancing pass (balance.py) draws distractors from these."""
    free = _free_cells(stats)
    out = [cell_name(i) for i in free]
    out += [f"{cell_name(a)} and {cell_name(b)}" for a, b in combinations(free, 2)]
    out += _free_lines(free)
    if form != "several" and one_mark(stats):
        out.append(SEVERAL)
    if form != "wide" and len(stats.near or stats.touched) <= 3:
        out.append(WIDE)
    return [_option(p) for p in out]


def _free_lines(free: list[int]) -> list[str]:
    rows = [_LINES["row"][r] for r in range(3) if all(r * 3 + c in free for c in range(3))]
    return rows + [_LINES["col"][c] for c in range(3) if all(r * 3 + c in free for r in range(3))]


def one_mark(stats: MaskStats, margin: float = 2.0, share: float = 0.02) -> bool:
    """One blob holds the defect even when blobs are counted from ``share / margin`` of its area: "in
    several places" is then clearly wrong."""
    shares = stats.blob_shares or (1.0,)
    return sum(s >= share / margin for s in shares) == 1


def _option(phrase: str) -> str:
    if phrase.startswith(("along", "across", "down", "in ")):
        return display(phrase, period=True)
    return display(f"{phrase} of the image", period=True)


def defect_localization(ctx: Context, stats: MaskStats | None, placement: Placement | None = None,
                        object_share: float = 0.0, m: Margins = DEFAULT) -> Draft:
    """The grid form, or (for a share ``object_share`` of the questions on object categories whose outline
    is known and whose defect lies in one zone of it, drawn per image) the object-relative form."""
    if stats is None:
        raise Skip("no defect pixels in the mask" if ctx.sample.mask else "no mask")
    obj = _object_draft(ctx, stats, placement) if object_share > 0 else None
    if obj is not None:
        obj.margins = m.of("zone_gap")
    if obj is not None and ctx.rng("localization#form").random() < object_share:
        try:                                # the grid form stands in if balancing must leave this one out
            obj.pool["fallback"] = _grid_draft(ctx, stats, m)
        except Skip:
            pass
        return obj
    try:
        return _grid_draft(ctx, stats, m)
    except Skip:
        if obj is not None:
            return obj
        raise


def _grid_draft(ctx: Context, stats: MaskStats, m: Margins = DEFAULT) -> Draft:
    phrase, form = region_phrase(stats)
    tiers = [[_option(p) for p in tier] for tier in _candidates(stats, form)]
    correct = _option(phrase)
    distractors = pick(tiers, 3, ctx.rng("localization"), correct=correct)
    if not distractors:
        raise Skip("the mask touches or comes near every region of the 3x3 grid")
    keywords = [content_words(phrase)]
    return Draft(type="Defect Localization", text=QUESTION, correct=correct, distractors=distractors,
                 rule=f"localization.grid3x3.{form}", fields=["mask"], keywords=keywords,
                 details={"cells": [cell_name(c) for c in stats.dominant()],
                          "touched": [cell_name(c) for c in stats.touched],
                          "near": [cell_name(c) for c in (stats.near or stats.touched)], "blobs": stats.blobs},
                 pool={"free": [t for t in free_regions(stats, form) if t != correct]},
                 margins=m.of("grid_gap", "blob_share", "blob_margin"))


def _object_draft(ctx: Context, stats: MaskStats, placement: Placement | None) -> Draft | None:
    """Where the defect is on the object (object_zones.py), for object categories only; None when the
    outline is unknown, the defect is spread over zones or off the object, or fewer than three zones are
    free of it (the distractors must be regions the mask does not touch)."""
    ck = ctx.ck()
    if placement is None or ck is None or ck.kind != "object":
        return None
    found = answer_zone(placement)
    free = free_zones(placement)
    if found is None or len(free) < 3:
        return None
    zone, form = found
    correct = display(ZONE_PHRASES[zone], period=True)
    options = {z: display(ZONE_PHRASES[z], period=True) for z in free}
    tiers = [[options[z] for z in free if z == "middle"], [options[z] for z in free if z != "middle"]]
    distractors = pick(tiers, 3, ctx.rng("localization"), correct=correct)
    return Draft(type="Defect Localization", text=QUESTION, correct=correct, distractors=distractors,
                 rule=f"localization.object.{form}", fields=["mask", "normal_images"],
                 keywords=[content_words(ZONE_PHRASES[zone])],
                 details={"zone": zone, "placement": placement.as_dict(), "blobs": stats.blobs},
                 pool={"free": list(options.values())})
