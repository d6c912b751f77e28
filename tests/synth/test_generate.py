import json

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from mmad_eval.cli import main as cli_main
from mmad_eval.errors import ConfigError
from mmad_eval.sources.knowledge import load_knowledge
from mmad_eval.sources.synth import CATEGORIES, generate_synthetic, image_seed, render_sample
from mmad_eval.sources.synth.render import EDIT_THRESHOLD, location_phrase

CATS = ["grid", "pill", "pcb", "wood"]
COUNTS = dict(n_train=3, n_test_good=2, n_per_defect=2, size=128)


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory):
    """One small dataset shared by the tests (4 categories, 128 px, two worker processes)."""
    return generate_synthetic(tmp_path_factory.mktemp("synth") / "out", seed=3, categories=CATS, workers=2,
                              **COUNTS)


def _files(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_layout_and_counts(synth_root):
    ds = synth_root / "Synth-AD"
    assert sorted(p.name for p in ds.iterdir() if p.is_dir()) == sorted(CATS)
    for cat in CATS:
        assert sorted(p.name for p in (ds / cat / "train" / "good").iterdir()) == ["000.png", "001.png", "002.png"]
        assert len(list((ds / cat / "test" / "good").glob("*.png"))) == 2
        defects = [d.name for d in CATEGORIES[cat].defects]
        assert sorted(p.name for p in (ds / cat / "test").iterdir()) == sorted(defects + ["good"])
        assert sorted(p.name for p in (ds / cat / "ground_truth").iterdir()) == sorted(defects)
        for d in defects:
            imgs = sorted(p.stem for p in (ds / cat / "test" / d).glob("*.png"))
            masks = sorted(p.stem for p in (ds / cat / "ground_truth" / d).glob("*.png"))
            assert imgs == ["000", "001"] and masks == ["000_mask", "001_mask"]
    assert Image.open(ds / "pill" / "train" / "good" / "000.png").size == (128, 128)


def test_meta_covers_every_test_image(synth_root):
    meta = json.loads((synth_root / "Synth-AD" / "synth_meta.json").read_text())
    assert meta["settings"]["seed"] == 3 and meta["settings"]["categories"] == CATS
    test_imgs = {p.relative_to(synth_root).as_posix() for p in (synth_root / "Synth-AD").glob("*/test/*/*.png")}
    assert set(meta["images"]) == test_imgs
    for key, e in meta["images"].items():
        _, cat, _, label, _ = key.split("/")
        assert e["category"] == cat
        if label == "good":
            assert e["defect_type"] is None and e["mask"] is None and e["bbox"] is None
        else:
            assert e["defect_type"] == label and e["kind"] == CATEGORIES[cat].defect(label).kind
            assert (synth_root / e["mask"]).is_file()
    kinds = {e["kind"] for e in meta["images"].values()}
    assert {"structural", "logical"} <= kinds


def test_masks_nonempty_binary_and_match_bbox(synth_root):
    meta = json.loads((synth_root / "Synth-AD" / "synth_meta.json").read_text())
    for key, e in meta["images"].items():
        if e["mask"] is None:
            continue
        m = np.asarray(Image.open(synth_root / e["mask"]))
        assert m.shape == (128, 128) and set(np.unique(m)) <= {0, 255}
        ys, xs = np.nonzero(m)
        assert ys.size == e["mask_pixels"] > 0
        assert e["bbox"] == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
        assert 0 <= e["bbox"][0] < e["bbox"][2] <= 128 and 0 <= e["bbox"][1] < e["bbox"][3] <= 128
        assert e["location"] == location_phrase(e["bbox"], 128)


def test_defect_differs_from_normal_twin_only_inside_mask(synth_root):
    meta = json.loads((synth_root / "Synth-AD" / "synth_meta.json").read_text())
    for key, e in meta["images"].items():
        img = np.asarray(Image.open(synth_root / key)).astype(int)
        twin = render_sample(e["category"], e["seed"], None, 128).image.astype(int)
        diff = np.abs(img - twin).max(axis=-1)
        if e["mask"] is None:
            assert diff.max() == 0, key          # the written normal image is exactly its seed's render
            continue
        mask = np.asarray(Image.open(synth_root / e["mask"])) > 0
        visible = diff > 8
        assert visible.sum() > 0, key
        outside = visible & ~ndimage.binary_dilation(mask, iterations=2)
        assert outside.sum() <= 0.02 * visible.sum(), key
        assert (diff[mask] > 0).mean() >= 0.3, key


@pytest.mark.parametrize("cat", list(CATEGORIES))
def test_every_defect_type_renders_with_its_mask(cat):
    for d in CATEGORIES[cat].defects:
        s = image_seed(11, cat, d.name, 0)
        a = render_sample(cat, s, d.name, 128)
        b = render_sample(cat, s, None, 128)
        assert a.mask is not None and a.mask.sum() >= 3, d.name
        diff = np.abs(a.image.astype(int) - b.image.astype(int)).max(axis=-1)
        if d.edit is not None:    # re-rendered edits: every clear change lies in the mask, pixel-exact
            assert not ((diff > EDIT_THRESHOLD * 255 + 12) & ~a.mask).any(), d.name
        assert (diff > 8).sum() > 0, d.name


def test_normal_images_vary(synth_root):
    for cat in CATS:
        imgs = [np.asarray(Image.open(p)).astype(float)
                for p in sorted((synth_root / "Synth-AD" / cat / "train" / "good").glob("*.png"))]
        assert np.abs(imgs[0] - imgs[1]).mean() > 1.0, cat


def test_deterministic_and_independent_of_other_categories_and_workers(synth_root, tmp_path):
    again = generate_synthetic(tmp_path / "again", seed=3, categories=CATS, workers=1, **COUNTS)
    assert _files(again) == _files(synth_root)
    alone = generate_synthetic(tmp_path / "alone", seed=3, categories=["pill"], workers=1, **COUNTS)
    ref = _files(synth_root / "Synth-AD" / "pill")
    assert _files(alone / "Synth-AD" / "pill") == ref
    other = generate_synthetic(tmp_path / "other", seed=4, categories=["pill"], workers=1, **COUNTS)
    new = _files(other / "Synth-AD" / "pill")
    assert new.keys() == ref.keys()
    assert all(new[k] != ref[k] for k in ref if k.endswith(".png") and "ground_truth" not in k)


def test_knowledge_file_covers_categories_and_defects(synth_root):
    k = load_knowledge(synth_root / "knowledge.json")
    assert sorted(k.categories) == sorted(CATS)
    for cat in CATS:
        ck = k.get(cat)
        assert ck.name and ck.description and ck.normal and ck.materials and ck.colors and ck.shape
        assert ck.kind == CATEGORIES[cat].kind and ck.dataset == "Synth-AD"
        assert set(ck.defects) == {d.name for d in CATEGORIES[cat].defects}
        for name, dk in ck.defects.items():
            assert dk.appearance and dk.cause and dk.effect and dk.synonyms
            assert dk.kind == CATEGORIES[cat].defect(name).kind
    assert k.get("pcb").count == {"what": "components", "value": 8}


def test_regenerates_over_its_own_tree_but_not_a_foreign_one(tmp_path):
    out = generate_synthetic(tmp_path / "o", categories=["pcb"], n_train=1, n_test_good=1, n_per_defect=2,
                             size=64, workers=1)
    generate_synthetic(out, categories=["pcb"], n_train=1, n_test_good=1, n_per_defect=1, size=64, workers=1)
    assert not (out / "Synth-AD" / "pcb" / "test" / "scratch" / "001.png").exists()   # stale files gone
    foreign = tmp_path / "f" / "Synth-AD"
    foreign.mkdir(parents=True)
    (foreign / "mine.txt").write_text("user data")
    with pytest.raises(ConfigError, match="not written by mmad-eval synth"):
        generate_synthetic(tmp_path / "f", categories=["pcb"], n_train=1, size=64, workers=1)
    assert (foreign / "mine.txt").read_text() == "user data"


@pytest.mark.parametrize("kwargs, culprit", [
    (dict(categories=["pill", "teapot"]), "teapot"),
    (dict(size=16), "size=16"),
    (dict(n_train=0), "train=0"),
    (dict(seed=-1), "seed=-1"),
    (dict(workers=0), "workers=0"),
])
def test_bad_settings_give_one_config_error(tmp_path, kwargs, culprit):
    with pytest.raises(ConfigError) as e:
        generate_synthetic(tmp_path / "x", **kwargs)
    assert e.value.culprit == culprit
    assert not (tmp_path / "x").exists()


def test_cli_writes_tree_and_reports_bad_category(tmp_path, capsys):
    rc = cli_main(["synth", str(tmp_path / "c"), "--categories", "tile,screw", "--train", "2", "--test-good", "1",
                   "--per-defect", "1", "--size", "96", "--workers", "1", "--seed", "5"])
    assert rc == 0
    assert "wrote" in capsys.readouterr().out
    assert len(list((tmp_path / "c" / "Synth-AD" / "screw" / "test").glob("*/*.png"))) == 1 + 3
    assert (tmp_path / "c" / "knowledge.json").is_file()
    rc = cli_main(["synth", str(tmp_path / "d"), "--categories", "tile,teapot"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "teapot" in err and "unknown synthetic category" in err


@pytest.mark.parametrize("images_before_kill", [1, 12])
def test_a_killed_generation_leaves_no_partial_tree_and_the_demo_data_rebuilds(tmp_path, images_before_kill):
    """kill -9 while the set is rendered: no Synth-AD/ appears (it is renamed into place whole), so the next
    demo rebuilds it instead of failing on a half-written tree; the rebuilt set equals an uninterrupted one."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from mmad_eval.commands.demo import prepare_data

    cache = tmp_path / "cache"
    root = cache / "synth-seed0-pcb-pill"
    code = ("import sys; from mmad_eval.commands.demo import prepare_data; "
            f"prepare_data({str(cache)!r}, 0, 'pcb,pill', quiet=True)")
    proc = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        if len(list(root.rglob("*.png"))) >= images_before_kill:    # in the temporary folder, or (before) in place
            break
        time.sleep(0.01)
    assert proc.poll() is None, "generation ended before the kill: nothing was tested"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (root / "Synth-AD").exists() and not (root / "questions.json").exists()
    data_root, questions = prepare_data(cache, 0, "pcb,pill", quiet=True)
    whole = generate_synthetic(tmp_path / "whole", categories=["pcb", "pill"], workers=1)
    made = sorted(p.relative_to(data_root / "Synth-AD") for p in (data_root / "Synth-AD").rglob("*.png"))
    assert made == sorted(p.relative_to(whole / "Synth-AD") for p in (whole / "Synth-AD").rglob("*.png"))
    assert all((data_root / "Synth-AD" / p).read_bytes() == (whole / "Synth-AD" / p).read_bytes() for p in made)
    assert json.loads(questions.read_text())
