"""`--embedder MODEL_DIR`: the image checks run on a local pretrained encoder (a tiny random CLIP saved to a
temp folder: the flags mean nothing, the path must work and be recorded)."""
import json

import pytest

from label_fixtures import build
from mmad_eval.cli import main

pytest.importorskip("torch")
pytest.importorskip("transformers")


def test_audit_with_a_local_encoder_records_it(tmp_path, capsys):
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

    model = tmp_path / "tiny_clip"
    cfg = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                           image_size=32, patch_size=8)
    CLIPVisionModel(cfg).save_pretrained(model)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(model)
    qfile = build(tmp_path / "data")
    out = tmp_path / "e.json"
    assert main(["audit", str(qfile), "--labels", "--embedder", str(model), "--out", str(out),
                 "--checks", "image_category,duplicate_image"]) == 0
    errata = json.loads(out.read_text())
    assert errata["tool"]["embedder"] == str(model) and errata["summary"]["embedder"] == str(model)
    assert set(errata["summary"]["flags"]) == {"image_category", "duplicate_image"}
    # the re-encoded copy is found whatever the encoder (same pixels, same embedding)
    assert any(e["check"] == "duplicate_image" for e in errata["errata"])
    assert main(["audit", str(qfile), "--labels", "--embedder", str(tmp_path / "nope")]) == 2
    assert "embedder must be 'builtin' or a local model folder" in capsys.readouterr().err
