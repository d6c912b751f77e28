"""The rating sheet end to end in headless Chromium: write it from the CLI, choose answers by script, press
"Download answers", score the downloaded files from the CLI. Fails (does not skip) without chromium."""
import html as _html
import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from mmad_eval.questions.human_scores import cohen_kappa, fleiss_kappa, wilson
from mmad_eval.questions.jsonl_io import load_questions
from mmad_eval.questions.rating_sheet import draw

CHROMIUM = "/usr/bin/chromium"


def _cli(*args, cwd=None):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    return subprocess.run([sys.executable, "-m", "mmad_eval", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=300)


@pytest.fixture(scope="module")
def qfile(tmp_path_factory):
    from mmad_eval.questions.generate import GenerateSettings, generate_questions
    from mmad_eval.questions.mmad_io import write_mmad_json
    from mmad_eval.sources.detect import load_source
    from mmad_eval.sources.synth.generate import generate_synthetic

    root = tmp_path_factory.mktemp("sheet")
    generate_synthetic(root, seed=0, categories=["bottle", "wood"], n_train=3, n_test_good=2, n_per_defect=2, size=64)
    res = generate_questions(load_source(root / "Synth-AD"), root / "knowledge.json", GenerateSettings(similar="none"))
    write_mmad_json(res.questions, root / "questions.json", with_provenance=True)
    return root / "questions.json"


def test_draw_is_stratified_and_seeded(qfile):
    qs = load_questions(qfile)
    a, b, c = draw(qs, 14, 0), draw(qs, 14, 0), draw(qs, 14, 1)
    assert [q.qid for q in a] == [q.qid for q in b] and [q.qid for q in a] != [q.qid for q in c]
    assert len(a) == 14
    sizes = Counter(q.subtask for q in qs.questions())
    got = Counter(q.subtask for q in a)
    assert set(got) == set(sizes)                       # every subtask is represented
    for st, n in sizes.items():                          # proportional, within one question
        assert abs(got[st] - 14 * n / len(qs)) < 1.0 + 1e-9, (st, got[st], n)
    equal = Counter(q.subtask for q in draw(qs, 14, 0, "equal"))
    assert all(equal[st] == min(2, n) for st, n in sizes.items()), (equal, sizes)   # 7 subtasks x 2


DRIVER = """<script>
window.addEventListener("load", function () {
  var picks = %s, flagFirst = %s;
  document.getElementById("rater").value = %s;
  document.querySelectorAll(".q").forEach(function (card, i) {
    var qid = card.getAttribute("data-qid");
    if (picks[qid]) card.querySelector('input[type=radio][value="' + picks[qid] + '"]').click();
    if (flagFirst && i === 0) card.querySelector("input.flag-box").click();
  });
  URL.createObjectURL = function (blob) {
    blob.text().then(function (t) { document.body.setAttribute("data-download", t); });
    return "blob:captured";
  };
  document.getElementById("download").click();
});
</script>"""


def _rate(sheet: Path, tmp: Path, name: str, picks: dict, flag_first: bool) -> dict:
    page = tmp / f"driven-{name}.html"
    driver = DRIVER % (json.dumps(picks), "true" if flag_first else "false", json.dumps(name))
    page.write_text(sheet.read_text(encoding="utf-8").replace("</body>", driver + "</body>"), encoding="utf-8")
    assert Path(CHROMIUM).exists(), "chromium is not installed (apt-get install chromium)"
    out = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                          "--disable-background-networking", f"--user-data-dir={tmp / ('profile-' + name)}",
                          "--virtual-time-budget=5000", "--dump-dom", page.resolve().as_uri()],
                         capture_output=True, text=True, timeout=90)
    m = re.search(r'data-download="([^"]*)"', out.stdout)
    assert m, out.stdout[-1500:] + out.stderr[-1500:]
    return json.loads(_html.unescape(m.group(1)))


def test_sheet_in_chromium_then_score(qfile, tmp_path):
    sheet = tmp_path / "sheet.html"
    r = _cli("audit", str(qfile), "--sheet", "12", "--out", str(sheet), "--seed", "3")
    assert r.returncode == 0, r.stderr
    text = sheet.read_text(encoding="utf-8")
    assert "http" not in re.sub(r'data:image/jpeg;base64,[A-Za-z0-9+/=]+', "", text).replace("http-equiv", "")
    assert text.count('class="q"') == 12 and text.count("data:image/jpeg;base64,") >= 12
    qs = load_questions(qfile)
    shown = [m for m in re.findall(r'data-qid="([^"]+)"', text)]
    truth = {q.qid: q for q in qs.questions()}
    assert '"Answer"' not in text and "data-answer" not in text     # no answer key in the page
    # rater 1 answers everything right; rater 2 picks a wrong option on the first half and leaves one blank
    right = {qid: truth[qid].answer for qid in shown}
    wrong = {}
    for i, qid in enumerate(shown):
        if i == len(shown) - 1:
            continue
        opts = [L for L in truth[qid].options if L != truth[qid].answer]
        wrong[qid] = opts[0] if i < len(shown) // 2 else truth[qid].answer
    a1, a2 = _rate(sheet, tmp_path, "ann", right, True), _rate(sheet, tmp_path, "bob", wrong, False)
    assert a1["rater"] == "ann" and [a["qid"] for a in a1["answers"]] == shown
    assert a1["answers"][0]["unanswerable"] is True and not any(a["unanswerable"] for a in a2["answers"])
    assert a2["answers"][-1]["choice"] is None
    f1, f2 = tmp_path / "ann.json", tmp_path / "bob.json"
    f1.write_text(json.dumps(a1))
    f2.write_text(json.dumps(a2))
    r = _cli("audit", str(qfile), "--human", str(f1), str(f2), "--json", str(tmp_path / "human.json"))
    assert r.returncode == 0, r.stderr
    rep = json.loads((tmp_path / "human.json").read_text())
    ann, bob = rep["raters"]
    assert ann["Average"] == 100.0 and all(c["accuracy"] == 100.0 for c in ann["subtasks"].values())
    n_right_bob = sum(1 for qid in shown if wrong.get(qid) == truth[qid].answer)
    assert sum(c["correct"] for c in bob["subtasks"].values()) == n_right_bob
    assert rep["human"]["subtasks"][truth[shown[0]].subtask]["n"] == 2 * sum(
        1 for q in shown if truth[q].subtask == truth[shown[0]].subtask)
    assert rep["agreement"]["questions"] == 12 and rep["agreement"]["fleiss_kappa"] < 1
    assert [u["qid"] for u in rep["unanswerable"]] == [shown[0]]
    assert "human (2)" in r.stdout and "Fleiss' kappa" in r.stdout
    # the human row beside a model in the HTML report
    runs = tmp_path / "runs"
    r = _cli("run", "--questions", str(qfile), "--model", "random", "--out", str(runs), "--data-root",
             str(qfile.parent), "--quiet")
    assert r.returncode == 0, r.stderr
    r = _cli("report", str(runs), "--out", str(tmp_path / "report.html"), "--human", str(tmp_path / "human.json"),
             "--no-images")
    assert r.returncode == 0, r.stderr
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "human (2 raters)" in page and f"{rep['human']['Average']:.2f}" in page
    r = _cli("report", str(runs), "--out", str(tmp_path / "r2.html"), "--human", str(f1))
    assert r.returncode == 2 and "not a human scores file" in r.stderr
    # a file from another question set is refused with one clear line
    bad = dict(a1, questions_sha256="0" * 64)
    f3 = tmp_path / "bad.json"
    f3.write_text(json.dumps(bad))
    r = _cli("audit", str(qfile), "--human", str(f3))
    assert r.returncode == 2 and "another question file" in r.stderr and "Traceback" not in r.stderr


def test_statistics():
    lo, hi = wilson(8, 10)
    assert lo == pytest.approx(0.4902, abs=1e-3) and hi == pytest.approx(0.9433, abs=1e-3)  # Wilson, 8/10
    assert cohen_kappa(list("AABB"), list("AABB")) == 1.0
    assert cohen_kappa(list("AABB"), list("ABAB")) == 0.0
    # Fleiss' worked example (Wikipedia, 10 items x 14 raters, 5 categories): kappa 0.210
    rows = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
            [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]
    table = [Counter({str(j): v for j, v in enumerate(r) if v}) for r in rows]
    assert fleiss_kappa(table, [str(j) for j in range(5)]) == pytest.approx(0.210, abs=0.001)
