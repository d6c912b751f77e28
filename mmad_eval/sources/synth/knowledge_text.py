"""Domain knowledge for the built-in categories, in the project's knowledge format."""
from __future__ import annotations

from ..knowledge import CategoryKnowledge, DefectKnowledge, Knowledge
from .categories import CATEGORIES

DATASET = "Synth-AD"

# category: (name, description, parts, materials, colors, shape, count, similar, normal)
CATEGORY_TEXT = {
    "carpet": ("carpet", "A close-up of a gray woven carpet surface with a fine diagonal weave.", [],
               ["wool", "synthetic fibre"], ["gray", "beige"], "flat woven surface", None, ["leather", "tile"],
               "An even, regular diagonal weave of gray fibres with slight shading; no holes, cuts, loose "
               "threads or foreign colours."),
    "grid": ("metal grid", "A close-up of a woven metal wire mesh over a dark background.", ["wires"],
             ["steel"], ["silver", "dark gray"], "square mesh", None, ["carpet", "tile"],
             "Straight, evenly spaced silver wires crossing at right angles in a regular square pattern; no "
             "bent or broken wires and nothing stuck on the mesh."),
    "leather": ("leather", "A close-up of brown grained leather.", [], ["leather"], ["brown"],
                "flat grained surface", None, ["wood", "carpet"],
                "Uniform brown leather with a fine, irregular natural grain; no cuts, holes, stains or glue."),
    "tile": ("tile", "A close-up of a light gray terrazzo-like tile speckled with small darker gray chips.", [],
             ["stone", "ceramic"], ["light gray", "gray"], "flat speckled surface", None, ["carpet", "grid"],
             "A light gray surface evenly sprinkled with small irregular gray chips; no cracks, strokes, oil or "
             "rough patches."),
    "wood": ("wood", "A close-up of a wooden board with vertical grain.", [], ["wood"], ["light brown"],
             "flat board", None, ["leather", "tile"],
             "Light brown wood with smooth, roughly vertical grain lines and rings; no holes, scratches or "
             "stains."),
    "bottle": ("bottle", "A glass bottle seen from directly above, showing its round opening.",
               ["outer rim", "lip", "opening", "bottom"], ["glass"], ["amber", "brown"], "round", None,
               ["capsule", "pill"],
               "A complete, unbroken circular rim with bright concentric rings, a dark opening and a lighter "
               "bottom in the centre; nothing inside the bottle."),
    "screw": ("screw", "A metal screw with a round head and a threaded shaft, lying on a light surface.",
              ["head", "shaft", "thread", "tip"], ["steel"], ["silver"], "long and thin", None,
              ["capsule", "pill"],
              "A straight screw with an undamaged head, an evenly threaded shaft and a sharp straight tip."),
    "pill": ("pill", "An oval white pill with small red speckles and the imprint FF.",
             ["imprint", "surface"], ["compressed powder"], ["white", "red"], "oval", None,
             ["capsule", "screw"],
             "A smooth, intact, off-white oval pill with small red speckles and a complete dark red FF imprint."),
    "capsule": ("capsule", "A two-part medicine capsule, black on one side and orange on the other, printed 500.",
                ["cap", "body", "imprint"], ["gelatin"], ["black", "orange", "white"], "elongated, rounded ends",
                None, ["pill", "screw"],
                "A smooth, symmetric capsule with a black cap, an orange body and a complete white 500 print; no "
                "dents, cracks or holes."),
    "pcb": ("printed circuit board", "A green printed circuit board with an IC, resistors, capacitors and an LED.",
            ["integrated circuit", "resistors", "capacitors", "LED", "traces", "mounting holes"],
            ["fibreglass", "copper", "solder"], ["green", "black", "blue", "red", "silver"], "square board",
            {"what": "components", "value": 8}, ["grid", "tile"],
            "Every component sits straight on its pads inside its white silkscreen outline: one IC, four "
            "resistors, two blue capacitors and a red LED; the board surface is clean and unburnt."),
}

# defect: (name, appearance, cause, effect, synonyms); keyed by category then defect
DEFECT_TEXT = {
    "color": ("color", "A patch whose colour differs from the surrounding material.",
              "Dye, ink or a foreign liquid touched the surface.", "Visible blemish; the item looks soiled.",
              ["stain", "discoloration", "color spot"]),
    "cut": ("cut", "A narrow, lens-shaped dark slit in the surface.", "A sharp blade or edge sliced the material.",
            "The material is weakened and may tear further.", ["slit", "slash"]),
    "hole": ("hole", "A small round dark opening with a lighter inner wall.", "The material was punctured or burnt through.",
             "Loss of integrity; things can pass through.", ["puncture", "perforation"]),
    "poke": ("poke", "A small round pit or puncture mark.", "A pointed object pressed into the surface.",
             "A local dent or hole that weakens the material.", ["puncture", "pin hole", "hole"]),
    "thread": ("thread", "A thin loose fibre of another colour lying across the surface.",
               "A stray fibre from production or handling.", "Foreign material on the product.", ["fiber", "hair", "loose thread"]),
    "metal_contamination": ("metal contamination", "Small shiny metallic particles embedded in the fibres.",
                            "Metal shavings from machinery fell onto the material.", "Foreign, possibly sharp, material.",
                            ["metal particles", "foreign object"]),
    "bent": ("bent wire", "Some wires curve out of their straight line, distorting the square mesh.",
             "Mechanical force pushed on the mesh.", "Uneven openings; the mesh loses its shape.", ["bent", "deformation"]),
    "broken": ("broken wire", "A wire is interrupted, leaving a gap in the mesh.", "A wire snapped or was cut.",
               "The mesh is weakened and can unravel.", ["broken", "missing wire", "gap"]),
    "glue": ("glue", "A translucent, shiny whitish blob on the surface.", "Adhesive dripped during processing.",
             "Contaminated, stiff spot.", ["adhesive", "glue residue"]),
    "crack": ("crack", "A thin dark jagged line, sometimes branching.", "Impact or stress fractured the material.",
              "The item may break apart.", ["fracture", "fissure"]),
    "gray_stroke": ("gray stroke", "A broad gray streak painted across the surface.", "Contact with a dirty tool or marker.",
                    "Visible mark spoiling the appearance.", ["stroke", "smear", "mark"]),
    "oil": ("oil", "A darker, slightly yellowish blotch with soft edges.", "Oil or grease soaked into the surface.",
            "Stain that is hard to remove.", ["grease", "oil stain"]),
    "rough": ("rough", "A patch where the surface texture is coarse and irregular.", "Faulty finishing or abrasion.",
              "Uneven surface that catches dirt.", ["rough surface", "abrasion"]),
    "liquid": ("liquid", "A darker wet-looking blotch.", "A liquid was spilled and soaked into the wood.",
               "Stain and possible swelling.", ["water stain", "spill"]),
    "scratch": ("scratch", "A thin line, darker or lighter than the surface, along the material.",
                "Rubbing against a sharp or hard object.", "Surface damage; coating may be breached.", ["scrape", "abrasion"]),
    "broken_large": ("large break", "A big piece of the rim is missing, leaving a jagged gap in the circle.",
                     "The bottle was hit or dropped.", "Unusable and dangerous: sharp glass edges.", ["broken", "chipped rim"]),
    "broken_small": ("small break", "A small chip is missing from the outer rim.", "A knock against a hard object.",
                     "Sharp edge; the bottle cannot be sealed properly.", ["chip", "chipped rim"]),
    "contamination": ("contamination", "A foreign particle or smear that does not belong on the product.",
                      "Dirt or debris from the production line.", "Hygiene problem; the item must be rejected.",
                      ["foreign object", "dirt", "debris"]),
    "bent_tip": ("bent tip", "The threaded end of the screw curves away from the straight axis.",
                 "The screw was bent by force during handling.", "It cannot be screwed in straight.", ["manipulated front", "bent"]),
    "scratch_head": ("scratch on head", "A thin line scratched across the screw head.", "Contact with a tool or another part.",
                     "Cosmetic damage, possible corrosion.", ["scratch", "head damage"]),
    "thread_damage": ("thread damage", "A section of the shaft where the thread ridges are flattened or missing.",
                      "The thread was crushed or worn.", "The screw will not hold in its hole.", ["thread side", "stripped thread"]),
    "faulty_imprint": ("faulty imprint", "The printed marking is partly missing or incomplete.",
                       "The printing step failed or the ink rubbed off.", "The product cannot be identified.",
                       ["missing print", "misprint"]),
    "pill_type": ("wrong pill type", "The whole pill has a different colour and no red speckles.",
                  "A pill of another product got mixed into the batch.", "Wrong medication for the patient.",
                  ["wrong type", "different pill"]),
    "squeeze": ("squeeze", "A dent that pinches the capsule's outline inwards on one side.",
                "The soft capsule was pressed during handling.", "It may leak or jam dispensers.", ["dent", "deformation"]),
    "burnt": ("burnt area", "A dark brown scorched patch on the board.", "Overheating or an electrical short.",
              "Damaged insulation; the board may fail.", ["scorch", "burn mark"]),
    "misplaced_component": ("misplaced component", "A component sits shifted and rotated off its pads and outline.",
                            "The pick-and-place step put it in the wrong position.", "Open or short circuits.",
                            ["shifted component", "rotated component", "misalignment"]),
    "missing_component": ("missing component", "A component is absent: its bare pads and outline are visible.",
                          "The part was not placed or fell off.", "The circuit does not work.", ["absent part", "missing part"]),
}

PILL_COLOR = ("color", "A brownish spot on the white pill surface.", "Contact with a coloured substance.",
              "The pill looks spoiled.", ["stain", "discoloration"])


def build_knowledge(categories: list[str]) -> Knowledge:
    """Knowledge records for ``categories`` covering every defect type the generator makes."""
    out = Knowledge()
    for cat in categories:
        name, desc, parts, mats, cols, shape, count, similar, normal = CATEGORY_TEXT[cat]
        spec = CATEGORIES[cat]
        ck = CategoryKnowledge(category=cat, name=name, kind=spec.kind, dataset=DATASET, description=desc,
                               parts=list(parts), materials=list(mats), colors=list(cols), shape=shape,
                               count=dict(count) if count else None, similar=list(similar), normal=normal)
        for d in spec.defects:
            text = PILL_COLOR if (cat, d.name) == ("pill", "color") else DEFECT_TEXT[d.name]
            dname, appearance, cause, effect, syn = text
            ck.defects[d.name] = DefectKnowledge(name=dname, appearance=appearance, cause=cause, effect=effect,
                                                 kind=d.kind, synonyms=list(syn))
        out.categories[cat] = ck
    return out
