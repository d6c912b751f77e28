"""An independent re-creation of MMAD's helper/summary.py ``caculate_accuracy_mmad`` (jam-cc/MMAD), written
from reading its code, used as the oracle the MMAD-compatible score must equal.

What the script does, step by step (``answers`` is the answers file's JSON list):
1. dataset names and question types in order of first appearance over ALL entries (Object Structure and
   Object Details read as Object Analysis); these are the rows and the columns;
2. ``for answer in answers:`` with ``answers.remove(answer)`` for an entry whose correct or model letter is
   not one of A-E: the removal shifts the list under the running loop, so the entry right after each removed
   one is never looked at;
3. per (dataset, type) accuracy = correct / total * 100, or 0 when total is 0;
   Anomaly Detection = (accuracy on images whose key contains "good" + accuracy on the others) / 2, each 0
   when it has no entries;
4. each row's Average = mean of its type columns; the "Average" row = column means over the dataset rows.
"""
from __future__ import annotations

LETTERS = ["A", "B", "C", "D", "E"]


def summary_table(answers: list[dict]) -> dict[str, dict[str, float]]:
    """{row name (datasets, then "Average"): {column (types, then "Average"): value}}, as the script prints."""
    answers = list(answers)
    datasets, types = [], []
    for a in answers:
        ds, qt = a["image"].split("/")[0], _type(a["question_type"])
        if ds not in datasets:
            datasets.append(ds)
        if qt not in types:
            types.append(qt)
    stats = {ds: {qt: [0, 0] for qt in types} for ds in datasets}
    ad = {ds: {"normal": [0, 0], "abnormal": [0, 0]} for ds in datasets}
    for a in answers:                       # the script's loop, removal inside iteration included
        ds, qt = a["image"].split("/")[0], _type(a["question_type"])
        if a["correct_answer"] not in LETTERS or a["gpt_answer"] not in LETTERS:
            answers.remove(a)
            continue
        ok = a["correct_answer"] == a["gpt_answer"]
        stats[ds][qt][0] += 1
        stats[ds][qt][1] += ok
        if qt == "Anomaly Detection":
            side = ad[ds]["normal" if "good" in a["image"] else "abnormal"]
            side[0] += 1
            side[1] += ok
    table: dict[str, dict[str, float]] = {}
    for ds in datasets:
        row = {}
        for qt in types:
            total, correct = stats[ds][qt]
            row[qt] = correct / total * 100 if total else 0.0
            if qt == "Anomaly Detection":
                n_acc = ad[ds]["normal"][1] / ad[ds]["normal"][0] if ad[ds]["normal"][0] else 0
                a_acc = ad[ds]["abnormal"][1] / ad[ds]["abnormal"][0] if ad[ds]["abnormal"][0] else 0
                row[qt] = (n_acc + a_acc) / 2 * 100
        row["Average"] = sum(row[qt] for qt in types) / len(types)
        table[ds] = row
    if datasets:
        table["Average"] = {c: sum(table[ds][c] for ds in datasets) / len(datasets) for c in [*types, "Average"]}
    return table


def _type(t: str) -> str:
    return "Object Analysis" if t in ("Object Structure", "Object Details") else t
