"""Each in-process adapter answers a generated question set through `mmad-eval run` (the user's path)."""
import sys
import types

import pytest

from mmad_eval.cli import main
from mmad_eval.questions.generate import GenerateSettings, generate_questions
from mmad_eval.questions.mmad_io import write_mmad_json
from mmad_eval.parse.stage import load_parsed_run
from mmad_eval.sources.detect import load_source
from mmad_eval.sources.synth import generate_synthetic

from fake_vllm import FakeLLM, FakeSamplingParams


@pytest.fixture(scope="module")
def question_file(tmp_path_factory):
    root = generate_synthetic(tmp_path_factory.mktemp("synth"), categories=["pill"], n_train=3, n_test_good=2,
                              n_per_defect=1, size=64, workers=1)
    result = generate_questions(load_source(root / "Synth-AD"), root / "knowledge.json",
                                GenerateSettings(similar="none"))
    path = root / "questions.json"
    write_mmad_json(result.questions, path)
    return path, len(result.questions)


def _check(out, name, n, backend):
    run = load_parsed_run(out, name)
    assert len(run.answers) == n and not any(a.error for a in run.answers)
    assert run.record["backend"]["backend"] == backend
    # the query image and the 1-shot template reached the prompt as image parts
    roles = [p.get("role") for c in run.prompts.values() for m in c for p in m["parts"] if "image" in p]
    assert roles.count("query") == len(run.prompts) and roles.count("template") == len(run.prompts)
    return run


def test_hf_backend_through_the_cli(question_file, tmp_path, capsys):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from mmad_eval.testing.tiny_vlm import build_tiny_llava

    model = build_tiny_llava(tmp_path / "tiny")
    q, n = question_file
    out = tmp_path / "out"
    assert main(["run", "--questions", str(q), "--model", f"hf:{model}", "--out", str(out), "--name", "tiny",
                 "--max-tokens", "4", "--backend-option", "batch_size=8", "--backend-option", "device=cpu",
                 "--quiet"]) == 0
    run = _check(out, "tiny", n, "hf")
    assert all(isinstance(a.reply, str) for a in run.answers)     # random weights: text, rarely a letter
    stats = run.record["last_invocation"]["backend_stats"]            # padding recorded with the run
    assert stats["token_slots"] > stats["pad_tokens"] >= 0 and stats["batches"] == -(-len(run.prompts) // 8)
    assert stats["padding_fraction"] == round(stats["pad_tokens"] / stats["token_slots"], 4)
    assert f"padding {100 * stats['padding_fraction']:.1f}% of token slots" in capsys.readouterr().out
    assert main(["run", "--questions", str(q), "--model", f"hf:{model}", "--out", str(out), "--name", "tiny",
                 "--max-tokens", "4", "--backend-option", "batch_size=8", "--backend-option", "device=cpu",
                 "--quiet"]) == 0                                   # resume: nothing asked, nothing lost
    assert len(load_parsed_run(out, "tiny").answers) == n


def test_vllm_backend_through_the_cli(question_file, tmp_path, monkeypatch):
    mod = types.ModuleType("vllm")
    mod.LLM, mod.SamplingParams = FakeLLM, FakeSamplingParams
    mod.__spec__ = types.SimpleNamespace(name="vllm")
    monkeypatch.setitem(sys.modules, "vllm", mod)
    FakeLLM.instances = []
    q, n = question_file
    out = tmp_path / "out"
    assert main(["run", "--questions", str(q), "--model", "vllm:/models/fake-vl", "--out", str(out),
                 "--name", "v", "--quiet", "--backend-option", "max_model_len=4096"]) == 0
    run = _check(out, "v", n, "vllm")
    (llm,) = FakeLLM.instances
    assert llm.model == "/models/fake-vl" and llm.kw["max_model_len"] == 4096
    assert len(llm.calls) == 1 and len(llm.calls[0]["messages"]) == len(run.prompts)   # one batched chat call
    assert llm.calls[0]["params"].kw["temperature"] == 0.0
    assert {a.parsed for a in run.answers} == {"B"}                 # the fake answers B when it sees images


@pytest.mark.parametrize("preset", ["qwen2.5-vl", "llava"])
def test_local_official_presets_run_on_the_hf_backend(preset, question_file, tmp_path):
    """qwen2.5-vl leaves decoding to the checkpoint's generation config (no temperature sent); llava samples
    at 0.2 on images round-tripped through JPEG; both record the preset and the overridden token limit."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from mmad_eval.testing.tiny_vlm import build_tiny_llava

    model = build_tiny_llava(tmp_path / "tiny")
    q, n = question_file
    out = tmp_path / "out"
    assert main(["run", "--questions", str(q), "--model", f"hf:{model}", "--out", str(out), "--name", preset,
                 "--protocol", preset, "--max-tokens", "3", "--backend-option", "device=cpu", "--quiet"]) == 0
    run = _check(out, preset, n, "hf")
    settings = run.record["settings"]
    assert settings["preset"] == preset and settings["overrides"] == ["generation.max_tokens"]
    assert run.record["prompt"]["name"] == f"official/{preset}"
    assert all(isinstance(a.reply, str) for a in run.answers)


def test_cli_image_format_source_sends_a_jpeg_data_set_as_its_files(tmp_path):
    """`mmad-eval run --image-format source`: every unchanged JPEG reaches the server as its file's bytes."""
    import base64
    import json
    import os
    import sqlite3
    import subprocess
    import sys

    from PIL import Image

    from mmad_eval.testing.openai_server import FakeOpenAIServer

    root = tmp_path / "data"
    files = {}
    for i, name in enumerate(["VisA/candle/train/good/000.JPG", "VisA/candle/test/bad/000.JPG"]):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (60, 40), (40 * i, 90, 160)).save(root / name, "JPEG", quality=85)
        files[name] = (root / name).read_bytes()
    query = "VisA/candle/test/bad/000.JPG"
    qfile = root / "mmad.json"
    qfile.write_text(json.dumps({query: {"image_path": query, "mask_path": "", "similar_templates": [],
                                         "random_templates": ["VisA/candle/train/good/000.JPG"], "conversation": [
        {"Question": "Is there any defect in the object?", "Answer": "A", "Options": {"A": "Yes.", "B": "No."},
         "type": "Anomaly Detection"}]}}))
    with FakeOpenAIServer() as srv:
        proc = subprocess.run([sys.executable, "-m", "mmad_eval", "run", "--questions", str(qfile), "--model",
                               "openai:fake", "--out", str(tmp_path / "out"), "--base-url", srv.base_url,
                               "--image-format", "source", "--quiet"], capture_output=True, text=True,
                              env={**os.environ, "OPENAI_API_KEY": "local"})
        assert proc.returncode == 0, proc.stderr
        urls = [p["image_url"]["url"] for m in srv.requests[0]["messages"] for p in m["content"]
                if isinstance(p, dict) and p.get("type") == "image_url"]
    assert [base64.b64decode(u.split(",", 1)[1]) for u in urls] == [files[n] for n in files]
    assert all(u.startswith("data:image/jpeg;base64,") for u in urls)
    record = json.loads(sqlite3.connect(tmp_path / "out" / "mmad-eval.sqlite").execute(
        "SELECT record FROM runs").fetchone()[0])
    assert record["settings"]["images"]["format"] == "source"


@pytest.mark.parametrize("folder, says", [
    ("text-only", "could not load the model as AutoModelForImageTextToText (ValueError: Unrecognized configuration "
                  "class"),
    ("missing", "could not load the processor")])
def test_a_checkpoint_transformers_cannot_load_is_one_line_naming_it(question_file, tmp_path, capsys, folder, says):
    pytest.importorskip("transformers")
    model = tmp_path / folder
    if folder == "text-only":                       # a text-only model's config: no image-text class takes it
        from mmad_eval.testing.tiny_vlm import build_tiny_llava

        built = build_tiny_llava(tmp_path / "tiny")
        model.mkdir()
        for f in built.iterdir():
            if f.name != "config.json" and f.is_file():
                (model / f.name).write_bytes(f.read_bytes())
        (model / "config.json").write_text('{"model_type": "bert"}')
    capsys.readouterr()                             # the builder's own progress output
    rc = main(["run", "--questions", str(question_file[0]), "--model", f"hf:{model}", "--out", str(tmp_path / "o"),
               "--backend-option", "device=cpu", "--quiet"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "Traceback" not in err
    assert f"hf:{model}: {says}" in err and "a bug in mmad-eval" not in err and "should be one of" not in err


@pytest.mark.parametrize("failure", [RuntimeError("Engine core initialization failed. See root cause above."),
                                     ValueError("The model's max seq len (32768) is larger than the maximum "
                                                "number of tokens that can be stored in KV cache (1000).")])
def test_an_engine_vllm_cannot_start_is_one_line_naming_the_model(question_file, tmp_path, capsys, monkeypatch,
                                                                  failure):
    class Failing(FakeLLM):
        def __init__(self, model, **kw):
            raise failure

    fake = types.ModuleType("vllm")
    fake.LLM, fake.SamplingParams = Failing, FakeSamplingParams
    fake.__spec__ = types.SimpleNamespace(name="vllm")
    monkeypatch.setitem(sys.modules, "vllm", fake)
    rc = main(["run", "--questions", str(question_file[0]), "--model", "vllm:some/model", "--out",
               str(tmp_path / "o"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "a bug in mmad-eval" not in err
    assert f"vllm:some/model: could not load the model in vLLM ({type(failure).__name__}: {failure}"[:90] in err
