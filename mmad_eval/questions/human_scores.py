"""Score human raters' answer files (from a rating sheet) against the question file.

Per rater and pooled: accuracy per subtask with a 95 % Wilson interval and the Average of the subtask
columns (MMAD's human-expert row has this shape); a question left without a choice counts as wrong.
Agreement between raters on the questions all of them saw: Fleiss' kappa (any number of raters) and
Cohen's kappa per pair, over the chosen letters. Questions ticked "no single right answer" are listed
with how many raters ticked them.
"""
from __future__ import annotations

import hashlib
import math
import re
from collections import Counter, defaultdict
from pathlib import Path

from ..errors import DataError, quote
from ..inputfile import parse_json, read_input
from .model import SUBTASK_SHORT, SUBTASKS, QuestionSet
from .rating_sheet import FORMAT


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return 0.0, 0.0
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return max(0.0, c - h), min(1.0, c + h)


def load_ratings(path: Path, qs: QuestionSet) -> dict:
    """One rater's answers file, checked against the question set and the sheet it was downloaded from: the
    question file's hash and the sheet's sample (its questions, which must be the sheet's own draw) are the
    sheet's identity. Every question of the sample counts; one left without an answer counts as wrong."""
    raw = read_input(path, "answer file")
    data = parse_json(raw, str(path))
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("answers"), list):
        raise DataError(f"not a rating-sheet answer file (expected format {FORMAT})", culprit=str(path))
    if not isinstance(data.get("questions_sha256"), str) or not data["questions_sha256"]:
        raise DataError("the answer file does not say which question file its sheet was drawn from "
                        "(no questions_sha256): it was not downloaded from a rating sheet", culprit=str(path))
    if qs.sha256 and data["questions_sha256"] != qs.sha256:
        raise DataError("the answers were given on a sheet of another question file (SHA-256 differs)",
                        culprit=str(path))
    known = {q.qid: q for q in qs.questions()}
    sample = _sample(data, qs, known, str(path))
    answers = {qid: {"choice": None, "unanswerable": False} for qid in sample}
    given = set()
    for i, a in enumerate(data["answers"]):
        where = f"{path}: answers[{i}]"
        qid = a.get("qid") if isinstance(a, dict) else None
        if not isinstance(qid, str):
            raise DataError(f"each answer needs a question id 'qid' (text), got {quote(qid)}", culprit=where)
        if qid not in answers:
            raise DataError(f"answer for a question that is not on the sheet: {quote(qid)}", culprit=where)
        if qid in given:
            raise DataError(f"{quote(qid)} is answered twice", culprit=where)
        given.add(qid)
        choice = a.get("choice")
        if choice is not None and (not isinstance(choice, str) or choice not in known[qid].options):
            raise DataError(f"{qid}: choice {quote(choice)} is not an option", culprit=where)
        answers[qid] = {"choice": choice, "unanswerable": a.get("unanswerable") is True}
    rater = data.get("rater") if isinstance(data.get("rater"), str) and data["rater"].strip() else Path(path).stem
    return {"rater": rater, "file": str(path), "answers": answers, "sha256": hashlib.sha256(raw).hexdigest()}


_SHEET_ID = re.compile(r"[0-9a-f]{1,64}-n(\d{1,9})-seed(-?\d{1,19})")   # rating_sheet.render_sheet's id


def _sample(data: dict, qs: QuestionSet, known: dict, where: str) -> list[str]:
    """The questions of the sheet the answers were given on: its ``sample`` (checked against its draw when
    the file says how it was drawn), or, for files of older sheets, the draw its ``sheet`` id names."""
    from .rating_sheet import draw

    sample, seed, strata = data.get("sample"), data.get("seed"), data.get("strata")
    if sample is None:
        m = _SHEET_ID.fullmatch(str(data.get("sheet") or ""))
        if m is None:
            raise DataError("the answer file does not name its sheet's questions (no 'sample', no sheet id): it "
                            "was not downloaded from a rating sheet", culprit=where)
        answered = {a.get("qid") for a in data["answers"] if isinstance(a, dict) and isinstance(a.get("qid"), str)}
        for strata in ("proportional", "equal"):
            sample = [q.qid for q in draw(qs, int(m.group(1)), int(m.group(2)), strata)]
            if answered <= set(sample):
                return sample
        raise DataError(f"the answers are not those of sheet {data['sheet']!r} (another draw?)", culprit=where)
    if not isinstance(sample, list) or not sample or not all(isinstance(q, str) for q in sample) \
            or len(set(sample)) != len(sample):
        raise DataError("'sample' must list the sheet's question ids (text, each once)", culprit=where)
    unknown = next((q for q in sample if q not in known), None)
    if unknown is not None:
        raise DataError(f"the sheet's sample names a question not in the question file: {quote(unknown)}",
                        culprit=where)
    if not isinstance(seed, int) or isinstance(seed, bool) or strata not in ("proportional", "equal"):
        raise DataError(f"the answer file does not say how its sheet's sample was drawn (seed {quote(seed)}, "
                        f"strata {quote(strata)}): it was not downloaded from a rating sheet", culprit=where)
    m = _SHEET_ID.fullmatch(str(data.get("sheet") or ""))
    if (m and (int(m.group(1)), int(m.group(2))) != (len(sample), seed)) or \
            {q.qid for q in draw(qs, len(sample), seed, strata)} != set(sample):
        raise DataError(f"the sheet's sample is not its own draw ({len(sample)} questions, seed {seed}, "
                        f"{strata}): the file was edited or pieced together from several sheets", culprit=where)
    return sample


def _refuse_duplicates(raters: list[dict]) -> None:
    """The same answers given twice would count as two raters in perfect agreement: one line naming both."""
    for i, a in enumerate(raters):
        for b in raters[:i]:
            same_file = Path(a["file"]).resolve() == Path(b["file"]).resolve() or a["sha256"] == b["sha256"]
            if same_file or (a["rater"] == b["rater"] and a["answers"] == b["answers"]):
                raise DataError(f"{b['file']} and {a['file']} are the same answers"
                                f"{' file' if same_file else ' (same rater, same choices)'}, given twice; give "
                                "each rater's file once", culprit=a["file"])


def _row(items: list[tuple[str, bool]]) -> dict:
    """items: (subtask, correct) -> per-subtask accuracy % with CI, and the Average of the columns."""
    per = defaultdict(lambda: [0, 0])
    for st, ok in items:
        per[st][0] += ok
        per[st][1] += 1
    cells = {}
    for st in SUBTASKS:
        if st in per:
            k, n = per[st]
            lo, hi = wilson(k, n)
            cells[st] = {"accuracy": round(100 * k / n, 2), "ci95": [round(100 * lo, 2), round(100 * hi, 2)],
                         "n": n, "correct": k}
    avg = sum(c["accuracy"] for c in cells.values()) / len(cells) if cells else None
    return {"subtasks": cells, "Average": round(avg, 2) if avg is not None else None}


def fleiss_kappa(table: list[Counter], categories: list[str]) -> float | None:
    """Fleiss' kappa for items each rated by the same number (>= 2) of raters."""
    if not table:
        return None
    n = sum(table[0].values())
    if n < 2:
        return None
    big_n = len(table)
    p_j = {c: sum(row[c] for row in table) / (big_n * n) for c in categories}
    p_i = [(sum(v * v for v in row.values()) - n) / (n * (n - 1)) for row in table]
    p_bar, p_e = sum(p_i) / big_n, sum(v * v for v in p_j.values())
    return None if p_e >= 1 else round((p_bar - p_e) / (1 - p_e), 4)


def cohen_kappa(a: list[str], b: list[str]) -> float | None:
    if not a:
        return None
    po = sum(x == y for x, y in zip(a, b)) / len(a)
    ca, cb = Counter(a), Counter(b)
    pe = sum(ca[c] * cb[c] for c in set(ca) | set(cb)) / (len(a) ** 2)
    return None if pe >= 1 else round((po - pe) / (1 - pe), 4)


def score_raters(qs: QuestionSet, files: list[Path]) -> dict:
    raters = [load_ratings(f, qs) for f in files]
    _refuse_duplicates(raters)
    known = {q.qid: q for q in qs.questions()}
    rows, pooled = [], []
    for r in raters:
        items = [(known[qid].subtask, a["choice"] == known[qid].answer) for qid, a in r["answers"].items()]
        pooled += items
        rows.append({"rater": r["rater"], "file": r["file"], **_row(items),
                     "unanswered": sum(1 for a in r["answers"].values() if not a["choice"])})
    common = sorted(set.intersection(*(set(r["answers"]) for r in raters))) if raters else []
    choice = lambda r, qid: r["answers"][qid]["choice"] or "-"  # noqa: E731
    cats = sorted({choice(r, q) for r in raters for q in common})
    table = [Counter(choice(r, qid) for r in raters) for qid in common]
    pairs = {f"{a['rater']} / {b['rater']}": cohen_kappa([choice(a, q) for q in common], [choice(b, q) for q in common])
             for i, a in enumerate(raters) for b in raters[i + 1:]}
    flags = Counter(qid for r in raters for qid, a in r["answers"].items() if a["unanswerable"])
    return {"raters": rows, "human": {"name": "human", **_row(pooled), "raters": len(raters)},
            "agreement": {"questions": len(common), "fleiss_kappa": fleiss_kappa(table, cats) if len(raters) > 1 else None,
                          "cohen_kappa": pairs,
                          "all_agree": sum(1 for row in table if len(row) == 1)},
            "unanswerable": [{"qid": q, "raters": n, "type": known[q].type, "options": known[q].options,
                              "answer": known[q].answer} for q, n in flags.most_common()]}


def format_human(rep: dict) -> str:
    cols = [s for s in SUBTASKS if any(s in r["subtasks"] for r in rep["raters"])]
    head = f"{'rater':<16}" + "".join(f"{SUBTASK_SHORT[s]:>16}" for s in cols) + f"{'Avg':>8}"
    lines = [head, "-" * len(head)]

    def line(name, row):
        cells = "".join(f"{c['accuracy']:6.1f} [{c['ci95'][0]:4.0f},{c['ci95'][1]:4.0f}]" if (c := row["subtasks"].get(s))
                        else f"{'-':>16}" for s in cols)
        return f"{name:<16}" + cells + (f"{row['Average']:8.2f}" if row["Average"] is not None else f"{'-':>8}")

    for r in rep["raters"]:
        lines.append(line(r["rater"][:16], r))
    lines.append(line(f"human ({rep['human']['raters']})", rep["human"]))
    ag = rep["agreement"]
    lines.append(f"\nagreement on {ag['questions']} questions all raters saw: all agree on {ag['all_agree']}; "
                 f"Fleiss' kappa {ag['fleiss_kappa'] if ag['fleiss_kappa'] is not None else '-'}; Cohen's kappa "
                 + (", ".join(f"{k} {v}" for k, v in ag["cohen_kappa"].items()) or "-"))
    lines.append(f"flagged 'no single right answer': {len(rep['unanswerable'])} question(s)")
    for u in rep["unanswerable"][:20]:
        lines.append(f"  {u['qid']} ({u['type']}, {u['raters']} rater(s))")
    return "\n".join(lines)

