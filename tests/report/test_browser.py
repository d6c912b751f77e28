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


DRIVER = """<script>
(function () {
  function go() {
    var out = {};
    function n() { return +document.getElementById("qb-status").textContent.split(" of ")[0].replace(/[^0-9]/g, ""); }
    function set(id, v) { var e = document.getElementById(id); e.value = v;
      e.dispatchEvent(new Event(id === "f-text" ? "input" : "change")); }
    function reset() { ["f-model", "f-subtask", "f-category", "f-outcome"].forEach(function (i) { set(i, ""); });
      set("f-text", ""); }
    out.all = n();
    out.sub = []; for (var s = 0; s < 7; s++) { reset(); set("f-subtask", String(s)); out.sub.push(n()); }
    reset(); var cat = document.getElementById("f-category"); out.cat = [];
    for (var c = 1; c < cat.options.length; c++) { set("f-category", cat.options[c].value); out.cat.push([cat.options[c].text, n()]); }
    reset(); set("f-model", "0"); set("f-outcome", "right"); out.right0 = n(); set("f-outcome", "wrong"); out.wrong0 = n();
    reset(); set("f-outcome", "disagree"); out.disagree = n();
    reset(); set("f-text", "zzz-no-such-image"); out.none = n(); out.none_cards = document.querySelectorAll(".qcard").length;
    document.body.setAttribute("data-drive", JSON.stringify(out));
  }
  function whenReady() {   // the browser initialises on DOMContentLoaded, which may come after a 0 ms timer
    if (document.body.getAttribute("data-browser") === "ready") go(); else setTimeout(whenReady, 10);
  }
  setTimeout(whenReady, 0);
})();
</script>"""


def test_filters_narrow_the_question_list(report_html, tmp_path):
    import html as _html
    import json
    import re

    data, _, text = report_html
    page = tmp_path / "driven.html"
    page.write_text(text.replace("</body>", DRIVER + "</body>"), encoding="utf-8")
    dom = _run(page, tmp_path, "--dump-dom").stdout
    got = json.loads(_html.unescape(re.search(r'data-drive="([^"]*)"', dom).group(1)))
    qs = data.browser["questions"]
    assert got["all"] == len(qs)
    assert got["sub"] == [sum(1 for q in qs if q[3] == s) for s in range(7)]
    cats = data.browser["categories"]
    assert got["cat"] == sorted([c, sum(1 for q in qs if q[2] == i)] for i, c in enumerate(cats))
    asked0 = [q for q in qs if q[5][0]]
    assert got["right0"] == sum(1 for q in asked0 if q[5][0][0] == 1) and got["right0"] + got["wrong0"] == len(asked0)
    first = [{s[1][0][3] or "-" for s in q[5] if s} for q in qs]
    assert got["disagree"] == sum(1 for letters in first if len(letters) > 1) > 0
    assert got["none"] == 0 and got["none_cards"] == 0
