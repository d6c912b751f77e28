import json

import numpy as np
import pytest
from PIL import Image

from mmad_eval.cli import main as cli_main
from mmad_eval.retrieval.embed import BuiltinEmbedder, make_embedder
from mmad_eval.enhance.retrieval import RetrievalIndex, write_similar_templates
from mmad_eval.errors import ConfigError, DataError
from mmad_eval.questions.mmad_io import load_mmad_json


def texture(kind: str, seed: int, size: int = 96) -> np.ndarray:
    """Two clearly different synthetic textures, each with per-seed variation."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    if kind == "stripes":   # blue/yellow diagonal stripes
        t = 0.5 + 0.5 * np.sin((x + y) * 0.35 + rng.uniform(0, 6.28))
        img = np.stack([200 * t + 30, 180 * t + 30, 220 * (1 - t) + 20], -1)
    else:                   # grey with red blobs
        img = np.full((size, size, 3), 110.0)
        for _ in range(8):
            cx, cy, r = rng.uniform(0, size, 2).tolist() + [rng.uniform(4, 9)]
            img[(x - cx) ** 2 + (y - cy) ** 2 < r * r] = (200, 40, 40)
    img += rng.normal(0, 6, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def save(root, key, arr):
    p = root / key
    p.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(p)
    return key


@pytest.fixture
def root(tmp_path):
    for i in range(4):
        save(tmp_path, f"DS/mixed/train/good/s{i}.png", texture("stripes", i))
        save(tmp_path, f"DS/mixed/train/good/b{i}.png", texture("blobs", 100 + i))
    return tmp_path


def pool(root):
    return sorted(p.relative_to(root).as_posix() for p in (root / "DS/mixed/train/good").iterdir())


def test_same_texture_ranks_above_other_texture(root):
    save(root, "DS/mixed/test/q_stripes.png", texture("stripes", 50))
    save(root, "DS/mixed/test/q_blobs.png", texture("blobs", 150))
    index = RetrievalIndex.from_pools(root, {("DS", "mixed"): pool(root)})
    assert all("/s" in k for k in index.nearest("DS/mixed/test/q_stripes.png", 4))
    assert all("/b" in k for k in index.nearest("DS/mixed/test/q_blobs.png", 4))


def test_near_duplicate_is_nearest_and_query_is_excluded(root):
    base = np.asarray(Image.open(root / "DS/mixed/train/good/s2.png")).astype(np.int16)
    noisy = np.clip(base + np.random.default_rng(7).integers(-4, 5, base.shape), 0, 255).astype(np.uint8)
    save(root, "DS/mixed/test/dup.png", noisy)
    index = RetrievalIndex.from_pools(root, {("DS", "mixed"): pool(root)})
    assert index.nearest("DS/mixed/test/dup.png", 1) == ["DS/mixed/train/good/s2.png"]
    own = index.nearest("DS/mixed/train/good/s2.png", 7)
    assert "DS/mixed/train/good/s2.png" not in own and len(own) == 7
    assert index.nearest("DS/mixed/test/dup.png", 0) == []


def test_pools_are_per_category_and_embedded_once(root):
    save(root, "DS/other/train/good/x.png", texture("stripes", 2))      # identical to a 'mixed' image
    save(root, "DS/other/test/q.png", texture("stripes", 9))
    index = RetrievalIndex.from_pools(root, {("DS", "mixed"): pool(root), ("DS", "other"): ["DS/other/train/good/x.png"]})
    calls = []
    real = index._embedder.embed
    index._embedder.embed = lambda paths: calls.extend(paths) or real(paths)
    assert index.nearest("DS/other/test/q.png", 5) == ["DS/other/train/good/x.png"]
    index.nearest("DS/mixed/train/good/s0.png", 3)
    index.nearest("DS/mixed/train/good/s1.png", 3)
    names = [p.name for p in calls]
    assert len(names) == len(set(names)) == 1 + 1 + 8   # other pool + its query + mixed pool (queries inside it)


def _question_file(root, entries):
    data = {key: {"conversation": [{"Question": "Is there any defect in the object?", "Answer": "A",
                                    "Options": {"A": "Yes.", "B": "No."}, "type": "Anomaly Detection"}],
                  "similar_templates": sim, "random_templates": rnd, "mask_path": ""}
            for key, (sim, rnd) in entries.items()}
    path = root / "mmad.json"
    path.write_text(json.dumps(data))
    return path


def test_from_questions_pools_templates_and_writes_back(root):
    save(root, "DS/mixed/test/q.png", texture("blobs", 77))
    p = pool(root)
    qfile = _question_file(root, {"DS/mixed/test/q.png": (p[:2], p[2:5]),
                                  "DS/mixed/train/good/s0.png": ([], p[5:])})
    qs = load_mmad_json(qfile)
    index = RetrievalIndex.from_questions(root, qs)
    assert index.pools == {("DS", "mixed"): p}
    new = write_similar_templates(qs, index, 3)
    assert all("/b" in k for k in new.entries["DS/mixed/test/q.png"].similar_templates)
    assert len(new.entries["DS/mixed/test/q.png"].similar_templates) == 3
    assert qs.entries["DS/mixed/test/q.png"].similar_templates == p[:2]          # input untouched
    assert new.entries["DS/mixed/test/q.png"].random_templates == p[2:5]


def test_missing_pool_image_is_left_out_and_missing_query_is_named(root):
    keys = pool(root) + ["DS/mixed/train/good/gone.png"]
    index = RetrievalIndex.from_pools(root, {("DS", "mixed"): keys})
    with pytest.warns(UserWarning, match="1 reference image"):
        got = index.nearest("DS/mixed/train/good/s0.png", 20)
    assert len(got) == 7 and index.skipped[0][0] == "DS/mixed/train/good/gone.png"
    with pytest.raises(DataError, match="q404.png: image file not found"):
        index.nearest("DS/mixed/test/q404.png", 2)
    with pytest.raises(DataError, match="no readable normal references for DS/none"):
        index.nearest("DS/none/test/q.png", 2)
    with pytest.raises(DataError, match="escapes"):
        index.nearest("DS/mixed/../../etc/passwd", 2)


def test_retrieve_cli(root, capsys):
    save(root, "DS/mixed/test/q.png", texture("stripes", 31))
    save(root, "DS/mixed/test/broken.png", texture("stripes", 32))
    (root / "DS/mixed/test/broken.png").write_bytes(b"junk")
    p = pool(root)
    qfile = _question_file(root, {"DS/mixed/test/q.png": ([], p), "DS/mixed/test/broken.png": (["old"], p)})
    out = root / "new.json"
    rc = cli_main(["retrieve", str(qfile), "--data-root", str(root), "--k", "2", "--out", str(out)])
    assert rc == 1                                        # one entry failed, named on stderr
    err = capsys.readouterr().err
    assert "kept the old templates of DS/mixed/test/broken.png" in err and "corrupt" in err
    assert "reference left out" in err and "old: image file not found" in err   # 'old' was a template
    data = json.loads(out.read_text())
    assert [k.split("/")[-1][0] for k in data["DS/mixed/test/q.png"]["similar_templates"]] == ["s", "s"]
    assert data["DS/mixed/test/broken.png"]["similar_templates"] == ["old"]


def test_builtin_descriptor_is_unit_length_and_handles_odd_images(tmp_path):
    a = save(tmp_path, "gray.png", np.full((30, 500, 3), 90, np.uint8))
    b = save(tmp_path, "big.jpg", texture("blobs", 1, size=600))
    e = BuiltinEmbedder().embed([tmp_path / a, tmp_path / b])
    assert e.shape[0] == 2 and np.allclose(np.linalg.norm(e, axis=1), 1, atol=1e-5)
    assert np.isfinite(e).all()


def test_embedder_setting_rejects_unknown_names():
    with pytest.raises(ConfigError, match="clip-vit: embedder must be 'builtin' or a local model folder"):
        make_embedder("clip-vit")


def test_model_folder_without_transformers_names_the_extra(tmp_path, monkeypatch):
    import sys

    from mmad_eval.errors import MissingExtraError

    monkeypatch.setitem(sys.modules, "transformers", None)    # import transformers -> ImportError
    with pytest.raises(MissingExtraError, match=r"mmad-eval\[hf\]"):
        make_embedder(str(tmp_path))
