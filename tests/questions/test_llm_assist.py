"""LLM rephrasing through a scripted backend: good rewrites are taken, bad ones rejected with a reason."""
import asyncio
import json

from qgen_fixtures import knowledge
from mmad_eval.backends.base import Backend, GenerationSettings, Response
from mmad_eval.prompt.images import ImageRegistry
from mmad_eval.questions.generate import GenerateSettings, generate_questions
from mmad_eval.questions.llm_assist import rephrase, validate


class Scripted(Backend):
    kind = "scripted"
    sees_images = False

    def __init__(self, script):
        super().__init__("scripted", GenerationSettings(), ImageRegistry())
        self.script, self.seen = script, []

    async def generate(self, items, emit):
        for key, request in items:
            self.seen.append(request)
            emit(self.script(key, request))


def reply(q, **change):
    data = {"question": "There is a defect in the object. Which defect type is it?", "options": dict(q.options),
            "answer": q.answer}
    data.update(change)
    return "```json\n" + json.dumps(data) + "\n```"


def a_question(small_source, qtype="Defect Classification", name="tl_blob"):
    qs = generate_questions(small_source, knowledge(), GenerateSettings(similar="none")).questions
    entry = next(e for k, e in qs.entries.items() if name in k)
    return qs, next(q for q in entry.questions if q.type == qtype)


def test_validate_accepts_faithful_rewrite(small_source):
    _, q = a_question(small_source)
    new, reason = validate(q, reply(q))
    assert reason == "ok" and new.text.endswith("Which defect type is it?")
    assert new.answer == q.answer and new.provenance["rephrased"]
    assert new.provenance["rule_text"]["question"] == q.text


def test_validate_rejections(small_source):
    _, q = a_question(small_source)
    other = next(L for L in q.options if L != q.answer)
    swapped = dict(q.options)
    swapped[q.answer], swapped[other] = swapped[other], swapped[q.answer]
    dup = dict(q.options)
    dup[other] = dup[q.answer]
    cases = {
        "not json at all": "unparseable",
        reply(q, answer=other): "answer letter moved",
        reply(q, options=swapped): "lost the key words",
        reply(q, options=dup): "not distinct",
        reply(q, options={k: v for k, v in list(q.options.items())[:-1]}): "option letters changed",
        reply(q, question="Which type is it?"): "no longer says there is a defect",
        reply(q, question=""): "no question text",
    }
    for text, expected in cases.items():
        new, reason = validate(q, text)
        assert new is None and expected in reason, (expected, reason)


def test_validate_region_words_kept(small_source):
    _, q = a_question(small_source, "Defect Localization")
    opts = dict(q.options)
    opts[q.answer] = "Near the upper edge of the picture."
    new, reason = validate(q, reply(q, question="There is a defect in the object. Where is it?", options=opts))
    assert new is None and "key words" in reason
    opts[q.answer] = "In the top left corner of the picture."
    new, reason = validate(q, reply(q, question="There is a defect in the object. Where is it?", options=opts))
    assert reason == "ok"


def test_rephrase_end_to_end_with_scripted_backend(small_source):
    qs, _ = a_question(small_source)
    by_qid = {q.qid: q for q in qs.questions()}
    calls = []

    def script(key, request):
        calls.append(key)
        q = by_qid[key]
        if q.type == "Defect Classification":
            return Response(key=key, text=reply(q))
        if q.type == "Defect Analysis":
            return Response(key=key, text="I cannot help with that.")
        if q.type == "Object Classification":
            return Response(key=key, error_type="server_error", error_message="boom")
        return Response(key=key, text=json.dumps({"question": q.text, "options": q.options, "answer": q.answer}))

    backend = Scripted(script)
    log = []
    stats = asyncio.run(rephrase(qs, backend, log=log))
    n_ad = sum(q.type == "Anomaly Detection" for q in by_qid.values())
    assert len(calls) == len(by_qid) - n_ad                      # Yes/No questions are not sent
    n_dc = sum(q.type == "Defect Classification" for q in by_qid.values())
    n_bad = sum(q.type in ("Defect Analysis", "Object Classification") for q in by_qid.values())
    assert stats["rejected"] == n_bad and stats["accepted"] == len(calls) - n_bad
    after = {q.qid: q for q in qs.questions()}
    dc = [q for q in after.values() if q.type == "Defect Classification"]
    assert len(dc) == n_dc and all(q.text.endswith("Which defect type is it?") for q in dc)
    da = [q for q in after.values() if q.type == "Defect Analysis"]
    assert all(q.text == by_qid[q.qid].text and "rephrased" not in q.provenance for q in da)
    assert {r["reason"].split(":")[0] for r in log if not r["accepted"]} == {"unparseable reply", "backend error"}
    text = backend.seen[0].messages[-1].text
    assert "Correct answer:" in text and "Reply with JSON only" in text
