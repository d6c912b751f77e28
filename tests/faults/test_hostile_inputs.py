"""Hostile input files (issue 24, items 9, 10, 12-14): each gives one line naming the file and the entry, or is
handled, never a traceback or "a bug in mmad-eval"."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from fault_helpers import cli, dataset, one_error_line  # noqa: F401 (fixtures)


def _no_bug(proc) -> None:
    assert "a bug in mmad-eval" not in proc.stderr + proc.stdout, proc.stderr


# ---- item 14: a question file cannot choose where its images are read from; lone surrogates -------------

@pytest.mark.parametrize("recorded", ["/", "../../../../../../../../.."])
def test_recorded_data_root_outside_the_question_folder_is_refused(dataset, tmp_path, recorded):
    data = json.loads(dataset.read_text())
    secret_dir = dataset.parent.resolve()                 # images somewhere else on the machine
    hostile = {str(secret_dir / k).lstrip("/"): {**v, "data_root": recorded, "image_path": None,
                                                  "similar_templates": [], "random_templates": []}
               for k, v in list(data.items())[:2]}
    (tmp_path / "q").mkdir()
    qfile = tmp_path / "q" / "mmad.json"
    qfile.write_text(json.dumps(hostile))
    proc = cli("run", "--questions", qfile, "--model", "random", "--out", tmp_path / "out", "--quiet")
    line = one_error_line(proc)
    assert str(qfile) in line and "outside the question file's folder" in line and "--data-root" in line
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").rglob("*.sqlite"))
    assert "outside" in one_error_line(cli("audit", qfile, "--sheet", "2", "--out", tmp_path / "s.html"))
    # the user says so: then it is their choice
    ok = cli("run", "--questions", qfile, "--model", "random", "--out", tmp_path / "out", "--quiet",
             "--data-root", "/")
    assert ok.returncode == 0 and "could not be built" not in ok.stdout, ok.stdout + ok.stderr


def test_recorded_data_root_inside_the_question_folder_is_kept(dataset, tmp_path):
    shutil.copytree(dataset.parent, tmp_path / "set" / "images")
    data = json.loads((tmp_path / "set" / "images" / "mmad.json").read_text())
    qfile = tmp_path / "set" / "q.json"
    qfile.write_text(json.dumps({k: {**v, "data_root": "images"} for k, v in data.items()}))
    ok = cli("run", "--questions", qfile, "--model", "random", "--out", tmp_path / "out", "--quiet")
    assert ok.returncode == 0 and "could not be built" not in ok.stdout, ok.stdout + ok.stderr


def _surrogate_files(tmp_path: Path) -> list[tuple[Path, str]]:
    q = {"Question": "Is there any defect?", "Answer": "A", "Options": {"A": "Yes.", "B": "No."},
         "type": "Anomaly Detection"}
    mmad = tmp_path / "sur.json"
    mmad.write_text(json.dumps({"D/c/test/good/0.png": {"conversation": [{**q, "Question": "Is there @ defect?"}],
                                                         "similar_templates": [], "random_templates": []}})
                    .replace("@", "\\ud800"))
    rec = {"qid": "D/c/test/good/0.png#0", "image": "D/c/test/good/0.png", "type": "Anomaly Detection",
           "question": "Is there any defect?", "options": {"A": "Yes.", "B": "@"}, "answer": "A"}
    jsonl = tmp_path / "sur.jsonl"
    ok = json.dumps({**rec, "question": "\U0001F600 paired surrogates are one character"})
    jsonl.write_text(ok + "\n" + json.dumps({**rec, "qid": "x#1"}).replace("@", "\\uDFFF") + "\n")
    return [(mmad, "['D/c/test/good/0.png']['conversation'][0]['Question']"), (Path(f"{jsonl}:2"), "['options']['B']")]


def test_lone_surrogate_in_question_text_names_file_and_entry(tmp_path):
    from PIL import Image

    (tmp_path / "D/c/test/good").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(tmp_path / "D/c/test/good/0.png")
    for culprit, where in _surrogate_files(tmp_path):
        path = str(culprit).split(".jsonl")[0] + ".jsonl" if ".jsonl" in str(culprit) else str(culprit)
        for args in (["run", "--questions", path, "--model", "random", "--out", tmp_path / "out", "--quiet"],
                     ["audit", path]):
            proc = cli(*args)
            _no_bug(proc)
            line = one_error_line(proc)
            assert str(culprit) in line and where in line and "lone surrogate" in line, line


# ---- item 9: human rating files are checked against their sheet ----------------------------------------

def _sheet(dataset, tmp_path, n=8, seed=1) -> dict:
    """Write a rating sheet from the CLI; its identity as the page carries it (what its download holds) and
    the questions it shows."""
    page = tmp_path / "sheet.html"
    assert cli("audit", dataset, "--sheet", n, "--seed", seed, "--out", page).returncode == 0
    text = page.read_text(encoding="utf-8")
    meta = json.loads(text.split("var SHEET = ", 1)[1].split(";function", 1)[0].split(";\n", 1)[0])
    return {**meta, "shown": re.findall(r'data-qid="([^"]+)"', text)}


def _shown(sheet: dict) -> list[str]:
    return sheet["shown"]


def _answers(sheet: dict, picks: dict, rater="ann", **over) -> dict:
    """An answers file as the sheet's download button writes it (rating_sheet.py's sheetAnswers)."""
    out = {"format": sheet["format"], "sheet": sheet["id"], "questions_sha256": sheet["sha256"],
           "seed": sheet.get("seed"), "strata": sheet.get("strata"), "sample": sheet.get("sample"), "rater": rater,
           "answers": [{"qid": q, "choice": picks.get(q), "unanswerable": False} for q in _shown(sheet)]}
    return {**out, **over}


def _human(dataset, tmp_path, *files):
    proc = cli("audit", dataset, "--human", *files, "--json", tmp_path / "human.json")
    _no_bug(proc)
    return proc


def test_a_file_of_only_its_right_answers_does_not_score_100(dataset, tmp_path):
    from mmad_eval.questions.jsonl_io import load_questions

    sheet = _sheet(dataset, tmp_path)
    truth = {q.qid: q.answer for q in load_questions(dataset).questions()}
    # the rater got the first half right and the rest wrong; the file keeps only the right ones
    half = _shown(sheet)[: len(_shown(sheet)) // 2]
    kept = _answers(sheet, {q: truth[q] for q in half})
    kept["answers"] = [a for a in kept["answers"] if a["qid"] in half]
    f = tmp_path / "kept.json"
    f.write_text(json.dumps(kept))
    assert _human(dataset, tmp_path, f).returncode == 0
    rep = json.loads((tmp_path / "human.json").read_text())
    row = rep["raters"][0]
    assert sum(c["n"] for c in row["subtasks"].values()) == len(_shown(sheet))      # the sheet's questions
    assert sum(c["correct"] for c in row["subtasks"].values()) == len(half)
    assert row["unanswered"] == len(_shown(sheet)) - len(half)
    # the sample trimmed to the right answers too: not the sheet's draw; without saying how it was drawn
    trimmed = dict(kept, sample=half)
    f.write_text(json.dumps(trimmed))
    line = one_error_line(_human(dataset, tmp_path, f))
    assert str(f) in line and "not its own draw" in line
    f.write_text(json.dumps({k: v for k, v in trimmed.items() if k not in ("seed", "strata", "sheet")}))
    line = one_error_line(_human(dataset, tmp_path, f))
    assert str(f) in line and "how its sheet's sample was drawn" in line
    # an answer to a question of the set that was not on the sheet
    other = next(q for q in truth if q not in _shown(sheet))
    f.write_text(json.dumps(dict(kept, answers=kept["answers"] + [{"qid": other, "choice": truth[other]}])))
    line = one_error_line(_human(dataset, tmp_path, f))
    assert str(f) in line and "not on the sheet" in line and other in line


def test_an_answers_file_without_the_sheets_identity_is_refused(dataset, tmp_path):
    sheet = _sheet(dataset, tmp_path)
    for drop, expect in (("questions_sha256", "questions_sha256"), ("sample", "sheet's questions")):
        data = _answers(sheet, {})
        del data[drop]
        if drop == "sample":
            del data["sheet"]
        f = tmp_path / f"no-{drop}.json"
        f.write_text(json.dumps(data))
        line = one_error_line(_human(dataset, tmp_path, f))
        assert str(f) in line and expect in line


def test_the_same_answers_twice_are_refused_naming_both_files(dataset, tmp_path):
    sheet = _sheet(dataset, tmp_path)
    a = tmp_path / "ann.json"
    a.write_text(json.dumps(_answers(sheet, {q: "A" for q in _shown(sheet)})))
    copy = tmp_path / "copy" / "ann.json"
    copy.parent.mkdir()
    copy.write_text(json.dumps(_answers(sheet, {q: "A" for q in _shown(sheet)}), indent=2))   # other bytes
    for files in ((a, a), (a, copy)):
        line = one_error_line(_human(dataset, tmp_path, *files))
        assert str(files[0]) in line and str(files[1]) in line and "given twice" in line
    bob = tmp_path / "bob.json"
    bob.write_text(json.dumps(_answers(sheet, {q: "A" for q in _shown(sheet)}, rater="bob")))
    assert _human(dataset, tmp_path, a, bob).returncode == 0          # two raters who agree: both count


@pytest.mark.parametrize("qid", [["a", "b"], {"x": 1}, None, 3])
def test_an_unhashable_or_missing_qid_is_one_line(dataset, tmp_path, qid):
    sheet = _sheet(dataset, tmp_path)
    data = _answers(sheet, {})
    data["answers"][1]["qid"] = qid
    f = tmp_path / "bad.json"
    f.write_text(json.dumps(data))
    line = one_error_line(_human(dataset, tmp_path, f))
    assert f"{f}: answers[1]" in line and "qid" in line


# ---- item 10: errata patterns are checked when read and matched in linear time ------------------------

def _scored_run(dataset, tmp_path, option_text: str) -> Path:
    """A run whose questions' right option reads ``option_text`` (the text errata patterns match)."""
    data = json.loads(dataset.read_text())
    for v in data.values():
        for q in v["conversation"]:
            q["Options"][q["Answer"]] = option_text
    (tmp_path / "set").mkdir(exist_ok=True)
    for item in dataset.parent.iterdir():
        if item.is_dir() and not (tmp_path / "set" / item.name).exists():
            shutil.copytree(item, tmp_path / "set" / item.name)
    qfile = tmp_path / "set" / "mmad.json"
    qfile.write_text(json.dumps(data))
    runs = tmp_path / "runs"
    assert cli("run", "--questions", qfile, "--model", "random", "--out", runs, "--quiet").returncode == 0
    return runs


def _errata(tmp_path, pattern, name="errata.json") -> Path:
    f = tmp_path / name
    f.write_text(json.dumps({"format": "mmad-eval-errata/1", "errata": [
        {"id": "ok", "check": "reported", "status": "reported", "source": "https://example.org/1",
         "target": {"image_glob": "*", "answer_pattern": "no such text"}, "fix": {"action": "exclude"}},
        {"id": "hostile", "check": "reported", "status": "reported", "source": "https://example.org/2",
         "target": {"image_glob": "*", "answer_pattern": pattern}, "fix": {"action": "exclude"}}]}))
    return f


@pytest.mark.parametrize("pattern, words", [("(unclosed", "not a regular expression"),
                                            ("(a)\\1", "backreferences"), (["a"], "must be text")])
def test_an_invalid_errata_pattern_names_file_and_entry(dataset, tmp_path, pattern, words):
    runs = _scored_run(dataset, tmp_path, "Yes.")
    f = _errata(tmp_path, pattern)
    proc = cli("score", runs, "--errata", f)
    _no_bug(proc)
    line = one_error_line(proc)
    assert f"{f}: errata[1] (hostile)" in line and "answer_pattern" in line and words in line


def test_a_catastrophic_errata_pattern_does_not_hang_score(dataset, tmp_path):
    runs = _scored_run(dataset, tmp_path, "a" * 40 + "!")
    for pattern, excluded in (("(a+)+$", False), ("(a|a)*!", True)):
        proc = cli("score", runs, "--errata", _errata(tmp_path, pattern), "--json", tmp_path / "s.json",
                   timeout=120)
        assert proc.returncode == 0, proc.stderr
        _no_bug(proc)
        text = (tmp_path / "s.json").read_text()
        assert ('"hostile"' in text) is excluded, text[:2000]


# ---- item 13: huge images and odd anomaly maps ----------------------------------------------------------

def _huge_png(path: Path, side: int = 30000) -> Path:
    """A complete, valid 1-bit PNG of side x side pixels (900 million for 30000), about 110 KB on disk."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    z = zlib.compressobj(9)
    rows = b"\0" * (1 + (side + 7) // 8) * 1000
    idat = b"".join(z.compress(rows) for _ in range(side // 1000)) + z.flush()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0))
                     + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


@pytest.fixture(scope="module")
def huge_png(tmp_path_factory) -> Path:
    return _huge_png(tmp_path_factory.mktemp("huge") / "huge.png")


def _copy_set(dataset, tmp_path) -> Path:
    shutil.copytree(dataset.parent, tmp_path / "set")
    return tmp_path / "set" / "mmad.json"


def test_a_huge_image_in_a_rating_sheet_is_one_line(dataset, tmp_path, huge_png):
    qfile = _copy_set(dataset, tmp_path)
    key = next(iter(json.loads(qfile.read_text())))
    shutil.copy(huge_png, qfile.parent / key)
    proc = cli("audit", qfile, "--sheet", 16, "--out", tmp_path / "sheet.html")
    _no_bug(proc)
    line = one_error_line(proc)
    assert str(qfile.parent / key) in line and "pixel" in line
    assert not (tmp_path / "sheet.html").exists()
    proc = cli("audit", qfile, "--labels", "--out", tmp_path / "errata.json")         # the label audit too
    _no_bug(proc)
    assert proc.returncode == 0 and "1 unreadable image" in proc.stdout, proc.stdout + proc.stderr


def _maps_folder(qfile: Path, tmp_path: Path, huge_png: Path) -> tuple[Path, dict[str, str]]:
    """A maps folder whose first five maps are bad: a 30000 x 30000 PNG, then .npy files of a structured,
    string and complex dtype and of shape 1 x 50; the rest are good. Returns it and {key: expected words}."""
    import numpy as np

    keys = list(json.loads(qfile.read_text()))
    maps = tmp_path / "maps"
    (maps / "maps").mkdir(parents=True)
    (maps / "scores.csv").write_text("image,score\n" + "".join(f"{k},0.7\n" for k in keys))
    bad = [np.zeros(4, dtype=[("a", "f4")]), np.array([["x", "y"], ["z", "w"]]), np.ones((4, 4), complex),
           np.ones((1, 50), np.float32)]
    words = ["pixel", "real numbers", "real numbers", "real numbers", "got shape (1, 50)"]
    expect = {}
    for i, key in enumerate(keys):
        stem = maps / "maps" / Path(key).with_suffix("")
        stem.parent.mkdir(parents=True, exist_ok=True)
        if i == 0:
            shutil.copy(huge_png, stem.with_suffix(".png"))
            expect[key] = (stem.with_suffix(".png"), words[0])
        elif i <= len(bad):
            np.save(stem.with_suffix(".npy"), bad[i - 1])
            expect[key] = (stem.with_suffix(".npy"), words[i])
        else:
            np.save(stem.with_suffix(".npy"), np.ones((8, 8), np.float32))
    return maps, expect


@pytest.mark.parametrize("how", ["detector", "expert"])
def test_bad_anomaly_maps_fail_their_questions_naming_the_map(dataset, tmp_path, huge_png, how):
    import sqlite3

    qfile = _copy_set(dataset, tmp_path)
    maps, expect = _maps_folder(qfile, tmp_path, huge_png)
    model = ["--model", f"detector:{maps}"] if how == "detector" else ["--model", "random", "--expert", f"maps:{maps}"]
    proc = cli("run", "--questions", qfile, *model, "--out", tmp_path / "runs", "--quiet")
    _no_bug(proc)
    if how == "expert":       # the hint is drawn while the plan builds requests: those questions are not built
        assert proc.returncode == 0 and "13 questions could not be built" in proc.stdout, proc.stdout + proc.stderr
        assert any(f"{path}: " in proc.stdout and words in proc.stdout for path, words in expect.values()), \
            proc.stdout
        return
    assert proc.returncode == 1 and "failed 8" in proc.stdout, proc.stdout + proc.stderr       # the run went on
    with sqlite3.connect(tmp_path / "runs" / "mmad-eval.sqlite") as db:
        errors = [e for (e,) in db.execute("SELECT error_message FROM requests WHERE status = 'error'")]
    for path, words in expect.values():
        assert any(str(path.relative_to(tmp_path)) in e and words in e for e in errors), (path, errors)


# ---- item 12: only what decodes is sent, and nothing the model should not see -------------------------

def _chunk(kind: bytes, data: bytes) -> bytes:
    import struct
    import zlib

    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _broken_zlib_png(path: Path, cut: int = 2) -> None:
    """An 8-bit RGB PNG whose chunks are all whole with correct CRCs, but whose image data stream is cut in
    the middle and continued with bytes that are not deflate data."""
    import struct
    import zlib

    from PIL import Image

    w, h = Image.open(path).size
    raw = b"".join(b"\0" + bytes(range(3 * w)) for _ in range(h))
    stream = zlib.compress(raw, 9)
    stream = stream[: len(stream) // cut] + b"\xff" * 40
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                     + _chunk(b"IDAT", stream) + _chunk(b"IEND", b""))
    with pytest.raises(Exception):                 # what Pillow makes of it: it does not decode
        Image.open(path).load()


def _sent_images(srv) -> list[bytes]:
    import base64

    from mmad_eval.testing.openai_server import image_urls

    return [base64.b64decode(u.split(",", 1)[1]) for body in srv.requests for u in image_urls(body)]


def test_a_png_with_a_broken_zlib_stream_is_never_sent(dataset, tmp_path):
    from fault_helpers import run_args

    from mmad_eval.run.load import load_run
    from mmad_eval.testing.openai_server import FakeOpenAIServer

    qfile = _copy_set(dataset, tmp_path)
    keys = list(json.loads(qfile.read_text()))
    broken = [keys[0], keys[4]]
    for cut, key in enumerate(broken, 2):
        _broken_zlib_png(qfile.parent / key, cut)
    bad_bytes = {(qfile.parent / k).read_bytes() for k in broken}
    out = tmp_path / "out"
    with FakeOpenAIServer() as srv:
        proc = cli(*run_args(qfile, out, srv.base_url))
        sent = _sent_images(srv)
    _no_bug(proc)
    assert sent and not bad_bytes & set(sent)
    answers = load_run(out).answers
    for key in broken:
        errs = [a.error for a in answers if a.image == key]
        assert errs and all(e and key in e and "corrupt or unreadable image: " in e for e in errs), errs
    assert all(a.reply for a in answers if a.image not in broken)          # the others were answered


def _with_secrets(path: Path, kind: str) -> None:
    """The image with text the model should not read: PNG text chunk and trailing bytes, or a JPEG with a
    comment, EXIF text and trailing bytes."""
    import io

    from PIL import Image

    im = Image.open(path).convert("RGB")
    buf = io.BytesIO()
    if kind == "png":
        from PIL.PngImagePlugin import PngInfo

        info = PngInfo()
        info.add_text("Comment", "SECRET-PNG-TEXT the answer is A")
        im.save(buf, "PNG", pnginfo=info)
    else:
        exif = Image.Exif()
        exif[0x010E] = "SECRET-EXIF-TEXT the answer is B"         # ImageDescription
        im.save(buf, "JPEG", quality=95, exif=exif.tobytes(), comment=b"SECRET-JPEG-COMMENT")
    path.write_bytes(buf.getvalue() + b"SECRET-TRAILING-BYTES")


@pytest.mark.parametrize("image_format", ["source", "png"])
def test_metadata_and_trailing_bytes_are_not_sent(dataset, tmp_path, image_format):
    from fault_helpers import run_args

    from PIL import Image

    from mmad_eval.testing.openai_server import FakeOpenAIServer

    qfile = _copy_set(dataset, tmp_path)
    keys = list(json.loads(qfile.read_text()))
    _with_secrets(qfile.parent / keys[0], "png")
    _with_secrets(qfile.parent / keys[3], "jpeg")
    pixels = {k: Image.open(qfile.parent / k).convert("RGB").tobytes() for k in (keys[0], keys[3])}
    with FakeOpenAIServer() as srv:
        proc = cli(*run_args(qfile, tmp_path / "out", srv.base_url, "--image-format", image_format))
        sent = _sent_images(srv)
    _no_bug(proc)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sent and not [s for s in sent if b"SECRET" in s]
    import io

    decoded = {Image.open(io.BytesIO(s)).convert("RGB").tobytes() for s in sent}
    assert set(pixels.values()) <= decoded            # the same pixels were sent, only the extras left out
