"""The question browser's data: one compact JSON blob, strings and prompts stored once, images by id.

Layout (all lists, to keep 40,000-question reports small):
  strings:   every distinct text (prompt parts, replies, rules, options, labels)
  prompts:   [[role, [part, ...]], ...] per distinct request; a part is a string index or [image id, role]
  models:    run names
  subtasks, datasets, categories: label lists
  questions: [qid, dataset idx, category idx, subtask idx, answer text idx, per-model list]
             per model: null (not asked) or [all-correct 0/1, [[rotation, prompt idx or -1, answer letter,
             parsed letter or "", rule idx or -1, reply idx or -1, error idx or -1, options idx], ...]]
             Defect Grounding questions (subtask index len(SUBTASKS)) add a 7th item {size, truth, format}
             (true pixel boxes) and a 9th item per record, [predicted pixel boxes or null, mIoU]; "correct"
             there means mIoU >= 0.5.
"""
from __future__ import annotations

import json

from ..questions.grounding import GROUNDING
from ..questions.model import SUBTASKS
from ..run.loaded import LoadedRun
from .grounding import answer_text, browser_extra, truth_payload
from .scrub import display_text, scrub_text
from .thumbs import Thumbnails


class _Interned:
    def __init__(self):
        self.index: dict[str, int] = {}
        self.items: list[str] = []

    def __call__(self, s: str | None) -> int:
        if s is None:
            return -1
        i = self.index.get(s)
        if i is None:
            i = self.index[s] = len(self.items)
            self.items.append(s)
        return i


def browser_blob(runs: list[LoadedRun], thumbs: Thumbnails | None, grounding=None) -> dict:
    strings = _Interned()
    datasets, categories = _Interned(), _Interned()
    prompts: list = []
    prompt_ids: dict[tuple[int, str], int] = {}
    questions: dict[str, list] = {}
    subtask_ix = {s: i for i, s in enumerate([*SUBTASKS, GROUNDING])}   # other types get indices after these

    def prompt_of(m: int, run: LoadedRun, key: str) -> int:
        content = run.prompts.get(key)
        if not key or content is None:
            return -1
        pid = prompt_ids.get((m, key))
        if pid is None:
            msgs = []
            for msg in content:
                parts = []
                for p in msg.get("parts", []):
                    if "text" in p:
                        parts.append(strings(p["text"]))
                    elif "image" in p:
                        iid = thumbs.ref(p["image"], run.image_bytes) if thumbs is not None else -1
                        parts.append([iid, strings(p.get("role", "image"))])
                parts += [strings(text) for text in agent_texts(msg)]
                msgs.append([strings(msg.get("role", "user")), parts])
            pid = prompt_ids[(m, key)] = len(prompts)
            prompts.append(msgs)
        return pid

    for m, run in enumerate(runs):
        for a in [*run.answers, *run.other_types]:
            q = questions.get(a.qid)
            if q is None:
                st = subtask_ix.setdefault(a.subtask, len(subtask_ix))
                q = questions[a.qid] = [a.qid, datasets(a.dataset), categories(a.category), st, -1,
                                        [None] * len(runs)]
            slot = q[5][m]
            if slot is None:
                slot = q[5][m] = [1, []]
            if a.rotation == 0 and q[4] < 0:
                q[4] = strings(f"{a.answer}. {a.options.get(a.answer, '')}")
            slot[0] &= int(a.correct)
            slot[1].append([a.rotation, prompt_of(m, run, a.request_key), a.answer, a.parsed or "",
                            strings(rule_label(a)), strings(display_text(a.reply)),
                            strings(display_text(scrub_text(a.error))) if a.error else -1,
                            strings(json.dumps(a.options, ensure_ascii=False))])
    if grounding is not None:
        _grounding_cards(runs, grounding, questions, strings, prompt_of, datasets, categories)
    for q in questions.values():
        for slot in q[5]:
            if slot:
                slot[1].sort(key=lambda r: r[0])
    return {"strings": strings.items, "prompts": prompts, "models": [r.name for r in runs],
            "subtasks": list(subtask_ix), "datasets": datasets.items, "categories": categories.items,
            "questions": list(questions.values())}


def _grounding_cards(runs, grounding, questions, strings, prompt_of, datasets, categories) -> None:
    """Browser entries of the grounding answers (``grounding``: a :class:`.grounding.GroundingReport`)."""
    for m, run in enumerate(runs):
        scored = grounding.images.get(run.name, {})
        for a in run.grounding:
            image = scored.get(a.qid)
            if image is None:
                continue
            q = questions.get(a.qid)
            if q is None:
                q = questions[a.qid] = [a.qid, datasets(a.dataset), categories(a.category), len(SUBTASKS),
                                        strings(answer_text(image)), [None] * len(runs), truth_payload(image)]
            slot = q[5][m]
            if slot is None:
                slot = q[5][m] = [1, []]
            slot[0] &= int(image.miou >= 0.5)
            slot[1].append([a.rotation, prompt_of(m, run, a.request_key), "", "", strings(a.rule),
                            strings(display_text(a.reply)),
                            strings(display_text(scrub_text(a.error))) if a.error else -1, strings("{}"),
                            browser_extra(image)])


SHOWN_CALLS, SHOWN_ARGUMENTS = 16, 300     # a runaway reply's calls, shortened in the page


def agent_texts(msg: dict) -> list[str]:
    """Agent mode's turns as text in the browser: an assistant's tool calls, the tools a request offered."""
    calls = [c for c in msg.get("tool_calls") or [] if isinstance(c, dict)]
    out = [f"calls {str(c.get('name'))[:80]}({display_text(str(c.get('arguments')), SHOWN_ARGUMENTS)})" for c in calls[:SHOWN_CALLS]]
    if len(calls) > SHOWN_CALLS:
        out.append(f"... and {len(calls) - SHOWN_CALLS} more calls ({len(calls)} in this reply)")
    if msg.get("tools"):
        out.append("tools offered: " + ", ".join(map(str, msg["tools"])))
    return out


def rule_label(a) -> str | None:
    """The parser rule, with the letter probabilities (and letters outside the returned top-k) when the
    answer carries them, e.g. ``likelihood · A 0.71, B 0.29 · outside top-k: C``."""
    from ..parse.likelihood import letter_distribution

    meta = a.meta or {}
    dist = letter_distribution(meta.get("letter_logprobs"), a.options)
    if not dist:
        return a.rule
    label = f"{a.rule or 'none'} · " + ", ".join(f"{k} {v:.2f}" for k, v in dist.items())
    if meta.get("outside_topk"):
        label += " · outside top-k: " + ", ".join(meta["outside_topk"])
    return label


def script_json(value) -> str:
    """JSON safe inside a ``<script type="application/json">`` element: < > & escaped as \\u003c etc."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return (text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))
