"""The CLI shell, the registry and the core records: behaviour a user relies on everywhere."""
import json
import subprocess
import sys

import pytest

from mmad_eval.backends.registry import BACKENDS, backend_class, load_presets, resolve_model
from mmad_eval.cli import main
from mmad_eval.errors import ConfigError, DataError, MissingExtraError
from mmad_eval.paths import safe_join
from mmad_eval.prompt.message import ImagePart, Message, Request, TextPart


def test_models_lists_presets_and_backends(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for name in load_presets():
        assert name in out
    for backend in BACKENDS:
        assert backend in out


def test_unknown_command_and_no_command():
    assert main([]) == 0
    with pytest.raises(SystemExit):
        main(["no-such-command"])


def test_resolve_model_preset_backend_model_and_unknown():
    assert resolve_model("gpt-4o").backend == "openai"
    spec = resolve_model("vllm:/models/Qwen2.5-VL-7B-Instruct")
    assert (spec.backend, spec.model) == ("vllm", "/models/Qwen2.5-VL-7B-Instruct")
    with pytest.raises(ConfigError, match="nonsense-model"):
        resolve_model("nonsense-model")
    with pytest.raises(ConfigError, match="unknown backend"):
        backend_class("nope")


def test_missing_extra_gives_install_hint(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "vllm" else real(name, *a))
    with pytest.raises(MissingExtraError, match=r"pip install 'mmad-eval\[vllm\]'"):
        backend_class("vllm")


def test_core_cli_does_not_import_heavy_packages():
    code = ("import sys, mmad_eval.cli as c; c.main(['models']); "
            "print(sorted(m for m in ('torch','transformers','vllm') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize("bad", ["../secret.png", "/etc/passwd", "a/../../b.png", "C:/x.png", ""])
def test_safe_join_refuses_escapes(tmp_path, bad):
    with pytest.raises(DataError):
        safe_join(tmp_path, bad)


def test_safe_join_accepts_inside(tmp_path):
    assert safe_join(tmp_path, "a/b.png") == (tmp_path / "a" / "b.png").resolve()


def test_request_key_depends_on_images_settings_and_text():
    def req(text="Q", sha="1" * 64):
        return Request(messages=(Message("user", (ImagePart(sha), TextPart(text))),), qids=("k#0",))

    ident = {"backend": "x", "generation": {"temperature": 0}}
    base = req().key(ident)
    assert base == req().key(dict(ident))
    assert base != req(text="Q2").key(ident)
    assert base != req(sha="2" * 64).key(ident)
    assert base != req().key({"backend": "x", "generation": {"temperature": 1}})
    assert json.dumps(req().content())  # JSON-able, images as hashes


@pytest.mark.parametrize("argv", [["models"], ["score", "/nonexistent/folder"]])
def test_main_gives_the_callers_sigterm_handler_back(argv, capsys):
    """SIGTERM stops a command while it runs; a program that calls main() keeps its own handler afterwards."""
    import signal

    def mine(signum, frame):
        pass

    before = signal.signal(signal.SIGTERM, mine)
    try:
        main(argv)
        assert signal.getsignal(signal.SIGTERM) is mine
    finally:
        signal.signal(signal.SIGTERM, before)
