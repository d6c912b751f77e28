"""The pretrained-encoder path, with a tiny random CLIP vision model saved to a temp folder (no download)."""
import shutil

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("torch")
pytest.importorskip("transformers")

from mmad_eval.retrieval.embed import TransformersEmbedder, make_embedder  # noqa: E402
from mmad_eval.enhance.retrieval import RetrievalIndex  # noqa: E402


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

    d = tmp_path_factory.mktemp("tiny_clip")
    cfg = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                           image_size=32, patch_size=8)
    CLIPVisionModel(cfg).save_pretrained(d)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(d)
    return d


def test_local_model_folder_embeds_and_retrieves(tiny_clip, tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "DS/cat/train/good"
    folder.mkdir(parents=True)
    for i in range(5):
        Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    (tmp_path / "DS/cat/test").mkdir()
    shutil.copy(folder / "3.png", tmp_path / "DS/cat/test/q.png")
    emb = make_embedder(str(tiny_clip))
    assert isinstance(emb, TransformersEmbedder)
    e = emb.embed(sorted(folder.iterdir()))
    assert e.shape == (5, 32) and np.allclose(np.linalg.norm(e, axis=1), 1, atol=1e-5)
    pool = [f"DS/cat/train/good/{i}.png" for i in range(5)]
    index = RetrievalIndex.from_pools(tmp_path, {("DS", "cat"): pool}, embedder=str(tiny_clip))
    assert index.nearest("DS/cat/test/q.png", 1) == ["DS/cat/train/good/3.png"]
    assert index.describe()["embedder"] == str(tiny_clip)
