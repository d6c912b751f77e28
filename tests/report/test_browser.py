"""Open the report in headless Chromium: the page renders, the script runs without errors, text stays text."""
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from report_synth import chromium_cmd

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists() and not shutil.which("chromium"),
                                reason="chromium is not installed (CI installs it: apt-get install chromium)")


def _run(html: Path, tmp: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(chromium_cmd(html, str(tmp / "profile"), "--virtual-time-budget=5000", *extra),
                          capture_output=True, text=True, timeout=60)


def test_question_browser_renders_without_script_errors(report_html, tmp_path):
    _, path, _ = report_html
    dom = _run(path, tmp_path, "--dump-dom").stdout
    assert 'data-browser="ready"' in dom, dom[-2000:]
    assert 'data-js-error="' not in dom and 'class="js-error"' not in dom
    assert dom.count('class="qcard"') == 20           # first page
    assert "questions match" in dom
    # hostile replies were inserted as text: escaped in the serialised DOM, never live elements
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom
    assert '<img src="x"' not in dom and "<img src=x" not in dom


def test_screenshot_is_not_blank(report_html, tmp_path):
    _, path, _ = report_html
    png = tmp_path / "shot.png"
    _run(path, tmp_path, f"--screenshot={png}", "--window-size=1280,1600", "--hide-scrollbars")
    assert png.exists(), "chromium wrote no screenshot"
    im = Image.open(png).convert("L")
    lo, hi = im.getextrema()
    assert hi - lo > 100                               # not a uniform page
    assert sum(1 for n in im.histogram() if n) > 20


def test_script_errors_are_reported_in_the_dom(tmp_path):
    """The error hook itself works: a page whose script throws carries the marker the test above looks for."""
    from mmad_eval.report.html import _TEMPLATES

    head = (_TEMPLATES / "report.html.j2").read_text().split("<script>")[1].split("</script>")[0]
    page = tmp_path / "broken.html"
    page.write_text(f"<html><head><script>{head}</script></head><body><p>x</p>"
                    "<script>undefinedFunction();</script></body></html>")
    dom = _run(page, tmp_path, "--dump-dom").stdout
    assert 'data-js-error="' in dom and 'class="js-error"' in dom and "undefinedFunction" in dom
