"""Image perturbations of robustness runs: pinned pixels, invariants, and settings that refuse bad lists."""
import hashlib

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from PIL import Image

from mmad_eval.errors import ConfigError
from mmad_eval.prompt.perturb import perturb_image
from mmad_eval.settings import ProtocolSettings, canonical_perturbations

IMG = Image.fromarray(np.random.default_rng(7).integers(0, 255, (48, 64, 3), dtype=np.uint8))


def _px(img) -> np.ndarray:
    return np.asarray(img, dtype=np.int16)


def _hash(img) -> str:
    return hashlib.sha256(np.asarray(img).tobytes()).hexdigest()[:16]


# pixel snapshots (Pillow's Gaussian blur and JPEG codec, numpy's PCG64 and scipy's FFT convolution): a change
# in any of them, or in our code, changes what a robustness run sends, and so its answer keys
@pytest.mark.parametrize("spec,digest", [("blur=1.5", "0b92acddc35041c5"), ("motion=7", "0332f16bbbb13d34"),
                                         ("lowlight=2.2", "60a0bd67d5cfdc4a"), ("noise=12", "ac98aa2867800e34"),
                                         ("jpeg=25", "b8119e02611aeb9b"),
                                         ("motion=5,lowlight=1.5,noise=4", "483742196bdd5ec8")])
def test_pinned_pixels(spec, digest):
    out = perturb_image(IMG, spec, 3, "abc")
    assert out.size == IMG.size and out.mode == "RGB" and _hash(out) == digest


def test_mild_settings_change_nothing():
    for spec in ("blur=0", "lowlight=1", "noise=0", "motion=1", ""):
        assert _hash(perturb_image(IMG, spec, 0, "x")) == _hash(IMG), spec


def test_random_parts_follow_seed_and_image():
    a = perturb_image(IMG, "noise=10", 1, "img-a")
    assert _hash(a) == _hash(perturb_image(IMG, "noise=10", 1, "img-a"))      # same run, same pixels
    assert _hash(a) != _hash(perturb_image(IMG, "noise=10", 2, "img-a"))      # another seed
    assert _hash(a) != _hash(perturb_image(IMG, "noise=10", 1, "img-b"))      # another image
    assert _hash(perturb_image(IMG, "motion=9", 1, "img-a")) != _hash(perturb_image(IMG, "motion=9", 1, "img-b"))


def test_each_kind_does_what_it_says():
    base = _px(IMG).astype(float)
    assert _px(perturb_image(IMG, "lowlight=2", 0, "x")).mean() < 0.7 * base.mean()           # darker
    blurred = _px(perturb_image(IMG, "blur=2", 0, "x")).astype(float)
    assert np.abs(np.diff(blurred, axis=1)).mean() < 0.5 * np.abs(np.diff(base, axis=1)).mean()   # smoother
    noisy = _px(perturb_image(IMG, "noise=20", 0, "x")).astype(float)
    assert 10 < (noisy - base).std() < 25
    assert _hash(perturb_image(IMG, "jpeg=20", 0, "x")) != _hash(IMG)
    assert _hash(perturb_image(IMG, "blur=1,lowlight=2", 0, "x")) != _hash(perturb_image(IMG, "lowlight=2,blur=1", 0, "x"))


@settings(max_examples=25, deadline=None, derandomize=True)
@given(st.lists(st.sampled_from(["blur=1", "motion=4", "lowlight=1.8", "noise=6", "jpeg=40"]), min_size=1, max_size=3),
       st.integers(0, 5))
def test_any_list_keeps_size_and_is_deterministic(parts, seed):
    spec = ",".join(parts)
    out = perturb_image(IMG, spec, seed, "s")
    assert out.size == IMG.size and out.mode == "RGB" and _hash(out) == _hash(perturb_image(IMG, spec, seed, "s"))


@pytest.mark.parametrize("spec,culprit", [("blur", "blur"), ("fog=2", "fog=2"), ("blur=abc", "blur=abc"),
                                          ("jpeg=12.5", "jpeg=12.5"), ("lowlight=0", "lowlight=0"),
                                          ("noise=1000", "noise=1000")])
def test_bad_lists_are_refused_naming_the_part(spec, culprit):
    with pytest.raises(ConfigError) as e:
        ProtocolSettings(perturb=f"blur=1,{spec}")
    assert e.value.culprit == culprit


def test_recorded_form_is_canonical_and_absent_when_clean():
    assert canonical_perturbations(" blur=2.0 , jpeg=30 ") == "blur=2,jpeg=30"
    assert ProtocolSettings(perturb="blur=2.0").as_dict()["perturb"] == "blur=2"
    assert "perturb" not in ProtocolSettings().as_dict()        # older records and keys unchanged
