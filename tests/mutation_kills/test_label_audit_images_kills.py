"""Label audit by embedding (label_audit/images.py) at its edges: the affinity margin, the K nearest pool
images (the image itself left out), categories of one name across datasets, references of another category,
duplicates by bytes and by pixels (issue 25). Embeddings are set by hand on the real classes."""
import math

import numpy as np
import pytest
from PIL import Image

from mmad_eval.label_audit.images import (K, MARGIN, Affinity, Embeddings, duplicate_flags, image_category_flags,
                                          reference_flags)
from mmad_eval.questions.model import ImageEntry, Question, QuestionSet

UA, UB = np.array([1.0, 0.0]), np.array([0.0, 1.0])


def _at(margin: float) -> np.ndarray:
    """A unit vector whose similarity to UB exceeds that to UA by ``margin``."""
    t = math.pi / 4 + math.asin(margin / math.sqrt(2))
    return np.array([math.cos(t), math.sin(t)])


def _qs(entries: dict) -> QuestionSet:
    return QuestionSet({k: ImageEntry(k, [Question(k, 0, "Anomaly Detection", "?", {"A": "Yes", "B": "No"}, "A")],
                                      **extra) for k, extra in entries.items()})


def _emb(tmp_path, vectors: dict) -> Embeddings:
    emb = Embeddings(tmp_path)
    emb.vectors.update({k: np.asarray(v, dtype=float) for k, v in vectors.items()})
    return emb


def _pools(n=4, far_a=False):
    pools = {"D1/a": [f"D1/a/train/good/{i}.png" for i in range(n)], "D1/b": [f"D1/b/train/good/{i}.png" for i in range(n)]}
    vecs = {k: UA for k in pools["D1/a"]} | {k: UB for k in pools["D1/b"]}
    if far_a:
        vecs["D1/a/train/good/0.png"] = -UB                  # one pool image unlike the query
    return pools, vecs


@pytest.mark.parametrize("margin, flagged", [(MARGIN + 0.02, True), (MARGIN - 0.02, False), (0.3, True)])
def test_an_image_is_flagged_only_when_another_category_wins_by_more_than_the_margin(tmp_path, margin, flagged):
    pools, vecs = _pools()
    q = "D1/a/test/bad/0.png"
    emb = _emb(tmp_path, {**vecs, q: _at(margin)})
    flags = image_category_flags(_qs({q: {}}), Affinity(emb, pools))
    assert bool(flags) is flagged
    if flagged:
        ev = flags[0]["evidence"]
        assert ev["nearest_category"] == "D1/b" and ev["category"] == "D1/a" and ev["k"] == K == 3
        assert ev["margin"] == round(margin, 4) and ev["affinity_own"] == round(float(_at(margin) @ UA), 4)
        assert list(ev["top"]) == ["D1/b", "D1/a"]
        assert flags[0]["message"].startswith(f"the image looks like D1/b (affinity {_at(margin) @ UB:.3f}) more "
                                              f"than its own category D1/a ({_at(margin) @ UA:.3f}), margin {margin:.3f}")


@pytest.mark.parametrize("self_vector", [UB, _at(0.05)])
def test_the_image_itself_is_left_out_of_its_own_pool(tmp_path, self_vector):
    """A normal image of a that looks like b: counting itself (similarity 1) would hide the flag."""
    pools, vecs = _pools()
    me = "D1/a/train/good/0.png"
    vecs[me] = self_vector
    flags = image_category_flags(_qs({me: {}}), Affinity(_emb(tmp_path, vecs), pools))
    margin = float(self_vector @ UB - self_vector @ UA)
    assert bool(flags) is (margin > MARGIN)


def test_the_affinity_is_the_mean_of_the_three_nearest_pool_images(tmp_path):
    pools, vecs = _pools(far_a=True)
    aff = Affinity(_emb(tmp_path, {**vecs, "q": UA}), pools)
    assert aff.scores("q") == {"D1/a": pytest.approx(1.0), "D1/b": pytest.approx(0.0)}    # the far one is 4th
    small = Affinity(_emb(tmp_path, {**vecs, "q": UA}), {"D1/a": pools["D1/a"][:3]})   # the far one among 3
    assert small.scores("q")["D1/a"] == pytest.approx((0 + 1 + 1) / 3)


def test_a_category_of_the_same_name_in_another_dataset_is_not_another_category(tmp_path):
    pools, vecs = _pools()
    pools["D2/a"] = [f"D2/a/train/good/{i}.png" for i in range(4)]
    vecs |= {k: UB for k in pools["D2/a"]}
    q = "D1/a/test/bad/0.png"
    emb = _emb(tmp_path, {**vecs, q: UB})
    flags = image_category_flags(_qs({q: {}}), Affinity(emb, pools))
    assert [f["evidence"]["nearest_category"] for f in flags] == ["D1/b"]      # never D2/a
    del pools["D1/b"]
    assert image_category_flags(_qs({q: {}}), Affinity(emb, pools)) == []


@pytest.mark.parametrize("n_wrong", [1, 2])
def test_references_that_look_like_another_category_are_flagged_and_named(tmp_path, n_wrong):
    pools, vecs = _pools()
    q = "D1/a/test/bad/0.png"
    refs = [f"D1/a/train/good/{i}.png" for i in range(3)]
    wrong = [f"D9/b/ref/{i}.png" for i in range(n_wrong)]
    emb = _emb(tmp_path, {**vecs, q: UA, **{r: UB for r in wrong}})
    flags = reference_flags(_qs({q: {"similar_templates": wrong + refs[:1], "random_templates": refs}}),
                            Affinity(emb, pools))
    assert len(flags) == 1
    ev, fix = flags[0]["evidence"], flags[0]["fix"]
    assert ev["query_looks_like"] == "D1/a" and ev["references_look_like"] == "D1/b"
    assert ev["references"] == 3 + n_wrong and ev["references_wrong"] == wrong and fix["drop"] == wrong
    assert ev["margin"] == 1.0 and fix["category"] == "D1/a" and ev["filed_under"] == "D1/a"
    assert ev["query_reference_similarity"] == round(3 / (3 + n_wrong), 4)
    assert flags[0]["message"] == (f"the query looks like D1/a but {n_wrong} of its {3 + n_wrong} reference "
                                   "image(s) look like D1/b (margin 1.000)")
    near = _emb(tmp_path, {**vecs, q: UA, **{r: _at(0.05) for r in wrong}})      # the reference is ambiguous
    assert reference_flags(_qs({q: {"similar_templates": wrong}}), Affinity(near, pools)) == []


def _png(path, pixels, level=6):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, compress_level=level)


@pytest.mark.parametrize("orig_key", ["D1/a/test/bad/1.png", "D1/a/test/good/1.png", "D1/b/test/bad/1.png"])
def test_duplicates_by_bytes_and_by_pixels_name_the_first_and_a_contradicting_label(tmp_path, orig_key):
    rng = np.random.default_rng(3)
    same, other = rng.integers(0, 255, (16, 16, 3), dtype=np.uint8), rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)
    keys = [orig_key, "D1/a/test/bad/2.png", "D1/a/test/bad/3.png", "D1/a/test/bad/4.png"]
    _png(tmp_path / keys[0], same)
    _png(tmp_path / keys[1], same)                    # the same bytes
    _png(tmp_path / keys[2], same, level=0)           # the same pixels, other bytes
    _png(tmp_path / keys[3], other)                   # another picture with an equal embedding
    emb = _emb(tmp_path, {k: UA for k in keys})
    flags = {f["target"]["images"][0]: f for f in duplicate_flags(_qs({k: {} for k in keys}), emb)}
    assert set(flags) == {keys[1], keys[2]}
    assert flags[keys[1]]["evidence"]["how"] == "identical file bytes"
    assert flags[keys[2]]["evidence"]["how"] == "identical pixels (different file bytes)"
    for f in flags.values():
        ev = f["evidence"]
        assert ev["duplicate_of"] == orig_key
        assert ev["same_label"] is ("good" not in orig_key) and ev["same_category"] is orig_key.startswith("D1/a")
        contradicting = not (ev["same_label"] and ev["same_category"])
        assert f["message"].endswith("; filed under a different " + ("category" if not ev["same_category"] else "label")) \
            is contradicting
        assert f["fix"]["why"].endswith("with contradicting labels") is contradicting
