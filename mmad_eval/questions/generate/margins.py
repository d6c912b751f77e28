"""The thresholds and margins that keep each question to exactly one defensible option.

A measured value is phrased only when it sits clearly inside one bin: a value within the margin of a bin
boundary is *uncertain* (a person could defend either side), and the rule then leaves that attribute out
of every option, varies another one, or leaves the question out and counts it. Every generated question
records the margins its rule used (``provenance["margins"]``), and ``mmad-eval audit`` recomputes the
values from the masks/images/knowledge and checks them against the same numbers.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

from ...errors import ConfigError


@dataclass(frozen=True)
class Margins:
    # Defect Description, size: defect area / product area (the object's outline where it is known; the
    # whole image for textures); bins tiny < 0.2 % < small < 1 % < medium < 4 % < large
    size_steps: tuple[float, float, float] = (0.002, 0.01, 0.04)
    size_margin: float = 1.5             # an area within x1.5 of a boundary has no certain size
    # Defect Description, shape (second moments of the largest blob; significant blobs)
    elongated: float = 3.0               # axis ratio from which a blob is elongated ...
    elongation_margin: float = 1.25      # ... certain only beyond x1.25 (3.75), certainly not below /1.25 (2.4)
    round_max_elongation: float = 1.6    # round: compact (axis ratio below this) ...
    round_fill: float = 0.75             # ... and filling its moment ellipse at least this much
    fill_margin: float = 0.08            # fill within +-0.08 of round_fill is uncertain
    blob_share: float = 0.02             # a blob is significant from this share of the defect area
    blob_margin: float = 2.0             # scattered: >= 3 blobs even at share x2; one mark: 1 blob even at /2
    # Defect Description, tone (mean change at the defect pixels vs the category's normal mean, 0-255)
    lum_step: float = 12.0               # |d luminance| from which a defect is darker/brighter
    chroma_step: float = 10.0            # d chroma from which it is of a different colour
    tone_margin: float = 1.5             # changed: >= step x1.5; unchanged: < step / 1.5; else uncertain
    # Defect Localization: a distractor region keeps this distance (fraction of the image side, or of the
    # object's normalised radius) from every defect pixel
    grid_gap: float = 0.04
    zone_gap: float = 0.1

    def __post_init__(self):
        steps = self.size_steps
        if len(steps) != 3 or not 0 < steps[0] < steps[1] < steps[2] < 1:
            raise ConfigError("size_steps must be three increasing fractions", culprit=str(steps))
        for name in ("size_margin", "elongation_margin", "blob_margin", "tone_margin"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} is a factor: at least 1 (1 = no margin)", culprit=str(getattr(self, name)))
        for name in ("elongated", "round_max_elongation", "lum_step", "chroma_step"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive", culprit=str(getattr(self, name)))
        for name in ("round_fill", "fill_margin", "blob_share", "grid_gap", "zone_gap"):
            if not 0 <= getattr(self, name) < 1:
                raise ConfigError(f"{name} must be between 0 and 1", culprit=str(getattr(self, name)))

    def with_overrides(self, pairs: list[str]) -> "Margins":
        """A copy with ``NAME=VALUE`` overrides (the CLI's ``--margin``); unknown names are an error."""
        known = {f.name: f for f in fields(self)}
        changes = {}
        for pair in pairs:
            name, sep, value = pair.partition("=")
            name = name.strip().replace("-", "_")
            if not sep or name not in known:
                raise ConfigError(f"expected NAME=VALUE with NAME one of {', '.join(known)}", culprit=pair)
            try:
                changes[name] = (tuple(float(v) for v in value.split(",")) if name == "size_steps"
                                 else float(value))
            except ValueError:
                raise ConfigError("not a number", culprit=pair) from None
        return replace(self, **changes)

    def as_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    def of(self, *names: str) -> dict:
        """The named subset recorded with a rule's questions."""
        d = self.as_dict()
        return {n: d[n] for n in names}


DEFAULT = Margins()
DESCRIPTION_KEYS = ("size_steps", "size_margin", "elongated", "elongation_margin", "round_max_elongation",
                    "round_fill", "fill_margin", "blob_share", "blob_margin", "lum_step", "chroma_step",
                    "tone_margin")
