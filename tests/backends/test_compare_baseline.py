"""The ``compare`` baseline: each training-free help changes its answers for a visible reason."""
import numpy as np
import pytest
from PIL import Image

from backend_helpers import make_registry, run_backend
from mmad_eval.backends.base import GenerationSettings
from mmad_eval.backends.compare import CompareBackend, hint_reading, knowledge_choice, zone_phrase
from mmad_eval.backends.registry import backend_class, resolve_model
from mmad_eval.prompt.message import ImagePart, Message, Request, TextPart

AD = {"A": "Yes.", "B": "No."}
DL = {"A": "Top left of the image.", "B": "Center of the image.", "C": "Bottom right of the image."}


def texture(path, seed, spot=None):
    """A noisy gray texture; ``spot`` = (row, col) of a dark square defect."""
    rng = np.random.default_rng(seed)
    a = (128 + rng.normal(0, 6, (128, 128, 3))).clip(0, 255)
    if spot:
        y, x = spot
        a[y:y + 20, x:x + 20] = (20, 10, 10)
    Image.fromarray(a.astype(np.uint8)).save(path)
    return path


def request(reg, qtype, options, query, refs=(), knowledge=None, hint=None):
    parts = [ImagePart(reg.add_file(r), role="template") for r in refs]
    parts += [ImagePart(reg.add_file(query), role="query"), TextPart("Question\n" + "\n".join(
        f"{k}. {v}" for k, v in options.items()))]
    meta = {"type": qtype, "options": options, **({"knowledge": knowledge} if knowledge else {}),
            **({"hint_text": hint} if hint else {})}
    return Request(messages=(Message("user", tuple(parts)),), qids=("q",), options=(tuple(options),), meta=meta)


def answer(reg, req):
    return run_backend(CompareBackend("compare", GenerationSettings(), reg), [("k", req)])["k"]


@pytest.fixture
def images(tmp_path):
    return {"ref": texture(tmp_path / "ref.png", 1), "good": texture(tmp_path / "good.png", 2),
            "top_left": texture(tmp_path / "tl.png", 3, spot=(8, 8)),
            "bottom_right": texture(tmp_path / "br.png", 4, spot=(100, 100))}


def test_without_help_it_answers_the_text_prior(images):
    reg = make_registry()
    r = answer(reg, request(reg, "Anomaly Detection", AD, images["good"]))
    assert r.text == "A" and r.extra["basis"] == "text prior"      # "Yes." is the longer option
    assert answer(reg, request(reg, "Anomaly Detection", AD, images["top_left"])).text == "A"


def test_references_make_it_compare_the_query_with_normal_images(images):
    reg = make_registry()
    good = answer(reg, request(reg, "Anomaly Detection", AD, images["good"], refs=[images["ref"]]))
    bad = answer(reg, request(reg, "Anomaly Detection", AD, images["top_left"], refs=[images["ref"]]))
    assert (good.text, bad.text) == ("B", "A")
    assert good.extra["basis"] == bad.extra["basis"] == "references"
    assert bad.extra["score"] > bad.extra["threshold"] > good.extra["score"]
    for name, letter in (("top_left", "A"), ("bottom_right", "C")):
        r = answer(reg, request(reg, "Defect Localization", DL, images[name], refs=[images["ref"]]))
        assert r.text == letter and r.extra["location"] in ("top left", "bottom right")


def test_an_expert_hint_is_followed_over_the_comparison(images):
    reg = make_registry()
    hint = ("An inspection model compared this image with 8 normal samples: anomaly score 0.20 (normal images "
            "score 0.10 to 0.40; threshold 0.50); verdict: likely normal.")
    r = answer(reg, request(reg, "Anomaly Detection", AD, images["top_left"], refs=[images["ref"]], hint=hint))
    assert r.text == "B" and r.extra["basis"] == "hint"
    hint2 = "verdict: likely defective. The most anomalous region is in the bottom right of the image, box [1, 2, 3, 4]"
    r = answer(reg, request(reg, "Defect Localization", DL, images["good"], hint=hint2))
    assert r.text == "C" and r.extra["basis"] == "hint"


def test_knowledge_picks_the_option_the_knowledge_text_names(images):
    reg = make_registry()
    dc = {"A": "Faulty imprint on the label", "B": "Crack", "C": "Color"}
    knowledge = " bottle\n Description: amber glass\n crack\n Description: A thin dark jagged line."
    assert answer(reg, request(reg, "Defect Classification", dc, images["good"])).text == "A"
    r = answer(reg, request(reg, "Defect Classification", dc, images["good"], knowledge=knowledge))
    assert r.text == "B" and r.extra["basis"] == "knowledge"
    assert knowledge_choice(dc, "nothing related at all") is None


def test_hint_reading_and_zones():
    assert hint_reading("... verdict: likely defective. The most anomalous region is in the top left of the "
                        "image, box [0, 0, 5, 5]") == (True, "top left")
    assert hint_reading("The ground-truth defect mask of this image is empty: the image is normal.") == (False, None)
    assert hint_reading(None) == (None, None)
    assert zone_phrase(0.5, 0.5) == "center" and zone_phrase(0.9, 0.1) == "bottom left"


def test_compare_is_a_registered_preset():
    spec = resolve_model("compare")
    assert spec.backend == "compare" and "reference" in spec.description
    assert backend_class("compare") is CompareBackend and CompareBackend.sees_images


def test_features_are_computed_once_per_image_across_backends(images, monkeypatch):
    import mmad_eval.backends.compare as compare

    calls = []
    real = compare.patch_features
    monkeypatch.setattr(compare, "patch_features", lambda im: calls.append(1) or real(im))
    monkeypatch.setattr(compare, "_SHARED", compare.OrderedDict())
    reg = make_registry()
    for qtype, opts in (("Anomaly Detection", AD), ("Defect Localization", DL)):
        for _ in range(2):          # two questions, two backends (ablation arms) about the same two images
            answer(reg, request(reg, qtype, opts, images["top_left"], refs=[images["ref"]]))
    assert len(calls) == 2
