"""The README's first command, end to end on a small synthetic set: data, questions, runs, scores, report."""
import json
import re

import pytest

from mmad_eval.cli import main
from mmad_eval.parse.stage import load_parsed_runs

pytestmark = pytest.mark.timeout(900)   # the whole demo twice: minutes on a loaded 2-core machine


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("demo")
    args = ["demo", "--out", str(tmp / "runs"), "--report", str(tmp / "demo.html"),
            "--cache-dir", str(tmp / "cache"), "--categories", "pcb,wood", "--quiet"]
    return tmp, args


def test_demo_runs_baselines_and_ablation_and_writes_a_report(demo, capsys):
    tmp, args = demo
    assert main(args) == 0
    out = capsys.readouterr().out
    runs = {r.name: r for r in load_parsed_runs(tmp / "runs")}
    assert set(runs) == {"random", "expert", "random@likelihood",
                         *(f"compare@{a}" for a in ("none", "+references", "+knowledge", "+expert", "all"))}
    # the printed table has one row per run with 7 subtask columns, Average, strict and AD's AUROC
    rows = [line for line in out.splitlines() if line.split() and line.split()[0] in runs]
    assert len(rows) == len(runs) and all(len(r.split()) == 11 for r in rows)
    assert float(next(r for r in rows if r.startswith("expert ")).split()[-1]) > 70
    assert f"report: {tmp / 'demo.html'}" in out
    # every question of the generated set was answered by every run, none failed
    n = sum(len(e["conversation"]) for e in json.loads(next((tmp / "cache").glob("*/questions.json")).read_text())
            .values())
    assert all(len(r.answers) == n and not any(a.error for a in r.answers) for r in runs.values())
    # the expert answers anomaly detection from the image: clearly better than chance on this set
    expert_ad = [a for a in runs["expert"].answers if a.type == "Anomaly Detection"]
    assert sum(a.correct for a in expert_ad) / len(expert_ad) > 0.7
    # ablation arms carry their settings; the hint arm really showed a hint image
    hint_roles = {p.get("role") for c in runs["compare@+expert"].prompts.values() for m in c for p in m["parts"]}
    assert "hint" in hint_roles
    # the arms differ, each where its help applies: references and the hint on AD and DL, knowledge elsewhere
    def acc(run, subtask):      # balanced over normal and defective images, as AD is scored
        by_class = [[a.correct for a in runs[run].answers if a.type == subtask and ("good" in a.image) == normal]
                    for normal in (True, False)]
        return sum(sum(c) / len(c) for c in by_class if c) / sum(1 for c in by_class if c)

    for arm in ("+references", "+expert"):
        assert acc(f"compare@{arm}", "Anomaly Detection") > acc("compare@none", "Anomaly Detection") + 0.1
        assert acc(f"compare@{arm}", "Defect Localization") > acc("compare@none", "Defect Localization") + 0.1
    assert acc("compare@+knowledge", "Object Classification") > acc("compare@none", "Object Classification") + 0.2
    assert acc("compare@+knowledge", "Anomaly Detection") == acc("compare@none", "Anomaly Detection")
    # one line per run says what it is
    for name in runs:
        assert re.search(rf"^  {re.escape(name)}: \S", out, re.M), name
    html = (tmp / "demo.html").read_text()
    assert 'id="ablations"' in html and "compare@+knowledge" in html
    assert str(tmp) not in html                       # no local absolute path leaks into the report
    # the expert's ROC (dashed: a detector) next to the models' on one chart, with its AUROC
    det = html[html.index('<section id="detector">'):html.index('<section id="calibration">')]
    # dashed: the scores of image comparisons (the expert, and compare when it compares with references)
    assert det.count("<path") == len(runs) and det.count('stroke-dasharray="5 3"') == 2
    assert "expert" in det and "letter probability" in det and "random@likelihood" in det
    assert "detector score" in det


def test_demo_rerun_reuses_data_and_answers(demo, capsys):
    tmp, args = demo
    questions = next((tmp / "cache").glob("*/questions.json"))
    before = questions.stat().st_mtime_ns, len(list((tmp / "cache").rglob("*.png")))
    assert main(args) == 0
    out = capsys.readouterr().out
    asked = [int(m) for m in re.findall(r"asked (\d+)", out)]
    assert len(asked) == 8 and all(a == 0 for a in asked)
    assert (questions.stat().st_mtime_ns, len(list((tmp / "cache").rglob("*.png")))) == before
