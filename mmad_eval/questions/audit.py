"""Audit a question set for the biases that let a model score without looking at the image.

Counts per dataset x subtask x category; answer-letter distribution with a chi-square test against the
uniform position; duplicate questions and options; how often the longest/shortest option is the answer;
and a blind text-only baseline per subtask (naive Bayes over option features: letter, length rank, option
text, words, overlap with the question, "consensus" with the other options), trained with leave-one-
category-out cross-validation. Works on MMAD's own mmad.json too (nothing here needs our provenance).
"""
from __future__ import annotations

import math
from collections import Counter, defaultdict

from scipy import stats as sstats

from .generate.options import content_words, words
from .model import LETTERS, QuestionSet, subtask_of, split_key

ALPHA = 0.01          # significance level for flags
BLIND_MARGIN = 0.10   # blind accuracy this far above chance (and significant) is flagged


def _plain(text: str) -> str:
    return " ".join(words(text))


def audit(qs: QuestionSet) -> dict:
    by_subtask: dict[str, list] = defaultdict(list)
    counts: dict = defaultdict(lambda: defaultdict(Counter))
    dup_questions, dup_options = [], []
    for entry in qs.entries.values():
        seen = set()
        for q in entry.questions:
            ds, cat = split_key(entry.key)
            counts[ds][q.subtask][cat] += 1
            by_subtask[q.subtask].append(q)
            sig = (q.type, _plain(q.text), tuple(sorted(_plain(t) for t in q.options.values())))
            if sig in seen:
                dup_questions.append(q.qid)
            seen.add(sig)
            texts = [_plain(t) for t in q.options.values()]
            if len(set(texts)) < len(texts):
                dup_options.append(q.qid)
    report = {"images": len(qs.entries), "questions": len(qs),
              "counts": {ds: {st: dict(sorted(c.items())) for st, c in sorted(v.items())}
                         for ds, v in sorted(counts.items())},
              "duplicate_questions": {"count": len(dup_questions), "examples": dup_questions[:10]},
              "duplicate_options": {"count": len(dup_options), "examples": dup_options[:10]},
              "subtasks": {}}
    for st in sorted(by_subtask, key=lambda s: list(_ORDER).index(s) if s in _ORDER else 99):
        qlist = by_subtask[st]
        report["subtasks"][st] = {"questions": len(qlist), "letters": letter_test(qlist),
                                  "length_bias": length_bias(qlist), "blind": blind_baseline(qlist)}
    report["flags"] = _flags(report)
    return report


_ORDER = ("Anomaly Detection", "Defect Classification", "Defect Localization", "Defect Description",
          "Defect Analysis", "Object Classification", "Object Analysis")


def letter_test(qlist) -> dict:
    """Observed answer letters vs the uniform-position expectation (each question spreads 1/n per letter)."""
    observed, expected = Counter(), Counter()
    for q in qlist:
        observed[q.answer] += 1
        for letter in q.options:
            expected[letter] += 1 / len(q.options)
    letters = [L for L in LETTERS if expected[L] > 0]
    obs = [observed[L] for L in letters]
    exp = [expected[L] for L in letters]
    fixed = all(list(q.options.values()) == ["Yes.", "No."] for q in qlist)
    out = {"observed": dict(zip(letters, obs)), "expected": {L: round(e, 1) for L, e in zip(letters, exp)},
           "fixed_yes_no": fixed}
    if len(letters) >= 2 and sum(obs) > 0:
        chi2, p = sstats.chisquare(obs, exp)
        out.update(chi2=round(float(chi2), 2), p=float(p))
        # MMAD's Yes/No order is fixed: there the letter simply follows the normal/defective mix.
        out["flagged"] = bool(p < ALPHA and not fixed)
    return out


def length_bias(qlist) -> dict:
    """How often the (unique) longest / shortest option is the answer, against 1/n (Yes/No left out)."""
    out = {}
    qlist = [q for q in qlist if sorted(q.options.values()) != ["No.", "Yes."]]
    for name, pick in (("longest", max), ("shortest", min)):
        hits = n = 0
        chance = 0.0
        for q in qlist:
            lengths = [len(t) for t in q.options.values()]
            target = pick(lengths)
            if lengths.count(target) != 1:
                continue
            n += 1
            chance += 1 / len(lengths)
            hits += list(q.options)[lengths.index(target)] == q.answer
        if n:
            p = sstats.binomtest(hits, n, chance / n, alternative="greater").pvalue
            out[name] = {"questions": n, "rate": round(hits / n, 4), "chance": round(chance / n, 4), "p": float(p),
                         "flagged": bool(p < ALPHA and hits / n - chance / n > 0.05)}
    return out


# -- blind text-only baseline -----------------------------------------------------------------------
def _option_features(q) -> list[list[str]]:
    texts = list(q.options.values())
    lengths = [len(t) for t in texts]
    bags = [set(content_words(t)) for t in texts]
    qwords = set(content_words(q.text))
    consensus = []
    for i, b in enumerate(bags):
        sims = [len(b & o) / max(1, len(b | o)) for j, o in enumerate(bags) if j != i]
        consensus.append(sum(sims) / max(1, len(sims)))
    feats = []
    for i, (letter, text) in enumerate(q.options.items()):
        rank = "longest" if lengths[i] == max(lengths) else "shortest" if lengths[i] == min(lengths) else "mid"
        f = [f"letter:{letter}/{len(texts)}", f"len:{rank}", f"text:{_plain(text)}",
             f"qoverlap:{bool(bags[i] & qwords)}",
             f"consensus:{'top' if consensus[i] == max(consensus) and consensus.count(max(consensus)) == 1 else '-'}"]
        f += [f"word:{w}" for w in sorted(bags[i])]
        feats.append(f)
    return feats


def blind_baseline(qlist) -> dict:
    """Leave-one-category-out naive Bayes on option text features; accuracy vs chance (AD: balanced)."""
    groups = defaultdict(list)
    for q in qlist:
        groups["/".join(split_key(q.image))].append(q)
    if len(groups) < 2:                                   # one category: 5 folds over images instead
        groups = defaultdict(list)
        for i, q in enumerate(sorted(qlist, key=lambda q: q.qid)):
            groups[f"fold{i % 5}"].append(q)
    data = {g: [(_option_features(q), list(q.options).index(q.answer), q) for q in qs] for g, qs in groups.items()}
    pos, neg, gpos, gneg = Counter(), Counter(), {}, {}
    for g, items in data.items():
        gp, gn = Counter(), Counter()
        for feats, ans, _ in items:
            for i, f in enumerate(feats):
                (gp if i == ans else gn).update(f)
        gpos[g], gneg[g] = gp, gn
        pos.update(gp)
        neg.update(gn)
    n_pos_all = sum(len(v) for v in data.values())
    n_neg_all = sum(len(f) - 1 for items in data.values() for f, _, _ in items)
    correct, chance, normal, abnormal = 0, 0.0, [0, 0], [0, 0]
    for g, items in data.items():
        n_pos = n_pos_all - len(items)
        n_neg = n_neg_all - sum(len(f) - 1 for f, _, _ in items)
        if n_pos <= 0:
            continue
        for feats, ans, q in items:
            scores = []
            for f in feats:
                s = 0.0
                for x in f:
                    cp = pos[x] - gpos[g][x]
                    cn = neg[x] - gneg[g][x]
                    s += math.log((cp + 0.5) / (n_pos + 1)) - math.log((cn + 0.5) / (n_neg + 1))
                scores.append(s)
            hit = scores.index(max(scores)) == ans
            correct += hit
            chance += 1 / len(feats)
            bucket = normal if "good" in q.image else abnormal
            bucket[0] += hit
            bucket[1] += 1
    n = sum(len(v) for v in data.values())
    if not n:
        return {}
    out = {"accuracy": round(correct / n, 4), "chance": round(chance / n, 4), "folds": len(data)}
    if qlist and qlist[0].subtask == "Anomaly Detection" and normal[1] and abnormal[1]:
        out["balanced_accuracy"] = round((normal[0] / normal[1] + abnormal[0] / abnormal[1]) / 2, 4)
        out["chance"] = 0.5
        score = out["balanced_accuracy"]
        out["flagged"] = bool(score - 0.5 > BLIND_MARGIN)
    else:
        p = sstats.binomtest(correct, n, chance / n, alternative="greater").pvalue
        out["p"] = float(p)
        out["flagged"] = bool(p < ALPHA and correct / n - chance / n > BLIND_MARGIN)
    return out


def _flags(report: dict) -> list[str]:
    flags = []
    if report["duplicate_questions"]["count"]:
        flags.append(f"{report['duplicate_questions']['count']} duplicate question(s) within an image")
    if report["duplicate_options"]["count"]:
        flags.append(f"{report['duplicate_options']['count']} question(s) with duplicate options")
    for st, r in report["subtasks"].items():
        if r["letters"].get("flagged"):
            flags.append(f"{st}: answer letters not uniform (chi2 p={r['letters']['p']:.2g})")
        for k, v in r["length_bias"].items():
            if v["flagged"]:
                flags.append(f"{st}: the {k} option is the answer {v['rate']:.0%} of the time (chance {v['chance']:.0%})")
        b = r["blind"]
        if b.get("flagged"):
            acc = b.get("balanced_accuracy", b["accuracy"])
            flags.append(f"{st}: a text-only baseline scores {acc:.1%} (chance {b['chance']:.1%})")
    return flags


def format_audit(report: dict) -> str:
    lines = [f"{report['images']} images, {report['questions']} questions", "", "Questions per dataset x subtask:"]
    subtasks = [s for s in _ORDER if any(s in v for v in report["counts"].values())]
    short = {"Anomaly Detection": "AD", "Defect Classification": "DC", "Defect Localization": "DL",
             "Defect Description": "DD", "Defect Analysis": "DA", "Object Classification": "OC",
             "Object Analysis": "OA"}
    width = max([len(d) for d in report["counts"]] + [7])
    lines.append(f"  {'dataset':<{width}} " + " ".join(f"{short[s]:>7}" for s in subtasks) + "  categories")
    for ds, per in report["counts"].items():
        cats = {c for v in per.values() for c in v}
        lines.append(f"  {ds:<{width}} " + " ".join(f"{sum(per.get(s, {}).values()):>7}" for s in subtasks)
                     + f"  {len(cats):>10}")
    lines += ["", f"  {'subtask':<22} {'letters (observed)':<30} {'chi2 p':>8} {'longest=ans':>12} "
                  f"{'blind':>7} {'chance':>7}"]
    for st, r in report["subtasks"].items():
        let = r["letters"]
        obs = " ".join(f"{k}:{v}" for k, v in let["observed"].items())
        p = f"{let['p']:.2g}" if "p" in let else "-"
        if let.get("fixed_yes_no"):
            p += "*"
        lb = r["length_bias"].get("longest")
        lbs = f"{lb['rate']:.0%}/{lb['chance']:.0%}" if lb else "-"
        b = r["blind"]
        acc = b.get("balanced_accuracy", b.get("accuracy"))
        accs = f"{acc:.1%}" if acc is not None else "-"
        chance = f"{b['chance']:.1%}" if b else "-"
        lines.append(f"  {st:<22} {obs:<30} {p:>8} {lbs:>12} {accs:>7} {chance:>7}")
    lines.append("  (* fixed 'A. Yes. / B. No.' order: the letter follows the normal/defective mix; "
                 "blind AD is balanced accuracy)")
    lines.append(f"\nDuplicate questions: {report['duplicate_questions']['count']}; questions with duplicate "
                 f"options: {report['duplicate_options']['count']}")
    lines.append("\nFlags:" if report["flags"] else "\nNo flags.")
    lines += [f"  - {f}" for f in report["flags"]]
    return "\n".join(lines)
