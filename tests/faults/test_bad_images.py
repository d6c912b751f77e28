"""A decompression bomb, an empty file or a truncated image is one per-image error everywhere images are read."""
from __future__ import annotations

import json
import re
import shutil
import struct
import zlib
from pathlib import Path

import pytest
from fault_helpers import cli, run_args, dataset  # noqa: F401 (fixtures)

from mmad_eval.run.load import load_run
from mmad_eval.testing.openai_server import FakeOpenAIServer


def png_bomb(path: Path, side: int = 10_000) -> None:
    """A real, valid 1-bit PNG of side x side pixels (100 M pixels) in about 12 KB."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = zlib.compress(b"\0" * ((side // 8 + 1) * side), 9)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0))
                     + chunk(b"IDAT", raw) + chunk(b"IEND", b""))


@pytest.fixture
def bad_data(dataset, tmp_path) -> tuple[Path, dict]:
    """A copy of the data set with one bomb query, one empty query, one truncated and one empty template."""
    root = tmp_path / "data"
    shutil.copytree(dataset.parent, root)
    data = json.loads((root / "mmad.json").read_text())
    keys = list(data)
    bomb, empty = keys[0], keys[3]
    png_bomb(root / bomb)
    assert (root / bomb).stat().st_size < 100_000
    (root / empty).write_bytes(b"")
    template = data[keys[4]]["random_templates"][0]
    full = (root / template).read_bytes()
    (root / template).write_bytes(full[: len(full) // 2])
    second = data[keys[1]]["random_templates"][1]
    (root / second).write_bytes(b"")
    return root / "mmad.json", {"bomb": bomb, "empty": empty, "truncated": template, "empty_template": second}


def test_run_answers_every_other_question_and_names_each_bad_file(bad_data, tmp_path):
    questions, bad = bad_data
    out = tmp_path / "out"
    with FakeOpenAIServer() as srv:
        proc = cli(*run_args(questions, out, srv.base_url, "--expert", "builtin"))
    assert proc.returncode in (0, 1), proc.stderr
    answers = load_run(out).answers
    errors = {a.image: a.error for a in answers if a.error}
    assert "decompression bomb" in errors[bad["bomb"]] and bad["bomb"] in errors[bad["bomb"]]
    assert "empty file" in errors[bad["empty"]] and bad["empty"] in errors[bad["empty"]]
    assert not re.search(r"at 0x[0-9a-f]", " ".join(errors.values()))
    assert all(any(b in e for b in bad.values()) for e in errors.values())   # each names its own bad file
    answered = [a for a in answers if a.reply]
    assert len(answered) + len(errors) <= len(answers) and len(answered) >= 6  # the others were answered
    left_out = load_run(out).record["enhancements"]["expert_references_left_out"]
    assert any(bad["empty_template"] in m for m in left_out)          # left out of the fit, category still built


@pytest.mark.parametrize("extra", [["--expert", "oracle"], ["--templates", "retrieved"]])
def test_enhancements_do_not_crash_on_bad_images(bad_data, tmp_path, extra):
    questions, bad = bad_data
    with FakeOpenAIServer() as srv:
        proc = cli(*run_args(questions, tmp_path / "out", srv.base_url, *extra))
    assert proc.returncode in (0, 1), proc.stderr
    assert "questions could not be built" in proc.stdout or "failed" in proc.stdout


def test_report_and_generate_skip_bad_images(bad_data, tmp_path):
    questions, bad = bad_data
    with FakeOpenAIServer() as srv:
        cli(*run_args(questions, tmp_path / "out", srv.base_url))
    rep = cli("report", tmp_path / "out", "--out", tmp_path / "r.html")
    assert rep.returncode == 0, rep.stderr
    folder = tmp_path / "mine"
    (folder / "widget").mkdir(parents=True)
    src = questions.parent / "DS-MVTec" / "bottle" / "train" / "good"
    rows = ["image,label,split"]
    for i, p in enumerate(sorted(src.iterdir())):
        shutil.copy(p, folder / "widget" / f"{i}.png")
        rows.append(f"widget/{i}.png,normal,{'train' if i else 'test'}")
    png_bomb(folder / "widget" / "bomb.png")
    (folder / "widget" / "empty.png").write_bytes(b"")
    rows += ["widget/bomb.png,anomalous,test", "widget/empty.png,normal,test"]
    (folder / "annotations.csv").write_text("\n".join(rows) + "\n")
    gen = cli("generate", folder, "--layout", "folder", "--out", tmp_path / "q.json")
    assert "bomb.png" in gen.stdout + gen.stderr and "empty.png" in gen.stdout + gen.stderr


def test_an_error_for_shared_bytes_names_every_file_with_them(tmp_path):
    from mmad_eval.errors import DataError
    from mmad_eval.prompt.images import ImageRegistry

    reg = ImageRegistry()
    for name in ("a.png", "b.png"):
        (tmp_path / name).write_bytes(b"\x89PNG broken")
    sha = reg.add_file(tmp_path / "a.png")
    assert reg.add_file(tmp_path / "b.png") == sha
    with pytest.raises(DataError) as err:
        reg.data_url(sha)
    msg = str(err.value)
    assert "a.png" in msg and "b.png" in msg and "same bytes" in msg and not re.search(r"at 0x[0-9a-f]", msg)
