"""`--templates retrieved --shots 2` through `mmad-eval run` on the synthetic set; deterministic ties."""
import json
import sqlite3

import numpy as np
from PIL import Image

from mmad_eval.cli import main as cli_main
from mmad_eval.enhance.retrieval import RetrievalIndex
from mmad_eval.questions.mmad_io import load_mmad_json
from mmad_eval.questions.model import split_key


def test_retrieved_two_shots_through_run_on_the_synthetic_set(tmp_path, capsys):
    data = tmp_path / "data"
    assert cli_main(["synth", str(data), "--categories", "bottle,carpet", "--train", "5", "--test-good", "2",
                     "--per-defect", "1", "--size", "64", "--workers", "1"]) == 0
    assert cli_main(["generate", str(data / "Synth-AD"), "--out", str(data / "mmad.json")]) == 0
    out = tmp_path / "out"
    args = ["run", "--questions", str(data / "mmad.json"), "--model", "random", "--out", str(out), "--quiet",
            "--templates", "retrieved", "--shots", "2"]
    assert cli_main(args) == 0
    first = capsys.readouterr().out
    assert "could not be built" not in first and "failed 0" in first
    qs = load_mmad_json(data / "mmad.json")
    index = RetrievalIndex.from_questions(data, qs)
    db = sqlite3.connect(out / "mmad-eval.sqlite")
    images = dict(db.execute("SELECT sha, path FROM images"))
    seen = 0
    for (content,) in db.execute("SELECT content FROM requests WHERE content IS NOT NULL"):
        parts = json.loads(content)[0]["parts"]
        query = [images[p["image"]] for p in parts if p.get("role") == "query"][0]
        templates = [images[p["image"]] for p in parts if p.get("role") == "template"]
        assert len(templates) == 2 and query not in templates
        assert all(split_key(t) == split_key(query) for t in templates)
        assert templates == index.nearest(query, 2)
        seen += 1
    assert seen == len(qs)
    assert cli_main(args) == 0 and "asked 0" in capsys.readouterr().out      # same templates on a rerun


def test_ties_are_broken_by_path_and_the_query_never_retrieves_itself(tmp_path):
    img = np.full((32, 32, 3), 90, np.uint8)
    keys = [f"DS/cat/train/good/{n}.png" for n in ("c", "a", "d", "b")]
    for k in keys + ["DS/cat/test/good/q.png", "DS/other/train/good/a.png"]:
        (tmp_path / k).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(tmp_path / k)
    index = RetrievalIndex.from_pools(tmp_path, {("DS", "cat"): keys, ("DS", "other"): ["DS/other/train/good/a.png"]})
    assert index.nearest("DS/cat/test/good/q.png", 3) == sorted(keys)[:3]
    assert index.nearest("DS/cat/train/good/a.png", 2) == ["DS/cat/train/good/b.png", "DS/cat/train/good/c.png"]
