"""Bring your own detector: maps folders written here in every format, read as an expert and as a model."""
import json
import sqlite3
import types

import numpy as np
import pytest
from PIL import Image

from detection_helpers import EXPECTED_AUROC, H, W, make_root, write_maps_folder
from mmad_eval.cli import main
from mmad_eval.enhance.expert.maps import MapsFolder, from_anomalib, read_map
from mmad_eval.enhance.expert.service import ExpertService
from mmad_eval.errors import DataError
from mmad_eval.questions.mmad_io import load_mmad_json


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    questions, items = make_root(root)
    maps = write_maps_folder(tmp_path_factory.mktemp("maps"), items)
    return root, questions, items, maps


def test_every_format_is_read_and_resized_to_its_image(world):
    root, _, items, maps = world
    folder = MapsFolder(maps)
    kinds = {p.suffix for p in (maps / "maps").rglob("*.*")}
    assert kinds == {".png", ".npy", ".tiff"}
    for key, defective, score in items:
        r = folder.result(root, key)
        assert r.anomaly_map.shape == (H, W) and r.score == pytest.approx(score)
        assert r.verdict == (score >= 0.5) and r.threshold == 0.5
        if defective:
            assert r.location == "top left" and r.anomaly_map.max() == pytest.approx(0.9, abs=0.01)
            x0, y0, x1, y1 = r.boxes[0]
            assert x0 == 0 and y0 == 0 and x1 < W // 2 and y1 < H // 2


def test_bad_maps_name_the_culprit(tmp_path, world):
    root, _, items, _ = world
    colour = tmp_path / "c.png"
    Image.new("RGB", (8, 8), (255, 0, 0)).save(colour)
    with pytest.raises(DataError, match="colour heatmap"):
        read_map(colour, (H, W))
    bad = tmp_path / "b.npy"
    np.save(bad, np.zeros((2, 3, 4)))
    with pytest.raises(DataError, match="2-D"):
        read_map(bad, (H, W))
    (tmp_path / "scores.csv").write_text("image,score\nx.png,high\n")
    with pytest.raises(DataError, match=r"scores.csv:2"):
        MapsFolder(tmp_path)
    (tmp_path / "scores.csv").write_text("image,score\n")
    with pytest.raises(DataError, match="no anomaly map") as e:
        MapsFolder(tmp_path).result(root, items[0][0])
    assert items[0][0] in str(e.value)


def test_detector_model_answers_ad_and_dl_and_is_scored_as_a_detector(world, tmp_path, capsys):
    root, questions, _, maps = world
    out = tmp_path / "runs"
    assert main(["run", "--questions", str(questions), "--model", f"detector:{maps}", "--name", "mydet",
                 "--out", str(out), "--quiet"]) == 0
    assert main(["score", str(out), "--json", str(tmp_path / "s.json"), "--bootstrap", "50"]) == 0
    text = capsys.readouterr().out
    assert "P(defective) from detector score" in text
    s = json.loads((tmp_path / "s.json").read_text())["mydet"]
    assert s["detection"]["overall"]["auroc"] == pytest.approx(EXPECTED_AUROC)
    assert s["detection"]["source"] == "detector score"
    assert set(s["detection"]["datasets"]) == {"DS-MVTec", "VisA"}
    assert s["strict"]["overall"]["Defect Localization"] == pytest.approx(100.0)
    # AD: the normal image scored 0.6 is an overkill in each dataset; every defective image is caught
    assert s["overkill_miss"]["DS-MVTec"]["overkill"] == pytest.approx(50.0)
    assert s["overkill_miss"]["DS-MVTec"]["miss"] == pytest.approx(0.0)


def test_maps_expert_gives_hints_drawn_from_the_maps(world, tmp_path):
    root, questions, _, maps = world
    out = tmp_path / "runs"
    assert main(["run", "--questions", str(questions), "--model", "random", "--expert", f"maps:{maps}",
                 "--hint", "boxes", "--out", str(out), "--quiet", "--subtasks", "AD"]) == 0
    db = sqlite3.connect(out / "mmad-eval.sqlite")
    prompts = [json.loads(c) for (c,) in db.execute("SELECT content FROM requests")]
    texts = [p["text"] for c in prompts for m in c for p in m["parts"] if "text" in p]
    assert any("An anomaly detector scored this image 0.90 (threshold 0.50)" in t and "top left" in t for t in texts)
    assert any(p.get("role") == "hint" for c in prompts for m in c for p in m["parts"])


def test_a_missing_maps_folder_is_one_clear_error(world, tmp_path, capsys):
    _, questions, _, _ = world
    with pytest.raises(SystemExit) as e:
        main(["run", "--questions", str(questions), "--model", "random", "--expert", f"maps:{tmp_path}/none",
              "--out", str(tmp_path / "o")])
    assert e.value.code == 2 and "maps folder not found" in capsys.readouterr().err


def test_anomalib_predictions_convert_to_the_layout(world, tmp_path):
    root, _, items, _ = world
    keys = [k for k, _, _ in items[:3]]

    class Tensorish:                       # what a torch tensor offers the converter
        def __init__(self, a):
            self.a = np.asarray(a, np.float32)

        def detach(self):
            return self

        def float(self):
            return self

        def cpu(self):
            return self

        def numpy(self):
            return self.a

    batches = [types.SimpleNamespace(image_path=[str(root / k) for k in keys[:2]],
                                     pred_score=Tensorish([0.7, 0.2]),
                                     anomaly_map=Tensorish(np.stack([np.eye(8), np.zeros((8, 8))])[:, None])),
               {"image_path": [str(root / keys[2])], "pred_score": np.array([0.4]), "anomaly_map": np.ones((1, 8, 8))}]
    out = tmp_path / "converted"
    assert from_anomalib(batches, root, out, threshold=0.5) == 3
    folder = MapsFolder(out)
    r = folder.result(root, keys[0])
    assert r.score == pytest.approx(0.7) and r.verdict and r.anomaly_map.shape == (H, W)
    assert folder.result(root, keys[2]).score == pytest.approx(0.4)
    with pytest.raises(DataError, match="not under the data root"):
        from_anomalib([{"image_path": ["/elsewhere/x.png"], "pred_score": [0.1]}], root, tmp_path / "bad")


def test_expert_service_with_maps_kind(world):
    root, questions, items, maps = world
    service = ExpertService(root, load_mmad_json(questions), kind=f"maps:{maps}")
    assert service.analyze(items[-1][0]).kind == "maps"


def test_new_maps_are_asked_again_on_resume(world, tmp_path, capsys):
    root, questions, items, _ = world
    maps = write_maps_folder(tmp_path / "maps", items)
    out = tmp_path / "runs"
    args = ["run", "--questions", str(questions), "--model", "random", "--expert", f"maps:{maps}",
            "--out", str(out), "--quiet", "--subtasks", "AD"]
    assert main(args) == 0 and main(args) == 0
    assert "asked 0" in capsys.readouterr().out.splitlines()[-2]
    write_maps_folder(maps, [(k, d, 1.0 - s) for k, d, s in items])     # the detector was re-run
    assert main(args) == 0
    assert "asked 10" in capsys.readouterr().out


@pytest.mark.parametrize("tools", ["detector", "detector,zoom"])
def test_new_maps_behind_the_agent_detector_tool_are_asked_again_on_resume(world, tmp_path, capsys, tools):
    """The maps behind `--agent-detector maps:DIR` shape the later turns: a fast resume must see them change."""
    root, questions, items, _ = world
    maps = write_maps_folder(tmp_path / "maps", items)
    out = tmp_path / "runs"
    args = ["run", "--questions", str(questions), "--model", "scripted-agent", "--agent", tools,
            "--agent-detector", f"maps:{maps}", "--out", str(out), "--quiet", "--subtasks", "AD"]
    assert main(args) == 0 and main(args) == 0
    assert "asked 0" in capsys.readouterr().out
    write_maps_folder(maps, [(k, d, 1.0 - s) for k, d, s in items])     # the detector was re-run
    assert main(args) == 0
    out_text = capsys.readouterr().out
    assert "asked 0" not in out_text and "asked" in out_text
