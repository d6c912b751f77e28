"""`run`, `score` and `report` with --errata: the official score stays, the with-errata score is shown beside it
(computed here independently by editing the answer records by hand), the run record names the errata file."""
import dataclasses
import json
import subprocess
import sys

import pytest

from label_fixtures import build
from mmad_eval.cli import main
from mmad_eval.errata.model import Errata, save_errata
from mmad_eval.parse.stage import load_parsed_run as load_run
from mmad_eval.score.scorers import MMAD

PILL = "DS/pill/test/good/000.png"
AD_WRONG = "DS/bottle/test/broken/001.png"


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    root = tmp_path_factory.mktemp("errata-run")
    qfile = build(root / "data")
    errata = Errata(entries=[
        {"id": f"image_category:{PILL}", "check": "image_category", "status": "confirmed",
         "target": {"images": [PILL]}, "fix": {"action": "exclude"}, "message": "a nut filed as a pill"},
        {"id": f"label_mask:{AD_WRONG}#0", "check": "label_mask", "status": "confirmed",
         "target": {"images": [AD_WRONG], "question": 0}, "fix": {"action": "correct_answer", "answer_text": "Yes."},
         "message": "AD answer contradicts the mask"},
        {"id": "giveaway:DS/nut/test/scratch/000.png#1", "check": "giveaway", "status": "suspect",
         "target": {"images": ["DS/nut/test/scratch/000.png"], "question": 1}, "fix": {"action": "exclude"}}],
        meta={})
    efile = root / "errata.json"
    save_errata(errata, efile)
    out = root / "out"
    r = subprocess.run([sys.executable, "-m", "mmad_eval", "run", "--questions", str(qfile), "--model", "random",
                        "--out", str(out), "--name", "rnd", "--quiet", "--errata", str(efile)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return qfile, efile, out, r.stdout


def _expected(out):
    answers = load_run(out, "rnd").answers
    fixed = []
    for a in answers:
        if a.image == PILL:
            continue
        if a.image == AD_WRONG and a.index == 0:
            a = dataclasses.replace(a, answer="A")
        fixed.append(a)
    return MMAD.table(answers), MMAD.table(fixed)


def test_run_records_the_errata_file_and_prints_both_scores(stored):
    qfile, efile, out, stdout = stored
    record = load_run(out, "rnd").record
    assert record["errata"]["file"] == str(efile)
    import hashlib

    assert record["errata"]["sha256"] == hashlib.sha256(efile.read_bytes()).hexdigest()
    official, with_errata = _expected(out)
    assert "official vs with errata" in stdout
    avg = next(line for line in stdout.splitlines() if line.strip().startswith("Avg"))
    assert f"{official.overall['Average']:.2f}" in avg and f"{with_errata.overall['Average']:.2f}" in avg
    assert "1 suspect entries are not applied" in stdout


def test_score_shows_official_and_with_errata_columns(stored, tmp_path, capsys):
    _, efile, out, _ = stored
    js = tmp_path / "s.json"
    assert main(["score", str(out), "--bootstrap", "0", "--errata", str(efile), "--json", str(js)]) == 0
    text = capsys.readouterr().out
    assert "official" in text and "with errata" in text
    assert "errata changed 2 question(s): 1 excluded, 1 answer(s) corrected" in text
    data = json.loads(js.read_text())["rnd"]
    official, with_errata = _expected(out)
    assert data["mmad"]["overall"] == official.overall                     # the official score is untouched
    assert data["errata"]["official"] == {**official.overall}
    assert data["errata"]["with_errata"] == {**with_errata.overall}
    assert data["errata"]["changes"]["per_entry"] == {
        f"image_category:{PILL}": {"excluded": 1, "corrected": 0},
        f"label_mask:{AD_WRONG}#0": {"excluded": 0, "corrected": 1}}


def test_shipped_errata_change_nothing_here_and_say_so(stored, capsys):
    _, _, out, _ = stored
    assert main(["score", str(out), "--bootstrap", "0", "--errata", "mmad-reported"]) == 0
    text = capsys.readouterr().out
    assert "errata changed 0 question(s)" in text and "domain_knowledge.json" in text


def test_report_has_an_errata_section(stored, tmp_path):
    _, efile, out, _ = stored
    html = tmp_path / "r.html"
    assert main(["report", str(out), "--out", str(html), "--errata", str(efile), "--no-images"]) == 0
    page = html.read_text()
    assert 'id="errata"' in page and "with errata" in page and f"image_category:{PILL}" in page
    official, with_errata = _expected(out)
    assert f"{with_errata.overall['Average']:.2f}" in page and f"{official.overall['Average']:.2f}" in page


def test_bad_errata_file_stops_before_any_request(stored, tmp_path, capsys):
    qfile, *_ = stored
    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    assert main(["run", "--questions", str(qfile), "--model", "random", "--out", str(tmp_path / "o"),
                 "--quiet", "--errata", str(bad)]) == 2
    assert "not an errata file" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
