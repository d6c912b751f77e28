"""Dataset folders given through a symlink or as a relative path with '..' keep MMAD's key convention."""
import os

import pytest
from conftest import mask, mvtec_tree, png

from mmad_eval.sources.detect import load_source


def _visa_csv(folder):
    png(folder / "candle/Data/Images/Normal/0000.JPG")
    png(folder / "candle/Data/Images/Anomaly/000.JPG")
    mask(folder / "candle/Data/Masks/Anomaly/000.png")
    (folder / "split_csv").mkdir(parents=True)
    (folder / "split_csv/1cls.csv").write_text(
        "object,split,label,image,mask\n"
        "candle,train,normal,candle/Data/Images/Normal/0000.JPG,\n"
        "candle,test,anomaly,candle/Data/Images/Anomaly/000.JPG,candle/Data/Masks/Anomaly/000.png\n")
    return folder


def _annotated(folder):
    png(folder / "widget/ref/000.png")
    png(folder / "widget/q/001.png")
    (folder / "annotations.csv").write_text("image,label,split\nwidget/ref/000.png,normal,train\n"
                                            "widget/q/001.png,good,\n")
    return folder


@pytest.mark.parametrize("build, key", [
    (_visa_csv, "VisA/candle/Data/Images/Anomaly/000.JPG"),
    (_annotated, "VisA/widget/q/001.png")])
def test_csv_layouts_load_through_a_symlinked_root(tmp_path, build, key):
    build(tmp_path / "real" / "VisA")
    os.symlink(tmp_path / "real", tmp_path / "data")          # e.g. ~/data -> /mnt/big/datasets
    s = load_source(tmp_path / "data" / "VisA")
    assert s.dataset == "VisA" and s.samples[0].image == key
    assert all(n.startswith("VisA/") for ns in s.normals.values() for n in ns)
    os.symlink(tmp_path / "real" / "VisA", tmp_path / "visa_link")   # the dataset folder itself is a link
    s = load_source(tmp_path / "visa_link")
    assert s.dataset == "visa_link" and s.samples[0].image == key.replace("VisA/", "visa_link/", 1)
    assert (s.root / s.samples[0].image).is_file()


def test_dataset_folder_given_as_dotdot_keeps_its_name(tmp_path, monkeypatch):
    mvtec_tree(tmp_path / "MVTec-AD", cats=("bottle",), defects=("broken",))
    _visa_csv(tmp_path / "VisA")
    monkeypatch.chdir(tmp_path / "MVTec-AD" / "bottle")        # `mmad-eval generate ..` from a category
    s = load_source("..")
    assert s.dataset == "MVTec-AD" and s.root == tmp_path
    assert s.samples[0].image == "MVTec-AD/bottle/test/broken/000.png"
    monkeypatch.chdir(tmp_path / "VisA" / "candle")
    s = load_source("../../VisA")
    assert s.dataset == "VisA" and s.samples[0].image == "VisA/candle/Data/Images/Anomaly/000.JPG"
    assert s.samples[0].mask == "VisA/candle/Data/Masks/Anomaly/000.png"
