"""The rating sheet's free-text mode end to end: an open-answer run of a real (local) API model whose answers
hold markup, a grading sheet written from the CLI and filled in headless Chromium, the downloaded grades
compared with a judge's by `judge --human`, and bad grade files refused in one line."""
import hashlib
import html as _html
import json
import re
import subprocess
from pathlib import Path

import pytest

from mmad_eval.cli import main
from mmad_eval.run.judging import judged_path
from mmad_eval.run.load import load_run
from mmad_eval.testing.openai_server import FakeOpenAIServer

CHROMIUM = "/usr/bin/chromium"
MARKUP = 'It is <script>alert("x")</script> a <b>scratch</b> & "dent" </div><img src=x onerror=alert(1)>'
RUBRIC = {"name": "two", "scale": [1, 2], "dimensions": [{"name": "correct", "description": "right?"},
                                                         {"name": "clear", "description": "clear?"}]}


def judge_grade(question: str) -> int:
    """The scripted judge's grade of every dimension: fixed by the question text (1 or 2)."""
    return int(hashlib.sha256(question.encode()).hexdigest(), 16) % 2 + 1


def judge_responder(body):
    text = body["messages"][-1]["content"]
    question = text.split("Question: ")[1].split("\n")[0] if "Question: " in text else text
    return json.dumps(dict.fromkeys(["correct", "clear"], judge_grade(question.strip())))


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from mmad_eval.commands.demo import prepare_data

    tmp = tmp_path_factory.mktemp("opensheet")
    _, q = prepare_data(tmp / "cache", 0, "bottle", quiet=True)
    out = tmp / "runs"
    with FakeOpenAIServer(responder=lambda body: MARKUP) as srv:
        assert main(["run", "--questions", str(q), "--model", "openai:fake", "--out", str(out), "--base-url",
                     srv.base_url, "--answer-format", "open", "--subtasks", "DD", "DA", "OC", "--quiet"]) == 0
    rubric = tmp / "rubric.json"
    rubric.write_text(json.dumps(RUBRIC))
    return q, out, rubric


DRIVER = """<script>
window.addEventListener("load", function () {
  var grades = %s;
  document.getElementById("rater").value = %s;
  document.querySelectorAll(".q").forEach(function (card) {
    var g = grades[card.getAttribute("data-qid")] || {};
    card.querySelectorAll(".dim").forEach(function (row) {
      var v = g[row.getAttribute("data-dim")];
      if (v) row.querySelector('input[type=radio][value="' + v + '"]').click();
    });
  });
  URL.createObjectURL = function (blob) {
    blob.text().then(function (t) { document.body.setAttribute("data-download", t); });
    return "blob:captured";
  };
  document.getElementById("download").click();
});
</script>"""


def _fill(sheet: Path, tmp: Path, name: str, grades: dict) -> dict:
    page = tmp / f"driven-{name}.html"
    page.write_text(sheet.read_text(encoding="utf-8").replace("</body>", DRIVER % (json.dumps(grades),
                                                                                     json.dumps(name)) + "</body>"),
                    encoding="utf-8")
    assert Path(CHROMIUM).exists(), "chromium is not installed (apt-get install chromium)"
    out = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                          "--disable-background-networking", f"--user-data-dir={tmp / ('profile-' + name)}",
                          "--virtual-time-budget=5000", "--dump-dom", page.resolve().as_uri()],
                         capture_output=True, text=True, timeout=90)
    m = re.search(r'data-download="([^"]*)"', out.stdout)
    assert m, out.stdout[-1500:] + out.stderr[-1500:]
    return json.loads(_html.unescape(m.group(1)))


def _binary_kappa(a: list[int], b: list[int]) -> float:
    """Cohen's kappa on two categories by hand (quadratic weights on a 1..2 scale are plain disagreement)."""
    n = len(a)
    observed = sum(x != y for x, y in zip(a, b)) / n
    expected = (a.count(1) * b.count(2) + a.count(2) * b.count(1)) / n ** 2
    return 1 - observed / expected


def _judge(out, rubric, *human, capsys=None):
    with FakeOpenAIServer(responder=judge_responder) as srv:
        code = main(["judge", str(out), "--judge", "openai:judge", "--base-url", srv.base_url, "--rubric",
                     str(rubric), "--quiet", "--bootstrap", "0", *(["--human", *map(str, human)] if human else [])])
    return code


def test_sheet_filled_in_chromium_then_judge_agreement(setup, tmp_path, capsys):
    q, out, rubric = setup
    sheet = tmp_path / "sheet.html"
    assert main(["audit", str(q), "--sheet", "8", "--out", str(sheet), "--rate-run", str(out), "--rubric",
                 str(rubric), "--seed", "2"]) == 0
    text = sheet.read_text(encoding="utf-8")
    assert text.count('class="q"') == 8 and text.count("data:image/jpeg;base64,") == 8
    assert "<script>alert" not in text and "<img src=x" not in text and "<b>scratch" not in text
    assert _html.escape(MARKUP) in text                        # the model's text is shown, escaped
    records = {a.qid: a for a in load_run(out).answers}
    shown = re.findall(r'data-qid="([^"]+)"', text)
    assert all(records[qid].options[records[qid].answer] in _html.unescape(text) for qid in shown)
    judge = {qid: judge_grade(records[qid].question) for qid in shown}
    assert set(judge.values()) == {1, 2}, judge                # the judge grades vary on this draw
    # ann grades as the judge; bob swaps the first two answers the judge graded 2 down to 1 and grades no clarity
    ann = {qid: {"correct": g, "clear": g} for qid, g in judge.items()}
    twos = [qid for qid in shown if judge[qid] == 2][:2]
    bob = {qid: {"correct": 1 if qid in twos else g} for qid, g in judge.items()}
    a1, a2 = _fill(sheet, tmp_path, "ann", ann), _fill(sheet, tmp_path, "bob", bob)
    assert a1["rater"] == "ann" and a1["run"] == load_run(out).name
    assert a1["grades"] == ann and a2["grades"] == {qid: {"correct": g["correct"], "clear": None}
                                                    for qid, g in bob.items()}
    assert a1["sample"] == shown and a1["seed"] == 2 and a1["rubric"]["scale"] == [1, 2]
    f1, f2 = tmp_path / "ann.json", tmp_path / "bob.json"
    f1.write_text(json.dumps(a1))
    f2.write_text(json.dumps(a2))
    capsys.readouterr()
    assert _judge(out, rubric, f1, f2) == 0
    result = json.loads(judged_path(out, load_run(out).name).read_text())
    by = result["agreement_by_rater"]
    assert by["ann"]["correct"] == {"n": 8, "kappa": pytest.approx(1.0), "exact": 100.0, "within_one": 100.0}
    j = [judge[qid] for qid in shown]
    b = [bob[qid]["correct"] for qid in shown]
    assert by["bob"]["correct"]["kappa"] == pytest.approx(_binary_kappa(j, b))
    assert by["bob"]["correct"]["exact"] == pytest.approx(100 * 6 / 8) and by["bob"]["clear"]["n"] == 0
    pooled = result["agreement"]["correct"]
    assert pooled["n"] == 16 and pooled["kappa"] == pytest.approx(_binary_kappa(j + j, j + b))
    assert result["agreement"]["clear"]["n"] == 8
    stdout = capsys.readouterr().out
    assert "judge vs people, correct: n 16" in stdout and "judge vs bob, correct: n 8" in stdout


def test_bad_grade_files_are_refused_in_one_line(setup, tmp_path, capsys):
    q, out, rubric = setup
    sheet = tmp_path / "sheet.html"
    assert main(["audit", str(q), "--sheet", "5", "--out", str(sheet), "--rate-run", str(out), "--rubric",
                 str(rubric), "--seed", "7"]) == 0
    meta = json.loads(re.search(r"var SHEET = (\{.*?\});\s*function", sheet.read_text(encoding="utf-8")).group(1)
                      .replace("<\\/", "</"))
    good = {**meta, "rater": "cy", "grades": {qid: {"correct": 2, "clear": 1} for qid in meta["sample"]}}
    first = meta["sample"][0]
    cases = {
        "run": ({**good, "run": "someone-else"}, "another run"),
        "rubric": ({**good, "rubric": {**meta["rubric"], "sha256": "0" * 64}}, "another rubric"),
        "scale": ({**good, "grades": {**good["grades"], first: {"correct": 3}}}, "not a whole number in 1..2"),
        "dimension": ({**good, "grades": {first: {"style": 2}}}, "over the rubric's dimensions"),
        "qid": ({**good, "grades": {"nowhere.png#0": {"correct": 2}}}, "not on the sheet"),
        "sample": ({**good, "sample": meta["sample"][::-1]}, "not its own draw"),
        "answers": ({**good, "answers_sha256": "1" * 64}, "not run"),
        "format": ({"blind": {}}, None),
    }
    f_good = tmp_path / "good.json"
    f_good.write_text(json.dumps(good))
    for name, (data, words) in cases.items():
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(data))
        capsys.readouterr()
        files = [f_good, path] if name == "format" else [path]
        assert _judge(out, rubric, *files) == 2, name
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and str(path) in err and "Traceback" not in err, (name, err)
        assert words is None or words in err, (name, err)
    copy = tmp_path / "copy.json"
    copy.write_text(json.dumps({**good, "rater": "cy"}, indent=2))    # same grades, same rater, another file
    capsys.readouterr()
    assert _judge(out, rubric, f_good, copy) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "same grades given twice" in err and str(copy) in err
    # the sheet must be of an open run on this question file, and needs --sheet/--out
    assert main(["audit", str(q), "--rate-run", str(out), "--rubric", str(rubric)]) == 2
    assert "--rate-run needs --sheet" in capsys.readouterr().err
