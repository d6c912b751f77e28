"""`mmad-eval run` on a tiny MMAD-like root: missing / escaping template paths are per-question errors naming
the path; mask_path relative to the root or to <dataset>/<category>/; the hint image follows the query."""
import json
import sqlite3

import numpy as np
import pytest
from PIL import Image

from mmad_eval.cli import main as cli_main
from mmad_eval.parse.stage import load_parsed_run

AD = {"Question": "Is there any defect in the object?", "Answer": "A", "Options": {"A": "Yes.", "B": "No."},
      "type": "Anomaly Detection"}


def _png(root, key, value=128, box=None):
    p = root / key
    p.parent.mkdir(parents=True, exist_ok=True)
    a = np.full((12, 16, 3), value, np.uint8) if box is None else np.zeros((12, 16), np.uint8)
    if box is not None:
        a[box[1]:box[3] + 1, box[0]:box[2] + 1] = 255
    Image.fromarray(a).save(p)


@pytest.fixture
def mmad_root(tmp_path):
    root = tmp_path / "MMAD"
    for i in range(3):
        _png(root, f"MVTec-AD/bottle/train/good/{i:03d}.png", 100 + 10 * i)
    _png(root, "DS-MVTec/bottle/image/broken_large/000.png", 60)
    _png(root, "DS-MVTec/bottle/image/broken_large/001.png", 70)
    _png(root, "DS-MVTec/bottle/mask/broken_large/000_mask.png", box=(10, 1, 13, 3))
    _png(root, "DS-MVTec/bottle/mask/broken_large/001_mask.png", box=(1, 8, 3, 10))
    _png(root, "DS-MVTec/bottle/image/good/000.png")
    _png(root, "VisA/candle/test/good/000.JPG")
    _png(root, "VisA/candle/test/good/001.JPG")
    (tmp_path / "outside.png").write_bytes((root / "VisA/candle/test/good/000.JPG").read_bytes())
    tpl = ["MVTec-AD/bottle/train/good/000.png"]
    data = {
        "DS-MVTec/bottle/image/broken_large/000.png": {        # mask relative to <dataset>/<category>/
            "conversation": [AD], "similar_templates": tpl, "random_templates": tpl,
            "mask_path": "mask/broken_large/000_mask.png"},
        "DS-MVTec/bottle/image/broken_large/001.png": {        # mask relative to the root
            "conversation": [AD], "similar_templates": tpl, "random_templates": tpl,
            "mask_path": "DS-MVTec/bottle/mask/broken_large/001_mask.png"},
        "DS-MVTec/bottle/image/good/000.png": {                # template missing from the download
            "conversation": [dict(AD, Answer="B")], "similar_templates": tpl,
            "random_templates": ["MVTec-AD/bottle/train/good/099.png"], "mask_path": ""},
        "VisA/candle/test/good/000.JPG": {
            "conversation": [dict(AD, Answer="B")], "similar_templates": [],
            "random_templates": ["../outside.png"], "mask_path": ""},
        "VisA/candle/test/good/001.JPG": {
            "conversation": [dict(AD, Answer="B")], "similar_templates": [],
            "random_templates": [str(tmp_path / "outside.png")], "mask_path": ""}}
    (root / "mmad.json").write_text(json.dumps(data))
    return root


def test_bad_template_paths_are_per_question_errors_naming_the_path(mmad_root, tmp_path, capsys):
    out = tmp_path / "out"
    assert cli_main(["run", "--questions", str(mmad_root / "mmad.json"), "--model", "random", "--out", str(out),
                     "--quiet"]) == 0
    assert "3 questions could not be built" in capsys.readouterr().out
    errors = {a.image: a.error for a in load_parsed_run(out).answers if a.error}
    assert set(errors) == {"DS-MVTec/bottle/image/good/000.png", "VisA/candle/test/good/000.JPG",
                           "VisA/candle/test/good/001.JPG"}
    assert "MVTec-AD/bottle/train/good/099.png" in errors["DS-MVTec/bottle/image/good/000.png"]
    assert "not found" in errors["DS-MVTec/bottle/image/good/000.png"]
    assert "../outside.png" in errors["VisA/candle/test/good/000.JPG"] and "escapes" in errors[
        "VisA/candle/test/good/000.JPG"]
    assert str(tmp_path / "outside.png") in errors["VisA/candle/test/good/001.JPG"]


def test_oracle_hint_with_either_mask_path_base_follows_the_query(mmad_root, tmp_path):
    out = tmp_path / "out"
    assert cli_main(["run", "--questions", str(mmad_root / "mmad.json"), "--model", "random", "--out", str(out),
                     "--quiet", "--expert", "oracle", "--datasets", "DS-MVTec"]) == 0
    db = sqlite3.connect(out / "mmad-eval.sqlite")
    contents = [json.loads(c) for (c,) in db.execute("SELECT content FROM requests WHERE content IS NOT NULL")]
    boxes = set()
    for msgs in contents:
        parts = msgs[0]["parts"]
        roles = [p["role"] for p in parts if "image" in p]
        assert roles == ["template", "query", "hint"]
        text = "".join(p.get("text", "") for p in parts)
        if "box [" in text:
            boxes.add(text.split("box [")[1].split("]")[0])
        assert ("top right" in text) or ("bottom left" in text)
    assert boxes == {"10, 1, 13, 3", "1, 8, 3, 10"}
