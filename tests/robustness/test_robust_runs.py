"""--perturb through run, ablate, the store, a real API server and the report."""
import base64
import io
import json
import re

import numpy as np
import pytest
from PIL import Image

from mmad_eval.cli import main
from mmad_eval.parse.stage import load_parsed_run
from mmad_eval.prompt.perturb import perturb_image
from mmad_eval.questions.generate import GenerateSettings, generate_questions
from mmad_eval.questions.mmad_io import write_mmad_json
from mmad_eval.run.store import Store
from mmad_eval.sources.detect import load_source
from mmad_eval.sources.synth import generate_synthetic
from mmad_eval.testing.openai_server import FakeOpenAIServer, image_urls


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    root = generate_synthetic(tmp_path_factory.mktemp("robust"), categories=["bottle"], n_train=4, n_test_good=3,
                              n_per_defect=1, size=96, workers=1)
    result = generate_questions(load_source(root / "Synth-AD"), root / "knowledge.json",
                                GenerateSettings(similar="none"))
    path = root / "questions.json"
    write_mmad_json(result.questions, path)
    return root, path


@pytest.fixture(scope="module")
def grid(synth, tmp_path_factory):
    root, q = synth
    out = tmp_path_factory.mktemp("grid")
    assert main(["ablate", "--questions", str(q), "--model", "expert", "--out", str(out), "--subtasks", "AD", "DL",
                 "--perturb", "blur=3", "--perturb", "lowlight=3", "--perturb", "blur=1", "--quiet"]) == 0
    return root, out


def _query_images(out, name):
    with Store(out) as store:
        members = store.members(name)
        rows = store.requests_for({m.request_key for m in members})
        parts = [(p["image"], p["role"]) for r in rows.values() for m in json.loads(r["content"]) for p in m["parts"]
                 if "image" in p]
        return {sha: (role, store.image(sha)) for sha, role in parts}


def test_grid_runs_are_named_and_recorded(grid):
    _, out = grid
    with Store(out) as store:
        names = store.run_names()
    assert names == ["expert@clean", "expert@blur=3", "expert@lowlight=3", "expert@blur=1"]
    assert load_parsed_run(out, "expert@blur=3").record["settings"]["protocol"]["perturb"] == "blur=3"
    assert "perturb" not in load_parsed_run(out, "expert@clean").record["settings"]["protocol"]


def test_the_stored_query_is_the_perturbed_image_and_references_are_clean(grid):
    root, out = grid
    clean, blurred = _query_images(out, "expert@clean"), _query_images(out, "expert@blur=3")
    clean_q = {s for s, (role, _) in clean.items() if role == "query"}
    blur_q = {s for s, (role, _) in blurred.items() if role == "query"}
    assert clean_q and blur_q and not clean_q & blur_q                        # other images, other keys
    assert {s for s, (r, _) in clean.items() if r == "template"} == {s for s, (r, _) in blurred.items() if r == "template"}
    sha, (_, (path, data)) = next((s, v) for s, v in blurred.items() if v[0] == "query")
    assert path is None and data                                             # the perturbed bytes, for the report
    members = {m.request_key: m for m in Store(out).members("expert@blur=3")}
    image_key = next(iter(members.values())).image
    src = (root / image_key).read_bytes()
    import hashlib
    want = perturb_image(Image.open(io.BytesIO(src)), "blur=3", 0, hashlib.sha256(src).hexdigest())
    got = {s: np.asarray(Image.open(io.BytesIO(v[1][1]))) for s, v in blurred.items() if v[0] == "query"}
    assert any(np.array_equal(np.asarray(want), g) for g in got.values())


def test_the_expert_sees_what_the_model_sees(grid):
    """Blurring the query changes the built-in detector's answers (it analyses the perturbed pixels)."""
    _, out = grid
    clean = {a.qid: a.meta.get("score") for a in load_parsed_run(out, "expert@clean").answers}
    blur = {a.qid: a.meta.get("score") for a in load_parsed_run(out, "expert@blur=3").answers}
    assert clean.keys() == blur.keys() and any(abs(clean[q] - blur[q]) > 1e-6 for q in clean)


def test_rerun_of_the_grid_asks_nothing(synth, grid, capsys):
    _, q = synth
    _, out = grid
    assert main(["ablate", "--questions", str(q), "--model", "expert", "--out", str(out), "--subtasks", "AD", "DL",
                 "--perturb", "blur=3", "--perturb", "lowlight=3", "--perturb", "blur=1", "--quiet"]) == 0
    assert capsys.readouterr().out.count("asked 0,") == 4


def test_references_are_perturbed_only_when_asked(synth, tmp_path):
    _, q = synth
    for name, extra in (("q", []), ("qr", ["--perturb-references"])):
        assert main(["run", "--questions", str(q), "--model", "random", "--out", str(tmp_path), "--name", name,
                     "--perturb", "noise=20", "--subtasks", "AD", "--quiet", *extra]) == 0
    refs = {n: {s for s, (r, _) in _query_images(tmp_path, n).items() if r == "template"} for n in ("q", "qr")}
    assert refs["q"] and refs["qr"] and not refs["q"] & refs["qr"]


def test_an_api_model_receives_the_perturbed_pixels(synth, tmp_path):
    root, q = synth
    with FakeOpenAIServer() as srv:
        assert main(["run", "--questions", str(q), "--model", "openai:fake-vlm", "--out", str(tmp_path),
                     "--base-url", srv.base_url, "--perturb", "lowlight=2.5", "--subtasks", "AD", "--quiet"]) == 0
        bodies = srv.requests
    run = load_parsed_run(tmp_path, "openai:fake-vlm")
    first = run.answers[0].image
    import hashlib
    src = (root / first).read_bytes()
    want = np.asarray(perturb_image(Image.open(io.BytesIO(src)), "lowlight=2.5", 0, hashlib.sha256(src).hexdigest()))
    def pixels(url):
        return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB"))

    queries = [pixels(image_urls(b)[-1]) for b in bodies]               # the query follows the template
    assert any(s.shape == want.shape and np.array_equal(s, want) for s in queries)
    original = np.asarray(Image.open(io.BytesIO(src)).convert("RGB"))
    assert not any(s.shape == original.shape and np.array_equal(s, original) for s in queries)
    assert all(s.mean() < pixels(image_urls(b)[0]).mean() for s, b in zip(queries, bodies))   # darker than its template


def test_report_pairs_each_perturbed_run_with_the_clean_one(grid, tmp_path):
    _, out = grid
    path = tmp_path / "r.html"
    assert main(["report", str(out), "--out", str(path)]) == 0
    section = re.search(r'<section id="robustness">(.*?)</section>', path.read_text(), re.S).group(1)
    runs = re.findall(r'<tr><td class="l">(expert@[^<]+)</td><td class="l">([^<]+)</td>', section)
    assert runs == [("expert@blur=1", "blur=1"), ("expert@blur=3", "blur=3"), ("expert@lowlight=3", "lowlight=3")]
    assert 'class="group"><td class="l">expert@clean</td><td class="l">clean</td>' in section


@pytest.mark.parametrize("extra, flag", [(["--perturb", "blur=1", "--batch-api"], "--batch-api"),
                                         (["--perturb", "blur=1", "--ray"], "--ray"),
                                         (["--batch-api"], "--batch-api")])
def test_ablate_refuses_run_flags_it_would_ignore(synth, tmp_path, capsys, extra, flag):
    """`ablate` shares `run`'s flags but answers live in this process: --batch-api or --ray would be ignored
    silently (a grid billed at the live price), so they are refused in one line before anything is asked."""
    _, q = synth
    out = tmp_path / "o"
    assert main(["ablate", "--questions", str(q), "--model", "random", "--out", str(out), "--quiet", *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and flag in err[0] and not out.exists()
