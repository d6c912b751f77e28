"""Generate then audit on the synthetic set: letters balanced, no duplicates, text-only baseline near chance.

Margin: the blind baseline is a proportion of n questions, so its binomial standard error under the null
(text says nothing) is SE = sqrt(c (1 - c) / n) with c the chance rate; we allow chance + 3 SE (a
one-sided false alarm rate of about 0.1 % per subtask). The bound is one-sided on purpose: on a set that
is balanced over all categories, leave-one-category-out training sees the held-out category's own answers
as under-represented, so a balanced set scores *below* chance (the classic leave-one-out anti-correlation;
Object Classification, whose answer is the held-out category's name, always scores near 0). Below chance
is not exploitable by a model that cannot see the image; above the bound is.
"""
import math

import pytest

from mmad_eval.questions.audit import audit
from mmad_eval.questions.generate import GenerateSettings, generate_questions
from mmad_eval.questions.generate.balance import MAX_SHARE
from mmad_eval.questions.generate.object_zones import ZONE_PHRASES
from mmad_eval.questions.generate.options import display
from mmad_eval.questions.mmad_io import write_mmad_json
from mmad_eval.sources.detect import load_source

ZONE_OF = {display(p, period=True): z for z, p in ZONE_PHRASES.items()}
BALANCED = ("Defect Classification", "Defect Localization", "Defect Description", "Defect Analysis",
            "Object Classification", "Object Analysis")


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    from mmad_eval.sources.synth.generate import generate_synthetic

    out = tmp_path_factory.mktemp("synth_blind")
    generate_synthetic(out, seed=0, categories=["pill", "tile", "screw", "leather"], n_train=4, n_test_good=6,
                       n_per_defect=8, size=96)
    return load_source(out / "Synth-AD"), out / "knowledge.json"


def _generate(synth, **kw):
    src, kn = synth
    return generate_questions(src, kn, GenerateSettings(similar="none", **kw))


def _bound(blind: dict, n: int) -> float:
    c = blind["chance"]
    return c + 3 * math.sqrt(c * (1 - c) / n)


def _blind(report, subtask):
    r = report["subtasks"][subtask]
    return r["blind"]["accuracy"], _bound(r["blind"], r["questions"])


def test_generated_set_is_not_answerable_from_text(synth):
    res = _generate(synth)
    report = audit(res.questions)
    assert report["duplicate_questions"]["count"] == 0 and report["duplicate_options"]["count"] == 0
    for st in BALANCED:
        r = report["subtasks"][st]
        assert r["questions"] >= 20, st
        acc, bound = _blind(report, st)
        assert acc <= bound, (st, acc, bound)
        assert r["letters"]["p"] > 0.01, (st, r["letters"])
        for which, lb in r["length_bias"].items():           # "pick the longest/shortest" is no shortcut
            assert lb["rate"] <= lb["chance"] + 3 * math.sqrt(lb["chance"] * (1 - lb["chance"]) / lb["questions"]), \
                (st, which, lb)
    # balancing may leave out some questions, never most of those the margins allow (with fewer certain
    # attributes per defect, Description has less room to even its values out: 67 % kept here)
    counts = res.type_counts()
    defective = sum(1 for s in synth[0].samples if s.is_anomalous and s.mask)
    skips = res.skip_summary()
    for st, share in (("Defect Localization", 0.75), ("Defect Description", 0.6)):
        askable = defective - sum(n for (t, why), n in skips.items() if t == st and "balanced" not in why)
        assert counts[st] >= share * askable, (st, counts[st], askable)


def test_without_balancing_the_same_set_leaks(synth):
    """The check above can fail: per-image distractors alone let text give the answer away here (image-grid
    phrases only: the object-relative form, asked for part of the pill questions, dilutes the grid's leak
    below what this small set can show)."""
    report = audit(_generate(synth, balance=False, object_regions=0.0).questions)
    for st in ("Defect Localization", "Defect Description"):
        acc, bound = _blind(report, st)
        assert acc > bound, (st, acc, bound)


def test_balanced_questions_stay_correct_and_deterministic(synth, tmp_path):
    res = _generate(synth)
    for q in res.questions.questions():
        if q.type == "Defect Localization" and q.provenance["rule"].startswith("localization.object."):
            touched = set(q.provenance["details"]["placement"]["touched"])
            for letter, text in q.options.items():             # no distractor names a zone the mask touches
                if letter != q.answer:
                    assert ZONE_OF[text] not in touched, (q.qid, text)
        elif q.type == "Defect Localization":
            touched = set(q.provenance["details"]["touched"])
            for letter, text in q.options.items():
                if letter == q.answer:
                    continue
                named = text.lower().removesuffix(" of the image.").split(" and ")
                assert not touched & set(named), (q.qid, text)        # no distractor overlaps the mask
                if text == "Across most of the image.":
                    assert len(touched) <= 3
                if text == "In several places.":
                    assert q.provenance["details"]["blobs"] == 1
        elif q.type == "Defect Description":
            d = q.provenance["details"]
            right = q.options[q.answer]
            for letter, text in q.options.items():      # every distractor changes the varied attribute only
                if letter != q.answer:
                    other = {a: d[a] for a in ("size", "shape", "tone") if a != d["varied"]}
                    assert all(v.split("-")[0] in text.lower() or v in ("colour", "same") for v in other.values() if v)
                    assert text != right
    groups: dict = {}
    for q in res.questions.questions():
        if q.type == "Defect Description":
            d = q.provenance["details"]
            groups.setdefault(d["varied"], []).append(d[d["varied"]])
    for varied, values in groups.items():                 # no value dominates the questions varying it
        top = max(values.count(v) for v in set(values))
        assert top <= MAX_SHARE * len(values) + 2, (varied, top, len(values))
    a = write_mmad_json(res.questions, tmp_path / "a.json")
    b = write_mmad_json(_generate(synth).questions, tmp_path / "b.json")
    assert a == b


@pytest.fixture(scope="module")
def objects(tmp_path_factory):
    """Three object categories whose outlines the normal images give (the grid's "center" is over-asked)."""
    from mmad_eval.sources.synth.generate import generate_synthetic

    out = tmp_path_factory.mktemp("synth_objects")
    generate_synthetic(out, seed=0, categories=["pill", "bottle", "capsule"], n_train=4, n_test_good=2,
                       n_per_defect=8, size=96)
    return load_source(out / "Synth-AD"), out / "knowledge.json"


def test_object_relative_form_is_balanced_on_its_own(objects):
    """Object-relative Localization questions alone: near chance when balanced; without balancing "in the
    middle of the object" is the answer so often that text gives it away (the check can fail)."""
    from mmad_eval.questions.audit import blind_baseline

    def object_form(**kw):
        res = _generate(objects, object_regions=1.0, **kw)
        return [q for q in res.questions.questions() if q.provenance["rule"].startswith("localization.object.")]

    qs = object_form()
    assert len(qs) >= 40
    blind = blind_baseline(qs)
    assert blind["accuracy"] <= _bound(blind, len(qs)), blind
    leaky = blind_baseline(object_form(balance=False))
    assert leaky["accuracy"] > leaky["chance"] + 0.1, leaky
    # the object form adds questions: fewer images lose their Localization question to the balancing
    grid_only = _generate(objects, object_regions=0.0).type_counts()["Defect Localization"]
    assert _generate(objects).type_counts()["Defect Localization"] > grid_only
