import json

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("datasets")

from mmad_eval.cli import main as cli_main  # noqa: E402
from mmad_eval.errors import DataError  # noqa: E402
from mmad_eval.questions.hf_datasets import export_hf, import_hf  # noqa: E402
from mmad_eval.questions.mmad_io import load_mmad_json, to_mmad_dict  # noqa: E402


def _img(root, key, value):
    p = root / key
    p.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 10, 3), value, np.uint8)).save(p)


@pytest.fixture
def qfile(tmp_path):
    root = tmp_path / "data"
    for i, k in enumerate(["DS/bottle/test/broken/000.png", "DS/bottle/test/good/001.png",
                           "DS/bottle/train/good/000.png", "DS/bottle/train/good/001.png"]):
        _img(root, k, 20 * i)
    _img(root, "DS/bottle/ground_truth/broken/000_mask.png", 255)
    ad = {"Question": "Is there any defect in the object?", "Answer": "A", "Options": {"A": "Yes.", "B": "No."},
          "type": "Anomaly Detection"}
    dc = {"Question": "There is a defect in the object. What is the type of the defect?", "Answer": "C",
          "Options": {"A": "Scratch", "B": "Crack", "C": "Broken", "D": "Stain"}, "type": "Defect Classification",
          "annotation": True, "provenance": {"rule": "dc-v1", "seed": 3}}
    oc = {"Question": "What kind of product is in the image?", "Answer": "B",
          "Options": {"B": "Bottle", "A": "Can"}, "type": "Object Classification"}
    data = {
        "DS/bottle/test/broken/000.png": {
            "image_path": "test/broken/000.png", "conversation": [ad, dc],
            "similar_templates": ["DS/bottle/train/good/001.png", "DS/bottle/train/good/000.png"],
            "random_templates": ["DS/bottle/train/good/000.png"],
            "mask_path": "ground_truth/broken/000_mask.png", "note": {"x": 1}},
        "DS/bottle/test/good/001.png": {
            "conversation": [dict(ad, Answer="B"), oc], "similar_templates": [],
            "random_templates": ["DS/bottle/train/good/001.png"], "mask_path": ""}}
    path = tmp_path / "mmad.json"
    path.write_text(json.dumps(data))
    return path


def test_round_trip_export_import_equal_set_and_images(qfile, tmp_path):
    qs = load_mmad_json(qfile)
    summary = export_hf(qs, tmp_path / "data", tmp_path / "hf")
    assert (summary.rows, summary.entries, summary.missing) == (4, 2, [])
    import datasets

    ds = datasets.load_from_disk(str(tmp_path / "hf"))
    assert len(ds) == 4 and ds[1]["type"] == "Defect Classification" and ds[1]["answer"] == "C"
    assert ds[0]["image"].size == (10, 8) and len(ds[0]["similar_templates"]) == 2
    assert json.loads(ds[3]["options"]) == {"B": "Bottle", "A": "Can"}
    back = import_hf(tmp_path / "hf", images_out=tmp_path / "restored")
    assert to_mmad_dict(back, with_provenance=True) == to_mmad_dict(qs, with_provenance=True)
    assert list(back.entries) == list(qs.entries)
    assert list(back.entries["DS/bottle/test/good/001.png"].questions[1].options) == ["B", "A"]
    for rel in ["DS/bottle/test/broken/000.png", "DS/bottle/train/good/001.png",
                "DS/bottle/ground_truth/broken/000_mask.png"]:
        assert (tmp_path / "restored" / rel).read_bytes() == (tmp_path / "data" / rel).read_bytes()


def test_cli_round_trip_and_missing_template(qfile, tmp_path, capsys):
    (tmp_path / "data/DS/bottle/train/good/001.png").unlink()
    rc = cli_main(["export-hf", str(qfile), "--data-root", str(tmp_path / "data"), "--out", str(tmp_path / "hf")])
    assert rc == 2 and "001.png: image file not found" in capsys.readouterr().err
    rc = cli_main(["export-hf", str(qfile), "--data-root", str(tmp_path / "data"), "--out", str(tmp_path / "hf"),
                   "--allow-missing"])
    assert rc == 0 and "1 image(s) missing" in capsys.readouterr().out
    out = tmp_path / "back.json"
    rc = cli_main(["import-hf", str(tmp_path / "hf"), "--out", str(out), "--images-out", str(tmp_path / "img")])
    assert rc == 0
    assert json.loads(out.read_text()) == to_mmad_dict(load_mmad_json(qfile), with_provenance=True)
    assert not (tmp_path / "img/DS/bottle/train/good/001.png").exists()
    assert (tmp_path / "img/DS/bottle/train/good/000.png").exists()


def test_paths_only_export_and_escaping_path_on_import(qfile, tmp_path):
    qs = load_mmad_json(qfile)
    export_hf(qs, tmp_path / "data", tmp_path / "hf", embed_images=False, max_references=1)
    back = import_hf(tmp_path / "hf", images_out=tmp_path / "img")
    assert back.entries["DS/bottle/test/broken/000.png"].similar_templates == ["DS/bottle/train/good/001.png"]
    assert not (tmp_path / "img").exists()
    import datasets

    ds = datasets.load_from_disk(str(tmp_path / "hf")).cast_column("mask", datasets.Image(decode=False))
    evil = ds.map(lambda r: {"mask": {"bytes": b"x", "path": None}, "mask_key": "../../evil.png"})
    evil.save_to_disk(str(tmp_path / "evil"))
    with pytest.raises(DataError, match="escapes"):
        import_hf(tmp_path / "evil", images_out=tmp_path / "img2")
    with pytest.raises(DataError, match="not a saved datasets folder"):
        import_hf(tmp_path)


def test_loco_mask_folder_is_exported_as_the_union_of_its_files(tmp_path):
    """Question sets generated from MVTec LOCO name a mask folder (one file per defect region)."""
    root = tmp_path / "data"
    key = "MVTec-LOCO/juice_bottle/test/logical_anomalies/000.png"
    _img(root, key, 50)
    _img(root, "MVTec-LOCO/juice_bottle/train/good/000.png", 60)
    gt = root / "MVTec-LOCO/juice_bottle/ground_truth/logical_anomalies/000"
    gt.mkdir(parents=True)
    for name, (y, x) in {"000.png": (1, 2), "001.png": (6, 7)}.items():
        a = np.zeros((8, 10), np.uint8)
        a[y, x] = 255
        Image.fromarray(a).save(gt / name)
    ad = {"Question": "Is there any defect in the object?", "Answer": "A", "Options": {"A": "Yes.", "B": "No."},
          "type": "Anomaly Detection"}
    mask_key = "MVTec-LOCO/juice_bottle/ground_truth/logical_anomalies/000"
    (tmp_path / "q.json").write_text(json.dumps({key: {
        "conversation": [ad], "similar_templates": [], "random_templates": ["MVTec-LOCO/juice_bottle/train/good/000.png"],
        "mask_path": mask_key}}))
    qs = load_mmad_json(tmp_path / "q.json")
    assert export_hf(qs, root, tmp_path / "hf").missing == []
    import datasets

    row = datasets.load_from_disk(str(tmp_path / "hf"))[0]
    assert row["mask_key"] == mask_key and row["mask_path"] == mask_key
    m = np.asarray(row["mask"].convert("L")) > 0
    assert m.shape == (8, 10) and m.sum() == 2 and m[1, 2] and m[6, 7]
    back = import_hf(tmp_path / "hf", images_out=tmp_path / "restored")
    assert to_mmad_dict(back) == to_mmad_dict(qs)
    from mmad_eval.sources.imagecheck import read_mask

    assert (read_mask(tmp_path / "restored" / mask_key) == m).all()
    import_hf(tmp_path / "hf", images_out=root)          # onto the original tree: the folder is the same mask
    assert sorted(p.name for p in gt.iterdir()) == ["000.png", "001.png"]
