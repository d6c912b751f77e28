"""A self-contained HTML rating sheet: N questions drawn at random (stratified by subtask, seeded), shown
with the images as a 1-shot model sees them (the first random template, then the query), one choice per
question, a "no single right answer" box, and a button that downloads the rater's answers as JSON.

The page holds no answer key: scoring (human_scores.py) reads the question file again.
"""
from __future__ import annotations

import base64
import html
import io
import json
import random
from collections import defaultdict
from pathlib import Path

from PIL import Image

from ..atomic_write import write_text
from ..imageio import load_image
from ..paths import safe_join
from .model import SUBTASKS, QuestionSet

FORMAT = "mmad-eval-ratings/1"


def draw(qs: QuestionSet, n: int, seed: int = 0, strata: str = "proportional") -> list:
    """``n`` questions stratified by subtask, drawn uniformly within each subtask, returned in file order.
    ``strata="proportional"``: each subtask's share follows its size (at least one while n allows, largest
    remainders first); ``"equal"``: the same number per subtask where it has enough (tighter per-subtask
    intervals for the small subtasks), the rest spread over the others."""
    return stratified_draw(list(qs.questions()), n, seed, strata)


def stratified_draw(items: list, n: int, seed: int = 0, strata: str = "proportional") -> list:
    """``draw`` over any items with ``.subtask`` and a unique ``.qid`` (questions, answer records), in their
    given order."""
    by = defaultdict(list)
    for q in items:
        by[q.subtask].append(q)
    subtasks = [s for s in SUBTASKS if by.get(s)] + sorted(s for s in by if s not in SUBTASKS)
    total = sum(len(by[s]) for s in subtasks)
    n = max(0, min(n, total))
    take = _equal(by, subtasks, n) if strata == "equal" else _proportional(by, subtasks, n, total)
    rng = random.Random(seed)
    chosen = set()
    for s in subtasks:
        chosen |= {q.qid for q in rng.sample(by[s], take[s])}
    return [q for q in items if q.qid in chosen]


def _proportional(by, subtasks, n, total) -> dict:
    exact = {s: n * len(by[s]) / total for s in subtasks} if total else {}
    take = {s: min(len(by[s]), int(exact[s])) for s in subtasks}
    for s in sorted(subtasks, key=lambda s: (-(exact[s] - int(exact[s])), subtasks.index(s))):
        if sum(take.values()) >= n:
            break
        if take[s] < len(by[s]):
            take[s] += 1
    return take


def _equal(by, subtasks, n) -> dict:
    take = {s: 0 for s in subtasks}
    while sum(take.values()) < n:
        open_ = [s for s in subtasks if take[s] < len(by[s])]
        for s in sorted(open_, key=lambda s: (take[s], subtasks.index(s)))[: n - sum(take.values())]:
            take[s] += 1
    return take


def image_uri(path: Path, max_side: int | None) -> str:
    """The image as a JPEG data URL, shrunk to ``max_side``; a missing, broken or too large image (over the
    pixel limit: never decoded) is one DataError naming the file."""
    img = load_image(path, mode="RGB")
    if max_side and max(img.size) > max_side:
        img.thumbnail((max_side, max_side), Image.BICUBIC)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


_CSS = """body{font:15px/1.4 system-ui,sans-serif;margin:1.5em auto;max-width:1000px;padding:0 1em;color:#222}
.q{border:1px solid #ccc;border-radius:6px;padding:.8em 1em;margin:1em 0}.imgs{display:flex;gap:1em;flex-wrap:wrap}
figure{margin:0}figure img{max-width:420px;height:auto;border:1px solid #999}figcaption{font-size:12px;color:#555}
label{display:block;margin:.2em 0;cursor:pointer}.flag{margin-top:.5em;color:#8a2b00}.meta{color:#666;font-size:12px}
#bar{position:sticky;top:0;background:#fff;padding:.5em 0;border-bottom:1px solid #ddd}"""

_JS = """
function sheetAnswers() {
  var out = [];
  document.querySelectorAll(".q").forEach(function (card) {
    var picked = card.querySelector("input[type=radio]:checked");
    out.push({qid: card.getAttribute("data-qid"), choice: picked ? picked.value : null,
              unanswerable: card.querySelector("input.flag-box").checked});
  });
  return {format: SHEET.format, sheet: SHEET.id, questions_sha256: SHEET.sha256, seed: SHEET.seed,
          strata: SHEET.strata, sample: SHEET.sample, rater: document.getElementById("rater").value.trim(),
          answers: out};
}
function updateCount() {
  var a = sheetAnswers().answers, done = a.filter(function (x) { return x.choice || x.unanswerable; }).length;
  document.getElementById("count").textContent = done + " of " + a.length + " answered";
}
"""
_DOWNLOAD_JS = (Path(__file__).parent / "sheet_download.js").read_text(encoding="utf-8")


def sheet_head(title: str, css: str, identity: dict, own_js: str, file_prefix: str) -> str:
    """A sheet's <head>: its styles, its identity as ``SHEET``, its own ``sheetAnswers()``/``updateCount()``
    and the shared download code (``sheet_download.js``: the file downloads as ``<file_prefix>-<rater>.json``)."""
    meta = json.dumps(identity).replace("</", "<\\/")
    return (f'<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f'<style>{css}</style><script>var SHEET = {meta};{own_js}var FILE_PREFIX = {json.dumps(file_prefix)};\n'
            f'{_DOWNLOAD_JS}</script></head>')


def download_bar(button: str) -> str:
    """The sticky bar with the rater's name, the download button and the answered count."""
    return (f'<div id="bar">Your name or initials: <input id="rater" size="12"> <button id="download" '
            f'onclick="downloadAnswers()">{html.escape(button)}</button> <span id="count"></span></div>')


def render_sheet(qs: QuestionSet, questions: list, root: Path, *, seed: int, max_side: int | None,
                 strata: str = "proportional") -> str:
    e = html.escape
    sheet_id = f"{qs.sha256[:16]}-n{len(questions)}-seed{seed}"
    cards = []
    for i, q in enumerate(questions, 1):
        entry = qs.entries[q.image]
        figs = []
        if entry.random_templates:
            figs.append(("Normal reference", image_uri(safe_join(root, entry.random_templates[0],
                                                                 what="template path"), max_side)))
        figs.append(("Query image", image_uri(safe_join(root, q.image, what="image path"), max_side)))
        opts = "".join(f'<label><input type="radio" name="q{i}" value="{e(L)}"> {e(L)}. {e(t)}</label>'
                       for L, t in q.options.items())
        imgs = "".join(f'<figure><img src="{src}" alt="{e(cap)}"><figcaption>{e(cap)}</figcaption></figure>'
                       for cap, src in figs)
        cards.append(f'<div class="q" data-qid="{e(q.qid)}"><div class="meta">{i}. {e(q.subtask)}</div>'
                     f'<div class="imgs">{imgs}</div><p><b>{e(q.text)}</b></p>{opts}'
                     f'<label class="flag"><input type="checkbox" class="flag-box"> This question has no single '
                     f'right answer</label></div>')
    # the sheet's identity, carried into every answers file: question file, draw, and the questions drawn
    identity = {"format": FORMAT, "id": sheet_id, "sha256": qs.sha256, "seed": seed, "strata": strata,
                "sample": [q.qid for q in questions]}
    return (sheet_head(f"Rating sheet {sheet_id}", _CSS, identity, _JS, "ratings") + '<body>'
            f'<h1>Rating sheet</h1><p>Each question shows a normal reference image first, then the query '
            f'image. Choose the one option you find right. If no option, or more than one, is right, tick '
            f'"This question has no single right answer" (choose the best option anyway if you can). When '
            f'done, press "Download answers" and send the file back.</p>'
            + download_bar("Download answers") +
            f'{"".join(cards)}</body></html>\n')


def write_sheet(qs: QuestionSet, root: Path, out: Path, n: int, *, seed: int = 0,
                max_side: int | None = 512, strata: str = "proportional") -> dict:
    questions = draw(qs, n, seed, strata)
    write_text(out, render_sheet(qs, questions, Path(root), seed=seed, max_side=max_side,
                                             strata=strata))
    per = defaultdict(int)
    for q in questions:
        per[q.subtask] += 1
    return {"questions": len(questions), "per_subtask": ", ".join(f"{s}: {k}" for s, k in per.items())}
