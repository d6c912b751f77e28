"""The built-in categories and their defect types (MVTec-like snake_case names)."""
from __future__ import annotations

from . import defects as d
from . import objects as o
from . import pcb
from . import textures as t
from .spec import CategorySpec, DefectSpec

CATEGORIES: dict[str, CategorySpec] = {c.name: c for c in [
    CategorySpec("carpet", "texture", t.sample_texture, t.render_carpet, (
        DefectSpec("color", paint=d.stain(tint=(0.75, 0.25, 0.2), radius=(0.05, 0.09))),
        DefectSpec("cut", paint=d.cut(length=(0.12, 0.2), width=(2.0, 3.5))),
        DefectSpec("hole", paint=d.hole(radius=(0.025, 0.045))),
        DefectSpec("thread", paint=d.thread(colour=(0.2, 0.15, 0.35))),
        DefectSpec("metal_contamination", paint=d.contamination(tint=(0.35, 0.36, 0.4), shiny=True)),
    )),
    CategorySpec("grid", "texture", t.sample_grid, t.render_grid, (
        DefectSpec("bent", edit=t.edit_bent),
        DefectSpec("broken", edit=t.edit_broken),
        DefectSpec("glue", paint=d.glue(radius=(0.05, 0.08))),
        DefectSpec("thread", paint=d.thread(colour=(0.85, 0.8, 0.7))),
    )),
    CategorySpec("leather", "texture", t.sample_texture, t.render_leather, (
        DefectSpec("color", paint=d.stain(tint=(0.25, 0.15, 0.35), radius=(0.05, 0.1))),
        DefectSpec("cut", paint=d.cut(length=(0.1, 0.18), width=(1.8, 3.0))),
        DefectSpec("glue", paint=d.glue(radius=(0.04, 0.07))),
        DefectSpec("poke", paint=d.hole(radius=(0.012, 0.02), depth=0.15)),
    )),
    CategorySpec("tile", "texture", t.sample_texture, t.render_tile, (
        DefectSpec("crack", paint=d.crack(width=(1.0, 1.8))),
        DefectSpec("gray_stroke", paint=d.stroke()),
        DefectSpec("oil", paint=d.stain(tint=(0.55, 0.5, 0.38), radius=(0.06, 0.11), mode="multiply",
                                        strength=(0.8, 1.0))),
        DefectSpec("rough", paint=d.contamination(tint=(0.55, 0.54, 0.52), radius=(0.05, 0.09))),
    )),
    CategorySpec("wood", "texture", t.sample_texture, t.render_wood, (
        DefectSpec("color", paint=d.stain(tint=(0.2, 0.28, 0.2), radius=(0.05, 0.1))),
        DefectSpec("hole", paint=d.hole(radius=(0.015, 0.03))),
        DefectSpec("liquid", paint=d.stain(tint=(0.55, 0.45, 0.4), radius=(0.06, 0.1), mode="multiply",
                                           strength=(0.75, 0.95))),
        DefectSpec("scratch", paint=d.scratch(width=(1.0, 1.6), dark=0.45)),
    )),
    CategorySpec("bottle", "object", o.sample_bottle, o.render_bottle, (
        DefectSpec("broken_large", edit=o.edit_broken_large),
        DefectSpec("broken_small", edit=o.edit_broken_small),
        DefectSpec("contamination", paint=d.contamination(tint=(0.5, 0.45, 0.35), radius=(0.035, 0.06)),
                   region="inner"),
    )),
    CategorySpec("screw", "object", o.sample_screw, o.render_screw, (
        DefectSpec("bent_tip", edit=o.edit_bent_tip),
        DefectSpec("scratch_head", paint=d.scratch(width=(0.9, 1.4), length=(0.05, 0.09), dark=0.35),
                   region="head"),
        DefectSpec("thread_damage", edit=o.edit_thread_damage),
    )),
    CategorySpec("pill", "object", o.sample_pill, o.render_pill, (
        DefectSpec("color", paint=d.stain(tint=(0.55, 0.35, 0.25), radius=(0.025, 0.045))),
        DefectSpec("contamination", paint=d.contamination(tint=(0.25, 0.22, 0.2), radius=(0.02, 0.035))),
        DefectSpec("crack", paint=d.crack(width=(0.9, 1.4), length=(0.12, 0.2))),
        DefectSpec("faulty_imprint", edit=o.edit_faulty_imprint),
        DefectSpec("pill_type", kind="logical", edit=o.edit_pill_type),
    )),
    CategorySpec("capsule", "object", o.sample_capsule, o.render_capsule, (
        DefectSpec("crack", paint=d.crack(width=(0.9, 1.4), length=(0.1, 0.16))),
        DefectSpec("faulty_imprint", edit=o.edit_capsule_imprint),
        DefectSpec("poke", paint=d.hole(radius=(0.012, 0.02), depth=0.2)),
        DefectSpec("squeeze", edit=o.edit_squeeze),
    )),
    CategorySpec("pcb", "object", pcb.sample_pcb, pcb.render_pcb, (
        DefectSpec("burnt", paint=d.stain(tint=(0.25, 0.17, 0.1), radius=(0.04, 0.07), mode="multiply",
                                          strength=(0.8, 0.95))),
        DefectSpec("misplaced_component", kind="logical", edit=pcb.edit_misplaced),
        DefectSpec("missing_component", kind="logical", edit=pcb.edit_missing),
        DefectSpec("scratch", paint=d.scratch(width=(1.0, 1.6), length=(0.15, 0.3))),
    )),
]}
