"""Generation margins: every bound of every knob, and the CLI overrides (issue 25)."""
import pytest

from mmad_eval.errors import ConfigError
from mmad_eval.questions.generate.margins import DEFAULT, DESCRIPTION_KEYS, Margins


@pytest.mark.parametrize("change", [
    {"size_steps": (0.01, 0.002, 0.04)}, {"size_steps": (0.0, 0.01, 0.04)}, {"size_steps": (0.002, 0.01, 1.0)},
    {"size_steps": (0.002, 0.01)}, {"size_steps": (0.01, 0.01, 0.04)}, {"size_steps": (0.002, 0.04, 0.04)},
    {"size_margin": 0.99}, {"elongation_margin": 0.5}, {"blob_margin": 0.9}, {"tone_margin": 0.0},
    {"elongated": 0.0}, {"round_max_elongation": -1.0}, {"lum_step": 0.0}, {"chroma_step": -2.0},
    {"round_fill": 1.0}, {"fill_margin": -0.01}, {"blob_share": 1.5}, {"grid_gap": 1.0}, {"zone_gap": -0.1},
])
def test_out_of_range_margins_are_refused(change):
    with pytest.raises(ConfigError):
        Margins(**change)


@pytest.mark.parametrize("ok", [{"size_margin": 1.0}, {"tone_margin": 1.0}, {"round_fill": 0.0}, {"zone_gap": 0.0},
                                {"size_steps": (0.001, 0.5, 0.999)}, {"elongated": 0.01}])
def test_edge_values_are_accepted(ok):
    assert Margins(**ok).as_dict()[next(iter(ok))] == (list(ok["size_steps"]) if "size_steps" in ok else next(iter(ok.values())))


def test_overrides_from_the_command_line():
    m = DEFAULT.with_overrides(["size-margin=2", "size_steps=0.001,0.02,0.05", " lum_step =15"])
    assert (m.size_margin, m.size_steps, m.lum_step) == (2.0, (0.001, 0.02, 0.05), 15.0)
    assert DEFAULT.size_margin == 1.5 and DEFAULT.with_overrides([]) == DEFAULT
    for bad, why in (("size_margin", "NAME=VALUE"), ("nonsense=1", "NAME=VALUE"), ("size_margin=big", "not a number"),
                     ("size_margin=0.5", "at least 1")):
        with pytest.raises(ConfigError, match=why):
            DEFAULT.with_overrides([bad])


def test_recorded_margins():
    d = DEFAULT.as_dict()
    assert d["size_steps"] == [0.002, 0.01, 0.04] and d["grid_gap"] == 0.04
    assert DEFAULT.of("size_margin", "size_steps") == {"size_margin": 1.5, "size_steps": [0.002, 0.01, 0.04]}
    assert set(DESCRIPTION_KEYS) <= set(d)
