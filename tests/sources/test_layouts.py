import json
import warnings

import numpy as np
import pytest
from conftest import mask, mvtec_tree, png

from mmad_eval.errors import DataError, LayoutError
from mmad_eval.sources.detect import detect_layout, load_source
from mmad_eval.sources.imagecheck import read_mask


def test_mvtec_layout_keys_normals_masks(tmp_path):
    folder = mvtec_tree(tmp_path / "MVTec-AD")
    s = load_source(folder)
    assert detect_layout(folder) == "mvtec"
    assert s.root == tmp_path and s.dataset == "MVTec-AD"
    assert s.categories() == ["bottle", "screw"]
    assert len(s.samples) == 2 * (1 + 2 * 2)
    bad = [x for x in s.samples if x.image == "MVTec-AD/bottle/test/broken/001.png"][0]
    assert bad.is_anomalous and bad.defect_type == "broken" and bad.category == "bottle"
    assert bad.mask == "MVTec-AD/bottle/ground_truth/broken/001_mask.png"
    assert (s.root / bad.mask).is_file() and (s.root / bad.image).is_file()
    good = [x for x in s.samples if x.image == "MVTec-AD/bottle/test/good/000.png"][0]
    assert not good.is_anomalous and good.mask is None and good.defect_type is None
    assert s.normals["screw"] == [f"MVTec-AD/screw/train/good/{i:03d}.png" for i in range(3)]
    assert s.skipped == [] and s.knowledge_path is None


def test_synth_tree_knowledge_and_meta(tmp_path):
    folder = mvtec_tree(tmp_path / "Synth-AD", cats=("pill",), defects=("crack",))
    (tmp_path / "knowledge.json").write_text("{}")
    meta = {"pill/test/crack/000.png": {"bbox": [2, 2, 6, 6], "location": "top left", "kind": "structural"}}
    (folder / "synth_meta.json").write_text(json.dumps(meta))
    s = load_source(folder)
    assert s.knowledge_path == tmp_path / "knowledge.json"
    x = [x for x in s.samples if x.image == "Synth-AD/pill/test/crack/000.png"][0]
    assert x.meta["bbox"] == [2, 2, 6, 6] and x.meta["location"] == "top left"
    assert x.defect_kind == "structural"
    (folder / "knowledge.json").write_text("{}")          # one in the folder itself wins
    assert load_source(folder).knowledge_path == folder / "knowledge.json"


def test_missing_mask_and_stray_file_are_recorded_with_a_warning(tmp_path):
    folder = mvtec_tree(tmp_path / "MVTec-AD", cats=("bottle",), defects=("broken",))
    (folder / "bottle/ground_truth/broken/001_mask.png").unlink()
    (folder / "bottle/test/good/notes.txt").write_text("x")
    with pytest.warns(UserWarning, match="2 item"):
        s = load_source(folder)
    reasons = dict(s.skipped)
    assert "no mask found" in reasons["MVTec-AD/bottle/test/broken/001.png"]
    assert reasons["MVTec-AD/bottle/test/good/notes.txt"] == "not an image file"
    kept = [x for x in s.samples if x.image.endswith("broken/001.png")][0]
    assert kept.is_anomalous and kept.mask is None


def test_visa_one_class_layout(tmp_path):
    folder = tmp_path / "VisA"
    png(folder / "candle/test/good/0000.JPG")
    png(folder / "candle/test/bad/0001.JPG")
    mask(folder / "candle/ground_truth/bad/0001.png")
    assert detect_layout(folder) == "visa"
    s = load_source(folder)
    bad = [x for x in s.samples if x.is_anomalous][0]
    assert bad.image == "VisA/candle/test/bad/0001.JPG" and bad.defect_type == "anomaly"
    assert bad.mask == "VisA/candle/ground_truth/bad/0001.png"
    assert s.normals == {"candle": []}


def _visa_csv_tree(folder, extra_col=False):
    png(folder / "candle/Data/Images/Normal/000.JPG")
    png(folder / "candle/Data/Images/Normal/001.JPG")
    png(folder / "candle/Data/Images/Anomaly/000.JPG")
    mask(folder / "candle/Data/Masks/Anomaly/000.png")
    head = "object,split,label,image,mask" + (",defect_type" if extra_col else "")
    rows = ["candle,train,normal,candle/Data/Images/Normal/000.JPG,",
            "candle,test,normal,candle/Data/Images/Normal/001.JPG,",
            "candle,test,anomaly,candle/Data/Images/Anomaly/000.JPG,candle/Data/Masks/Anomaly/000.png"]
    if extra_col:
        rows = [r + ("," if i < 2 else ",wax missing") for i, r in enumerate(rows)]
    (folder / "split_csv").mkdir(parents=True, exist_ok=True)
    (folder / "split_csv/1cls.csv").write_text("\n".join([head, *rows]) + "\n")
    return folder


def test_visa_split_csv_layout(tmp_path):
    folder = _visa_csv_tree(tmp_path / "VisA")
    assert detect_layout(folder) == "visa"
    s = load_source(folder)
    assert s.normals == {"candle": ["VisA/candle/Data/Images/Normal/000.JPG"]}
    assert [x.image for x in s.samples] == ["VisA/candle/Data/Images/Anomaly/000.JPG",
                                            "VisA/candle/Data/Images/Normal/001.JPG"]
    assert s.samples[0].defect_type == "anomaly" and s.samples[0].mask == "VisA/candle/Data/Masks/Anomaly/000.png"
    s2 = load_source(_visa_csv_tree(tmp_path / "V2", extra_col=True), layout="visa")
    assert s2.samples[0].defect_type == "wax missing"


def test_visa_csv_missing_image_and_escaping_path(tmp_path):
    folder = _visa_csv_tree(tmp_path / "VisA")
    (folder / "candle/Data/Images/Normal/001.JPG").unlink()
    with pytest.raises(DataError, match=r"1cls.csv:3.*Normal/001.JPG.*not found"):
        load_source(folder)
    csv = folder / "split_csv/1cls.csv"
    csv.write_text("object,split,label,image,mask\ncandle,test,normal,../outside.png,\n")
    with pytest.raises(DataError, match="escapes the data root"):
        load_source(folder)


def test_loco_layout_merges_multi_masks(tmp_path):
    folder = tmp_path / "MVTec-LOCO"
    c = folder / "juice_bottle"
    png(c / "train/good/000.png")
    png(c / "validation/good/000.png")
    png(c / "test/good/000.png")
    png(c / "test/logical_anomalies/000.png")
    png(c / "test/structural_anomalies/000.png")
    mask(c / "ground_truth/logical_anomalies/000/000.png", box=(0, 0, 3, 3))
    mask(c / "ground_truth/logical_anomalies/000/001.png", box=(10, 8, 14, 11))
    mask(c / "ground_truth/structural_anomalies/000/000.png")
    assert detect_layout(folder) == "loco"
    s = load_source(folder)
    assert s.normals["juice_bottle"] == ["MVTec-LOCO/juice_bottle/train/good/000.png",
                                         "MVTec-LOCO/juice_bottle/validation/good/000.png"]
    by = {x.image.split("/")[3]: x for x in s.samples}
    log, struct = by["logical_anomalies"], by["structural_anomalies"]
    assert log.defect_kind == "logical" and struct.defect_kind == "structural"
    assert struct.mask == "MVTec-LOCO/juice_bottle/ground_truth/structural_anomalies/000/000.png"
    assert log.mask == "MVTec-LOCO/juice_bottle/ground_truth/logical_anomalies/000"
    merged = read_mask(s.root / log.mask)
    assert merged.shape == (12, 16) and merged.sum() == 9 + 12 and merged[0, 0] and merged[9, 12]


def test_ds_mvtec_takes_references_from_sibling_mvtec_ad(tmp_path):
    png(tmp_path / "DS-MVTec/bottle/image/good/000.png")
    png(tmp_path / "DS-MVTec/bottle/image/broken_large/000.png")
    mask(tmp_path / "DS-MVTec/bottle/mask/broken_large/000_mask.png")
    png(tmp_path / "MVTec-AD/bottle/train/good/007.png")
    s = load_source(tmp_path / "DS-MVTec")
    assert s.normals == {"bottle": ["MVTec-AD/bottle/train/good/007.png"]}
    assert s.samples[0].image == "DS-MVTec/bottle/image/broken_large/000.png"
    assert s.samples[0].mask == "DS-MVTec/bottle/mask/broken_large/000_mask.png"


def _folder_tree(folder, fmt="csv"):
    png(folder / "widget/ref/000.png")
    png(folder / "widget/q/001.png")
    png(folder / "widget/q/002.png")
    mask(folder / "widget/masks/002.png")
    rows = [dict(image="widget/ref/000.png", label="normal", split="train"),
            dict(image="widget/q/001.png", label="good"),
            dict(image="widget/q/002.png", label="anomalous", defect_type="dent", mask="widget/masks/002.png",
                 defect_kind="structural", note="line 2")]
    if fmt == "csv":
        cols = ["image", "label", "split", "defect_type", "mask", "defect_kind", "note"]
        lines = [",".join(cols)] + [",".join(r.get(c, "") for c in cols) for r in rows]
        (folder / "annotations.csv").write_text("\n".join(lines) + "\n")
    else:
        (folder / "annotations.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return folder


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_generic_folder_layout(tmp_path, fmt):
    folder = _folder_tree(tmp_path / "MyParts", fmt)
    assert detect_layout(folder) == "folder"
    s = load_source(folder)
    assert s.normals == {"widget": ["MyParts/widget/ref/000.png"]}
    assert [x.image for x in s.samples] == ["MyParts/widget/q/001.png", "MyParts/widget/q/002.png"]
    bad = s.samples[1]
    assert (bad.defect_type, bad.mask, bad.defect_kind) == ("dent", "MyParts/widget/masks/002.png", "structural")
    assert bad.meta == {"note": "line 2"} and not s.samples[0].is_anomalous


@pytest.mark.parametrize("path, message", [("widget/q/404.png", "not found"), ("/etc/passwd", "relative"),
                                           ("widget/../../x.png", "escapes")])
def test_folder_layout_bad_image_paths(tmp_path, path, message):
    folder = _folder_tree(tmp_path / "MyParts", "jsonl")
    with open(folder / "annotations.jsonl", "a") as f:
        f.write(json.dumps({"image": path, "label": "normal"}) + "\n")
    with pytest.raises(DataError, match=message) as e:
        load_source(folder)
    assert "annotations.jsonl" in str(e.value) or path in str(e.value)


def test_missing_mask_named_by_annotation_file(tmp_path):
    folder = _folder_tree(tmp_path / "MyParts")
    (folder / "widget/masks/002.png").unlink()
    with pytest.raises(DataError, match=r"annotations.csv:4: mask 'widget/masks/002.png' not found"):
        load_source(folder)


def test_mask_size_mismatch_names_the_mask(tmp_path):
    folder = mvtec_tree(tmp_path / "MVTec-AD", cats=("bottle",), defects=("broken",))
    mask(folder / "bottle/ground_truth/broken/000_mask.png", size=(20, 12))
    with pytest.raises(DataError, match=r"000_mask.png: mask size 20x12 differs from its image 000.png \(16x12\)"):
        load_source(folder)


def test_corrupt_image_is_skipped_and_named(tmp_path):
    """A corrupt file is a per-image problem: skipped, listed with its reason, the rest of the source loads."""
    folder = mvtec_tree(tmp_path / "MVTec-AD", cats=("bottle",), defects=("broken",))
    (folder / "bottle/test/good/000.png").write_bytes(b"not a png at all")
    s = load_source(folder)
    assert any(p.endswith("test/good/000.png") and "corrupt or unreadable image" in r for p, r in s.skipped)
    assert s.samples and not any(x.image.endswith("test/good/000.png") for x in s.samples)


def test_unknown_layout_names_folder_and_what_was_looked_for(tmp_path):
    folder = tmp_path / "Stuff"
    png(folder / "a/b.png")
    with pytest.raises(LayoutError, match=r"Stuff: unknown dataset layout; looked for .*annotations.csv"):
        load_source(folder)
    cat = mvtec_tree(tmp_path / "MVTec-AD", cats=("bottle",)) / "bottle"
    with pytest.raises(LayoutError, match="one category's folder"):
        load_source(cat)
    with pytest.raises(LayoutError, match="unknown layout 'kitti'"):
        load_source(tmp_path / "MVTec-AD", layout="kitti")
    with pytest.raises(LayoutError, match="not found"):
        load_source(tmp_path / "nope")


def test_forced_layout_with_no_queries_is_an_error(tmp_path):
    folder = mvtec_tree(tmp_path / "MVTec-AD", cats=("bottle",))
    with pytest.raises(LayoutError, match="no query images found in this loco layout"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        load_source(folder / "bottle" / "train", layout="loco")


def test_read_mask_of_a_single_file(tmp_path):
    m = mask(tmp_path / "m.png", box=(1, 1, 3, 4))
    assert read_mask(m).sum() == 6 and read_mask(m).dtype == np.bool_
