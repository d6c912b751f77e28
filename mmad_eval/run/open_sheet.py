"""The rating sheet's free-text mode: N answered questions of an open-answer run (drawn like the letter sheet:
seeded, stratified by subtask), each shown with the query image, the question, the reference answer and the
model's answer (escaped), and one choice on the rubric's scale per rubric dimension. The page downloads the
rater's grades with the sheet's identity (run, question file, the shown answers' hash, rubric, draw), which
``load_open_ratings`` checks before ``mmad-eval judge --human`` compares them with the judge's grades.
"""
from __future__ import annotations

import hashlib
import html
import json
from collections import Counter
from pathlib import Path

from ..answers import AnswerRecord
from ..atomic_write import write_text
from ..errors import DataError, quote
from ..inputfile import parse_json, read_input
from ..paths import safe_join
from ..questions.grounding import GROUNDING
from ..questions.rating_sheet import download_bar, image_uri, sheet_head, stratified_draw
from .judging import Rubric
from .loaded import LoadedRun

FORMAT = "mmad-eval-open-ratings/1"


def rateable(run: LoadedRun) -> list[AnswerRecord]:
    """The run's answers a judge grades: rotation 0, answered, not Defect Grounding (boxes are scored)."""
    return [a for a in run.answers if a.rotation == 0 and a.error is None and a.reply and a.type != GROUNDING]


def answers_sha256(records: list[AnswerRecord]) -> str:
    """What the rater saw, as a hash: each drawn question's id, reference and the model's answer."""
    rows = [[a.qid, a.reference_text, a.reply] for a in sorted(records, key=lambda a: a.qid)]
    return hashlib.sha256(json.dumps(rows, ensure_ascii=False).encode("utf-8")).hexdigest()


def _identity(run: LoadedRun, drawn: list[AnswerRecord], rubric: Rubric, seed: int, strata: str) -> dict:
    return {"format": FORMAT, "run": run.name,
            "questions_sha256": ((run.record.get("questions") or {}).get("sha256") or ""),
            "answers_sha256": answers_sha256(drawn), "seed": seed, "strata": strata,
            "rubric": {"name": rubric.name, "sha256": rubric.sha256, "scale": list(rubric.scale),
                       "dimensions": [d for d, _ in rubric.dimensions]},
            "sample": [a.qid for a in drawn]}


_CSS = """body{font:15px/1.4 system-ui,sans-serif;margin:1.5em auto;max-width:1000px;padding:0 1em;color:#222}
.q{border:1px solid #ccc;border-radius:6px;padding:.8em 1em;margin:1em 0}figure{margin:0}
figure img{max-width:420px;height:auto;border:1px solid #999}.meta{color:#666;font-size:12px}
.text{white-space:pre-wrap;background:#f6f6f6;padding:.4em .6em;border-radius:4px}.dim{margin:.3em 0}
.dim label{display:inline;margin-right:.8em;cursor:pointer}.desc{color:#555;font-size:13px}
#bar{position:sticky;top:0;background:#fff;padding:.5em 0;border-bottom:1px solid #ddd}"""

_JS = """
function sheetAnswers() {
  var grades = {};
  document.querySelectorAll(".q").forEach(function (card) {
    var g = {};
    card.querySelectorAll(".dim").forEach(function (row) {
      var picked = row.querySelector("input[type=radio]:checked");
      g[row.getAttribute("data-dim")] = picked ? parseInt(picked.value, 10) : null;
    });
    grades[card.getAttribute("data-qid")] = g;
  });
  var out = JSON.parse(JSON.stringify(SHEET));
  out.rater = document.getElementById("rater").value.trim();
  out.grades = grades;
  return out;
}
function updateCount() {
  var g = sheetAnswers().grades, keys = Object.keys(g), done = keys.filter(function (q) {
    return Object.keys(g[q]).every(function (d) { return g[q][d] !== null; }); }).length;
  document.getElementById("count").textContent = done + " of " + keys.length + " graded";
}
"""


def _card(i: int, a: AnswerRecord, rubric: Rubric, image: str) -> str:
    e = html.escape
    lo, hi = rubric.scale
    dims = "".join(
        f'<div class="dim" data-dim="{e(name)}"><b>{e(name.replace("_", " "))}</b> '
        f'<span class="desc">{e(desc)}</span><br>'
        + "".join(f'<label><input type="radio" name="q{i}-{j}" value="{g}"> {g}</label>' for g in range(lo, hi + 1))
        + "</div>" for j, (name, desc) in enumerate(rubric.dimensions))
    return (f'<div class="q" data-qid="{e(a.qid)}"><div class="meta">{i}. {e(a.subtask)}</div>'
            f'<figure><img src="{image}" alt="Query image"></figure><p><b>{e(a.question)}</b></p>'
            f'<p>Reference answer:</p><div class="text">{e(a.reference_text)}</div>'
            f'<p>Model\'s answer:</p><div class="text">{e(a.reply or "")}</div>{dims}</div>')


def render_open_sheet(run: LoadedRun, drawn: list[AnswerRecord], rubric: Rubric, root: Path, *, seed: int,
                      strata: str, max_side: int | None) -> str:
    e = html.escape
    cards = [_card(i, a, rubric, image_uri(safe_join(root, a.image, what="image path"), max_side))
             for i, a in enumerate(drawn, 1)]
    lo, hi = rubric.scale
    return (sheet_head(f"Grading sheet: {run.name}", _CSS, _identity(run, drawn, rubric, seed, strata), _JS,
                       "grades") + '<body>'
            f'<h1>Grading sheet: open answers of {e(run.name)}</h1><p>Each card shows the query image, the '
            f'question, the reference answer and the model\'s answer. Grade the model\'s answer against the '
            f'reference on each dimension of the rubric {e(rubric.name)}, from {lo} (worst) to {hi} (best). '
            f'When done, press "Download grades" and send the file back.</p>'
            + download_bar("Download grades") +
            f'{"".join(cards)}</body></html>\n')


def write_open_sheet(run: LoadedRun, rubric: Rubric, root: Path, out: Path, n: int, *, seed: int = 0,
                     strata: str = "proportional", max_side: int | None = 512) -> dict:
    drawn = stratified_draw(rateable(run), n, seed, strata)
    if not drawn:
        raise DataError("the run has no answered open question to grade", culprit=run.name)
    write_text(out, render_open_sheet(run, drawn, rubric, Path(root), seed=seed, strata=strata, max_side=max_side))
    per = Counter(a.subtask for a in drawn)
    return {"questions": len(drawn), "per_subtask": ", ".join(f"{s}: {k}" for s, k in per.items())}


def load_open_ratings(path: Path, runs: dict[str, LoadedRun], rubric: Rubric) -> dict:
    """One rater's downloaded grades, checked against the sheet's identity: a run of this directory with the
    same answers, the same rubric, the sheet's own draw; grades whole numbers on the scale (null: not graded).
    Returns {"rater", "file", "run", "sha256", "grades": {qid: {dimension: grade}}}."""
    raw = read_input(path, "grades file")
    data = parse_json(raw, str(path))
    where = str(path)
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("grades"), dict):
        raise DataError(f"not a grading-sheet file (expected format {FORMAT})", culprit=where)
    run = runs.get(data.get("run"))
    if run is None:
        raise DataError(f"graded on a sheet of another run ({quote(data.get('run'))}; judged here: "
                        f"{', '.join(runs) or 'none'})", culprit=where)
    r = data.get("rubric") if isinstance(data.get("rubric"), dict) else {}
    if r.get("sha256") != rubric.sha256:
        raise DataError(f"graded on another rubric ({quote(r.get('name'))}, SHA-256 differs from the judge's "
                        f"{rubric.name})", culprit=where)
    drawn = _check_sample(data, run, where)
    grades = _grades(data["grades"], {a.qid for a in drawn}, rubric, where)
    rater = data.get("rater") if isinstance(data.get("rater"), str) and data["rater"].strip() else Path(path).stem
    return {"rater": rater, "file": where, "run": run.name, "grades": grades, "sha256": hashlib.sha256(raw).hexdigest()}


def _check_sample(data: dict, run: LoadedRun, where: str) -> list[AnswerRecord]:
    sample, seed, strata = data.get("sample"), data.get("seed"), data.get("strata")
    if not isinstance(sample, list) or not sample or not all(isinstance(q, str) for q in sample) \
            or not isinstance(seed, int) or isinstance(seed, bool) or strata not in ("proportional", "equal"):
        raise DataError("the file does not say which answers its sheet drew (sample, seed, strata): it was not "
                        "downloaded from a grading sheet", culprit=where)
    drawn = stratified_draw(rateable(run), len(sample), seed, strata)
    if [a.qid for a in drawn] != sample:
        raise DataError(f"the sheet's sample is not its own draw from run {run.name} ({len(sample)} answers, seed "
                        f"{seed}, {strata}): the file was edited or the run has other answers now", culprit=where)
    if data.get("answers_sha256") != answers_sha256(drawn):
        raise DataError(f"the answers graded on the sheet are not run {run.name}'s answers now (their hash "
                        "differs)", culprit=where)
    return drawn


def _grades(raw: dict, sample: set, rubric: Rubric, where: str) -> dict:
    lo, hi = rubric.scale
    dims = {d for d, _ in rubric.dimensions}
    out = {}
    for qid, g in raw.items():
        if qid not in sample:
            raise DataError(f"grades for an answer that is not on the sheet: {quote(qid)}", culprit=where)
        if not isinstance(g, dict) or set(g) - dims:
            raise DataError(f"{qid}: grades must be {{dimension: grade}} over the rubric's dimensions "
                            f"({', '.join(sorted(dims))}), got {quote(g)}", culprit=where)
        for dim, v in g.items():
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi):
                raise DataError(f"{qid}: {dim} grade {quote(v)} is not a whole number in {lo}..{hi}", culprit=where)
        out[qid] = {d: v for d, v in g.items() if v is not None}
    return out


def refuse_duplicates(raters: list[dict]) -> None:
    """The same grades given twice would count as two raters: one line naming both files."""
    for i, a in enumerate(raters):
        for b in raters[:i]:
            same_file = Path(a["file"]).resolve() == Path(b["file"]).resolve() or a["sha256"] == b["sha256"]
            if same_file or (a["rater"] == b["rater"] and a["run"] == b["run"] and a["grades"] == b["grades"]):
                raise DataError(f"{b['file']} and {a['file']} are the same grades given twice; give each rater's "
                                "file once", culprit=a["file"])
