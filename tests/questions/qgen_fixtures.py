"""Hand-built annotated sets for the question-generator tests: tiny PNG images and masks written here."""
from __future__ import annotations

import numpy as np
from PIL import Image

from mmad_eval.sources.knowledge import CategoryKnowledge, DefectKnowledge, Knowledge
from mmad_eval.sources.sample import AnnotatedSample, SourceSet

SIDE = 60


def write_png(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array, dtype=np.uint8)).save(path)


def gray(value=128, side=SIDE):
    return np.full((side, side, 3), value, dtype=np.uint8)


def box_mask(y0, y1, x0, x1, side=SIDE):
    m = np.zeros((side, side), dtype=np.uint8)
    m[y0:y1, x0:x1] = 255
    return m


def disk_mask(cy, cx, r, side=SIDE):
    yy, xx = np.mgrid[:side, :side]
    return (((yy - cy) ** 2 + (xx - cx) ** 2) <= r * r).astype(np.uint8) * 255


def knowledge() -> Knowledge:
    def d(name, cause, effect, syn=()):
        return DefectKnowledge(name=name, appearance=f"a {name}", cause=cause, effect=effect, synonyms=list(syn))

    bottle = CategoryKnowledge(
        category="bottle", name="glass bottle", kind="object", parts=["rim", "neck", "bottom"],
        materials=["glass"], colors=["brown"], shape="round", count={"what": "rims", "value": 1},
        similar=["cup"],
        defects={"broken_large": d("large break", "a hard impact during transport", "the bottle leaks",
                                   ["big breakage"]),
                 "contamination": d("contamination", "dirt left in the filling line", "the content is spoiled",
                                    ["dirt"]),
                 "scratch": d("scratch", "rubbing against a conveyor rail", "a weak spot in the glass")})
    cup = CategoryKnowledge(
        category="cup", name="ceramic cup", parts=["handle", "rim"], materials=["ceramic"], colors=["white"],
        shape="cylindrical", similar=["bottle"],
        defects={"chip": d("chip", "a knock against another cup", "sharp edge at the rim"),
                 "crack": d("crack", "thermal shock in the kiln", "the cup leaks", ["fracture"])})
    tile = CategoryKnowledge(
        category="tile", name="ceramic tile", kind="texture", materials=["ceramic"], colors=["gray"],
        defects={"crack": d("crack", "stress while drying", "the tile breaks", ["fracture"]),
                 "oil": d("oil stain", "a leaking press", "a visible stain", ["stain"])})
    return Knowledge(categories={"bottle": bottle, "cup": cup, "tile": tile})


def build_source(root, n_normal=3, masks=None) -> SourceSet:
    """A 3-category source: normals, and defective images with masks and pixel changes.

    ``masks`` maps name -> (category, defect, mask array, pixel value inside the mask).
    """
    ds = "DS"
    samples, normals = [], {}
    for cat, base in (("bottle", 120), ("cup", 140), ("tile", 100)):
        pool = []
        for i in range(4):
            p = f"{ds}/{cat}/train/good/{i:03d}.png"
            write_png(root / p, gray(base + i))
            pool.append(p)
        normals[cat] = pool
        for i in range(n_normal):
            p = f"{ds}/{cat}/test/good/{i:03d}.png"
            write_png(root / p, gray(base + 1))
            samples.append(AnnotatedSample(image=p, dataset=ds, category=cat, is_anomalous=False))
    masks = masks if masks is not None else default_masks()
    for i, (name, (cat, defect, mask, value)) in enumerate(sorted(masks.items())):
        img = gray({"bottle": 121, "cup": 141, "tile": 101}[cat])
        img[mask > 0] = value
        p = f"{ds}/{cat}/test/{defect}/{name}.png"
        mp = f"{ds}/{cat}/ground_truth/{defect}/{name}_mask.png"
        write_png(root / p, img)
        write_png(root / mp, mask)
        samples.append(AnnotatedSample(image=p, dataset=ds, category=cat, is_anomalous=True, defect_type=defect,
                                       mask=mp))
    return SourceSet(root=root, dataset=ds, samples=samples, normals=normals)


def default_masks():
    return {
        "tl_blob": ("bottle", "contamination", disk_mask(8, 8, 5), 30),          # top left, round, darker
        "br_line": ("bottle", "scratch", box_mask(48, 50, 30, 58), 230),          # bottom (right), thin, brighter
        "center_big": ("cup", "crack", disk_mask(30, 30, 12), 40),                # center, large
        "two_blobs": ("tile", "oil", np.maximum(disk_mask(8, 8, 4), disk_mask(51, 51, 4)), 20),
        "straddle": ("tile", "crack", box_mask(17, 23, 5, 8), 20),                # 17-19 top (3 rows) 20-22 mid
    }

