"""`mmad-eval audit --labels` end to end: errata file, review page in headless chromium (mark flags, download
the decisions), decisions imported and kept by the next audit, corrected question file, clear errors.
The browser part FAILS (never skips) when /usr/bin/chromium is missing."""
import json
import subprocess
import sys
import time

import pytest

from cdp_pipe import Browser
from label_fixtures import EXPECTED, build


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "mmad_eval", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    qfile = build(root)
    data = json.loads(qfile.read_text())
    conv = data["DS/nut/test/scratch/000.png"]["conversation"][1]
    conv["Question"] = "There is a scratch <b id='injected'>x</b> on the nut. What is the type of the defect?"
    qfile.write_text(json.dumps(data))
    r = cli("audit", qfile, "--labels")
    assert r.returncode == 0, r.stderr
    return root, qfile, r.stdout


def test_audit_writes_errata_and_page(audited):
    root, qfile, out = audited
    errata = json.loads((root / "mmad.errata.json").read_text())
    assert errata["format"] == "mmad-eval-errata/1"
    assert {(e["check"], e["target"]["images"][0]) for e in errata["errata"]} == EXPECTED
    assert errata["questions"]["sha256"] and errata["summary"]["images"] == 13
    assert errata["unchecked"][0]["qid"] == "DS/nut/test/bent/000.png#1"
    assert (root / "mmad.errata.html").is_file()
    assert "8 image(s) flagged" in out and "image_category" in out and "review page" in out


def test_mark_flags_in_the_page_download_import_and_keep_them(audited, tmp_path):
    root, qfile, _ = audited
    page = root / "mmad.errata.html"
    downloads = tmp_path / "dl"
    browser = Browser(tmp_path / "profile")
    try:
        browser.send("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)},
                     session=False)
        browser.open(page.as_uri())
        browser.wait_for("document.body && document.body.getAttribute('data-page') === 'ready'")
        assert browser.eval("document.querySelectorAll('section.flag').length") == len(EXPECTED)
        # hostile question text stays text
        assert browser.eval("document.getElementById('injected') === null")
        assert browser.eval("document.body.textContent.indexOf(\"<b id='injected'>x</b>\") >= 0")
        # thumbnails and the mask overlay are inline images
        assert browser.eval("document.querySelectorAll('section.flag img').length") >= len(EXPECTED)
        browser.eval("""(function () {
            function card(id) { return document.querySelector('section.flag[data-id="' + id + '"]'); }
            var a = card('image_category:DS/pill/test/good/000.png');
            a.querySelector('textarea').value = 'a nut, plainly';
            a.querySelector('.mark-confirmed').click();
            card('giveaway:DS/nut/test/scratch/000.png#1').querySelector('.mark-rejected').click();
            return true; })()""")
        assert "1 confirmed, 1 rejected" in browser.eval("document.getElementById('counts').textContent")
        browser.eval("document.getElementById('download').click(); true")
        deadline = time.monotonic() + 15
        while not (downloads / "decisions.json").is_file() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        browser.close()
    decisions = downloads / "decisions.json"
    assert decisions.is_file(), "the page's download never arrived"
    r = cli("audit", qfile, "--labels", "--decisions", decisions)
    assert r.returncode == 0, r.stderr
    assert "1 confirmed and 1 rejected" in r.stdout
    statuses = {e["id"]: e for e in json.loads((root / "mmad.errata.json").read_text())["errata"]}
    assert statuses["image_category:DS/pill/test/good/000.png"]["status"] == "confirmed"
    assert statuses["image_category:DS/pill/test/good/000.png"]["decision"]["note"] == "a nut, plainly"
    assert statuses["giveaway:DS/nut/test/scratch/000.png#1"]["status"] == "rejected"
    # the next audit keeps them
    r = cli("audit", qfile, "--labels")
    assert r.returncode == 0 and "2 reviewed decision(s) kept" in r.stdout
    again = {e["id"]: e["status"] for e in json.loads((root / "mmad.errata.json").read_text())["errata"]}
    assert again["image_category:DS/pill/test/good/000.png"] == "confirmed"
    assert again["giveaway:DS/nut/test/scratch/000.png#1"] == "rejected"
    assert list(again.values()).count("suspect") == len(EXPECTED) - 2
    # confirmed entries apply: a corrected question file without the nut-as-pill image's questions
    out = tmp_path / "fixed.json"
    r = cli("audit", qfile, "--errata", root / "mmad.errata.json", "--write-corrected", out)
    assert r.returncode == 0, r.stderr
    assert "DS/pill/test/good/000.png" not in json.loads(out.read_text())
    assert "1 question(s) excluded" in r.stdout


def test_bad_inputs_give_one_clear_error(audited, tmp_path):
    root, qfile, _ = audited
    r = cli("audit", qfile, "--labels", "--data-root", tmp_path / "nowhere", "--out", tmp_path / "e.json")
    assert r.returncode == 2 and "data root is not a folder" in r.stderr and "Traceback" not in r.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    r = cli("audit", qfile, "--labels", "--data-root", empty, "--out", tmp_path / "e.json")
    assert r.returncode == 2 and "none of the first 13 query images" in r.stderr and str(empty) in r.stderr
    r = cli("audit", qfile, "--labels", "--checks", "image_category,colour")
    assert r.returncode == 2 and "colour" in r.stderr
    bad = tmp_path / "d.json"
    bad.write_text("{not json")
    r = cli("audit", qfile, "--labels", "--decisions", bad)
    assert r.returncode == 2 and "malformed JSON" in r.stderr and "Traceback" not in r.stderr
    r = cli("audit", qfile, "--errata", tmp_path / "missing.json", "--write-corrected", tmp_path / "x.json")
    assert r.returncode == 2 and "errata file not found" in r.stderr
