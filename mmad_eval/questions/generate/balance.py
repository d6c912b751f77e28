"""Corpus-level balancing: what a per-image rule cannot see is the set's prior, which a text-only model
learns (defects sit near the centre, are small and dark). After every draft is made, build.py calls this
pass to even the priors out over the whole set, deterministically from the seed.

- Defect Localization: every region phrase should be offered as a distractor about three times as often
  as it is the answer (the 1:3 ratio of answers to distractors in a four-option question), so that neither
  the phrase, nor its form (cell, pair, line, "in several places"), nor its length tells which option is
  right. Distractors are drawn among the phrases that are wrong for the mask (regions it never touches),
  weighted by each phrase's remaining deficit; questions with the fewest wrong phrases go first.
- Defect Description: all distractors change the same attribute (else the answer would be the
  "consensus" of the options) and the options show every value of it, so the one blind signal is how often
  each value is the answer among the questions varying that attribute. The varied attribute is chosen per
  image (local search from the seeded draw) so those counts are as even as the set allows; a question
  whose value would still be the answer more than ``MAX_SHARE`` of the time (give or take two questions)
  is left out and logged.
"""
from __future__ import annotations

from collections import Counter

from .options import Draft, rng_for

N_DISTRACTORS = 3
SLACK = 1.2             # Defect Localization: answer uses of a phrase may reach SLACK/3 of its wrong uses
MAX_SHARE = 0.30        # Defect Description: most often a value may be the answer among its group,
SMALL_SET_SLACK = 2     # give or take this many questions (a handful of images cannot be even)


def balance_localization(items: list[tuple[str, Draft]], seed: int) -> set[str]:
    """Redraw the distractors of Defect Localization drafts ``(image key, draft)`` in place; returns the
    image keys whose question is left out because its answer phrase can be a distractor too rarely."""
    items = [(k, d) for k, d in items if d.pool and d.pool.get("free")]
    dropped = _over_answered(items, seed)
    items = [(k, d) for k, d in items if k not in dropped]
    if not items:
        return dropped
    answers, slots, n = Counter(), Counter(), Counter()
    for key, d in items:
        for scope in (None, _category(key)):
            answers[scope, d.correct] += 1
            slots[scope] += min(N_DISTRACTORS, len(d.pool["free"]))
            n[scope] += 1
    used: Counter = Counter()

    def deficit(cat, p):
        """Missing distractor uses of ``p`` in the image's category and over the set (the category term
        keeps the set closer to balanced when any one category is left out)."""
        return [answers[s, p] * slots[s] / n[s] - used[s, p] for s in (cat, None)]

    def order(item):
        key, d = item
        return len(d.pool["free"]), rng_for(seed, key, "localization#order").random()

    for key, d in sorted(items, key=order):
        rng = rng_for(seed, key, "localization#balance")
        cat = _category(key)
        free = list(d.pool["free"])
        chosen: list[str] = []
        while free and len(chosen) < N_DISTRACTORS:
            need = [deficit(cat, p) for p in free]
            positive = [(p, sum(max(0.0, x) for x in w)) for p, w in zip(free, need)]
            positive = [(p, w) for p, w in positive if w > 0]
            if positive:                              # weighted by the deficit in the category plus the set's
                pick = _weighted(positive, rng)
            else:                                     # every wrong phrase already over-used: the least so
                best = max(sum(w) for w in need)
                pick = rng.choice([p for p, w in zip(free, need) if sum(w) == best])
            free.remove(pick)
            chosen.append(pick)
            used[cat, pick] += 1
            used[None, pick] += 1
        d.distractors = chosen
    return dropped


def _over_answered(items: list[tuple[str, Draft]], seed: int) -> set[str]:
    """Keys to leave out so that no phrase is the answer more than a third of the times it could be a
    distractor (e.g. "center" when most defects cover the middle): else it would win blind."""
    order = sorted(items, key=lambda it: rng_for(seed, it[0], "localization#drop").random())
    dropped: set[str] = set()
    while True:
        live = [(k, d) for k, d in order if k not in dropped]
        answers = Counter(d.correct for _, d in live)
        room = Counter(p for _, d in live for p in d.pool["free"])
        over = {p: a - (room[p] * SLACK) // N_DISTRACTORS for p, a in answers.items()
                if a > (room[p] * SLACK) // N_DISTRACTORS + 1}
        if not over:
            return dropped
        p = max(sorted(over), key=lambda x: over[x])
        dropped.add(next(k for k, d in reversed(live) if d.correct == p))


def _category(key: str) -> str:
    return "/".join(key.split("/")[:2])


def _weighted(pairs: list[tuple[str, float]], rng) -> str:
    r, acc = rng.random() * sum(w for _, w in pairs), 0.0
    for p, w in pairs:
        acc += w
        if r < acc:
            return p
    return pairs[-1][0]


def balance_description(items: list[tuple[str, Draft]], seed: int, rebuild) -> set[str]:
    """Re-choose the varied attribute of Defect Description drafts; returns the image keys whose question
    is left out because its values cannot be balanced. ``rebuild(draft, varied)`` returns the new draft;
    drafts are replaced in ``items`` in place."""
    from .description import VALUES

    live = [i for i, (_, d) in enumerate(items) if d.pool]
    attrs = {i: items[i][1].pool["attrs"] for i in live}
    group = {i: items[i][1].details["varied"] for i in live}
    counts = {a: Counter() for a in VALUES}
    for i in live:
        counts[group[i]][attrs[i][group[i]]] += 1
    order = sorted(live, key=lambda i: rng_for(seed, items[i][0], "description#order").random())
    for _ in range(20):                              # move to the group where the value is rarest
        moved = False
        for i in order:
            a = group[i]
            here = counts[a][attrs[i][a]] - 1
            best = min((counts[b][attrs[i][b]] + (b != a) - 1, b) for b in VALUES if attrs[i][b])
            if best[0] < here:
                counts[a][attrs[i][a]] -= 1
                b = best[1]
                counts[b][attrs[i][b]] += 1
                group[i] = b
                moved = True
        if not moved:
            break
    dropped: set[int] = set()
    for a, c in counts.items():
        while c and max(c.values()) > MAX_SHARE * sum(c.values()) + SMALL_SET_SLACK:
            v = max(sorted(c), key=lambda x: c[x])
            i = next(i for i in reversed(order) if i not in dropped and group[i] == a and attrs[i][a] == v)
            dropped.add(i)
            c[v] -= 1
    for i in live:
        if i not in dropped and group[i] != items[i][1].details["varied"]:
            items[i] = (items[i][0], rebuild(items[i][1], group[i]))
    return {items[i][0] for i in dropped}
