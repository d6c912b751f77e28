"""Baselines: seeded random, the blind text prior, and the expert detector answering AD/DL only."""
from collections import Counter
from dataclasses import dataclass

import pytest

from backend_helpers import make_registry, make_request, run_backend
from mmad_eval.backends.base import GenerationSettings, RunContext
from mmad_eval.backends.baselines import (BlindBackend, ExpertBackend, RandomBackend, best_location_option,
                                          option_texts)
from mmad_eval.backends.registry import backend_class, resolve_model
from mmad_eval.prompt.message import Message, Request, TextPart

FOUR = "What is the defect?\nA. scratch\nB. crack on the rim\nC. hole\nD. stain"


def four_request(reg, i=0):
    return make_request(reg, text=f"Q{i}. {FOUR}", letters=("A", "B", "C", "D"))


def test_random_is_seeded_uniform_and_reproducible():
    reg = make_registry()
    items = [(f"key{i}", four_request(reg, i)) for i in range(400)]
    a = run_backend(RandomBackend("random", GenerationSettings(seed=1), reg), items)
    b = run_backend(RandomBackend("random", GenerationSettings(seed=1), reg), items)
    c = run_backend(RandomBackend("random", GenerationSettings(seed=2), reg), items)
    assert {k: r.text for k, r in a.items()} == {k: r.text for k, r in b.items()}
    assert {k: r.text for k, r in a.items()} != {k: r.text for k, r in c.items()}
    counts = Counter(r.text for r in a.values())
    assert set(counts) == {"A", "B", "C", "D"} and min(counts.values()) > 60   # roughly uniform (~100 each)


def test_random_only_picks_shown_letters():
    reg = make_registry()
    items = [(f"k{i}", make_request(reg, letters=("A", "B"))) for i in range(50)]
    got = run_backend(RandomBackend("random", GenerationSettings(), reg), items)
    assert {r.text for r in got.values()} == {"A", "B"}
    assert RandomBackend.sees_images is False


def test_blind_picks_longest_option_and_ignores_images(image_files):
    reg = make_registry()
    req = make_request(reg, text=FOUR, images=image_files[:1], letters=("A", "B", "C", "D"))
    r = run_backend(BlindBackend("blind", GenerationSettings(), reg), [("k", req)])["k"]
    assert r.text == "B"
    meta_req = make_request(reg, text="Is there a defect?", letters=("A", "B"),
                            meta={"options": {"A": "No", "B": "Yes"}})
    assert run_backend(BlindBackend("blind", GenerationSettings(), reg), [("k", meta_req)])["k"].text == "B"
    assert reg.encodes == 0 and BlindBackend("blind", GenerationSettings(), reg).identity()["images"] is None


def test_multi_question_request_answers_each_line():
    reg = make_registry()
    req = Request(messages=(Message("user", (TextPart("1) ...\nA. a\nB. bbb\n2) ...\nA. cccc\nB. d"),)),),
                  qids=("x#0", "x#1"), options=(("A", "B"), ("A", "B")),
                  meta={"options": {"A": "a", "B": "bbb"}})
    r = run_backend(BlindBackend("blind", GenerationSettings(), reg), [("k", req)])["k"]
    assert r.text == "1. B\n2. B"


def test_option_texts_from_prompt_lines():
    reg = make_registry()
    assert option_texts(four_request(reg)) == {"A": "scratch", "B": "crack on the rim", "C": "hole", "D": "stain"}


@pytest.mark.parametrize("location,options,expected", [
    ("top left", {"A": "Top left", "B": "Top right", "C": "Center", "D": "Bottom left"}, "A"),
    ("center", {"A": "Upper left corner", "B": "In the middle of the image", "C": "Lower right"}, "B"),
    ("bottom", {"A": "Top", "B": "Bottom left", "C": "Bottom"}, "C"),
    ("top left", {"A": "On the label", "B": "On the cap"}, None),
])
def test_location_matching(location, options, expected):
    assert best_location_option(location, options) == expected


@dataclass
class StubResult:
    score: float
    threshold: float
    verdict: bool
    boxes: list
    location: str


class StubService:
    calls: list = []

    def __init__(self, data_root, questions, kind="builtin"):
        self.kind = kind

    def analyze(self, key):
        StubService.calls.append(key)
        if "good" in key:
            return StubResult(0.1, 0.5, False, [], "")
        return StubResult(0.9, 0.5, True, [(0, 0, 4, 4)], "top left")


@pytest.fixture
def expert():
    """The expert baseline given its run context through the constructor (the run passes its expert service)."""
    StubService.calls = []
    made = []

    def service(kind):
        made.append(kind)
        return StubService("/data", object(), kind=kind)

    be = ExpertBackend("builtin", GenerationSettings(), make_registry(),
                       context=RunContext(data_root="/data", questions=object(), expert=service))
    be.made = made
    return be


def _q(reg, image, qtype, options):
    text = "Q\n" + "\n".join(f"{k}. {v}" for k, v in options.items())
    return make_request(reg, text=text, letters=tuple(options), meta={"image": image, "type": qtype,
                                                                      "options": options})


def test_expert_answers_ad_and_dl_and_abstains_elsewhere(expert):
    reg = make_registry()
    items = [
        ("ad_bad", _q(reg, "ds/cat/test/crack/001.png", "Anomaly Detection", {"A": "Yes", "B": "No"})),
        ("ad_good", _q(reg, "ds/cat/test/good/002.png", "Anomaly Detection", {"A": "Yes.", "B": "No."})),
        ("dl", _q(reg, "ds/cat/test/crack/001.png", "Defect Localization",
                  {"A": "Bottom right", "B": "Top left", "C": "Center", "D": "Top right"})),
        ("dc", _q(reg, "ds/cat/test/crack/001.png", "Defect Classification", {"A": "crack", "B": "hole"})),
    ]
    got = run_backend(expert, items)
    assert got["ad_bad"].text == "A" and got["ad_bad"].extra["verdict"] is True
    assert got["ad_good"].text == "B"
    assert got["dl"].text == "B" and got["dl"].extra["location"] == "top left"
    assert got["dc"].text == "" and got["dc"].extra["abstain"] is True and got["dc"].error_type is None
    assert StubService.calls == ["ds/cat/test/crack/001.png", "ds/cat/test/good/002.png"]  # once per image
    assert expert.made == ["builtin"]                         # the service of its detector kind, asked once
    assert expert.identity()["options"] == {"detector": "builtin"}


def test_expert_without_context_is_a_per_request_error():
    be = ExpertBackend("builtin", GenerationSettings(), make_registry())
    reg = make_registry()
    r = run_backend(be, [("k", _q(reg, "a/b/c.png", "Anomaly Detection", {"A": "Yes", "B": "No"}))])["k"]
    assert r.error_type == "bad_input" and "run context" in r.error_message


def test_registry_resolves_baselines():
    for name, cls in [("random", RandomBackend), ("blind", BlindBackend), ("expert", ExpertBackend)]:
        spec = resolve_model(name)
        assert backend_class(spec.backend) is cls
